"""Groups in a browser: create one from contacts, show its invite QR, a third person
opens the invite link (signed out, so through sign-in), joins, and everyone chats,
including a photo."""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import expect

from .conftest import make_contacts, sign_in


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), (26, 173, 91)).save(buf, "PNG")
    return buf.getvalue()


def test_create_group_invite_by_qr_link_and_chat(people, web_server, screens):
    ana = people("+14155550361", "Ana Li")
    ben = people("+14155550362", "Ben Okafor")
    sign_in(ana, web_server, use_dev_banner=True)
    sign_in(ben, web_server, use_dev_banner=True)
    make_contacts(web_server, ana, ben)

    page = ana.page
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Chats").click()
    page.get_by_role("link", name="New group chat").click()
    page.get_by_label("Group name").fill("Weekend hikers")
    page.locator("label.item", has_text="Ben Okafor").locator("input").check()
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Weekend hikers")).to_be_visible()

    page.get_by_role("link", name="Chat info").click()
    page.get_by_role("button", name="Show invite QR code").click()
    expect(page.get_by_role("img", name="QR code to join Weekend hikers")).to_be_visible()
    link = page.get_by_label("Invite link").input_value()
    token = re.search(r"/join/([^/?#]+)", link).group(1)
    screens.shot(page, "60-group-invite-qr")
    page.go_back()

    # Cleo is not a contact of anyone; she opens the link signed out.
    cleo = people("+14155550363", "Cleo Park")
    sign_in(cleo, web_server, use_dev_banner=True, path=f"/join/{token}")
    expect(cleo.page.locator(".group-title")).to_have_text("Weekend hikers")
    expect(cleo.page.get_by_text("Invited by Ana Li")).to_be_visible()
    screens.shot(cleo.page, "61-join-preview")
    cleo.page.get_by_role("button", name="Join group").click()
    expect(cleo.page.get_by_role("heading", name="Weekend hikers")).to_be_visible()

    page.get_by_label("Write a message").fill("Welcome Cleo! Saturday 8am?")
    page.get_by_label("Write a message").press("Enter")
    got = cleo.page.locator(".msg.them", has_text="Saturday 8am?")
    expect(got).to_be_visible()
    expect(got.locator(".who")).to_have_text("Ana Li")

    # A photo: upload, then a message that points at it.
    page.get_by_role("button", name="Attach: stickers, photo, voice, money").click()
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "trail.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    for person in (ben, cleo):
        if person is ben:
            person.page.get_by_role("navigation", name="Sections").get_by_role(
                "link", name="Chats"
            ).click()
            person.page.locator("a.conv", has_text="Weekend hikers").click()
        person.page.wait_for_function(
            "() => { const i = document.querySelector('.msg.them .bubble.image img');"
            " return i && i.complete && i.naturalWidth === 120; }"
        )
    screens.shot(cleo.page, "62-group-chat")

    # A voice message from the (synthetic) microphone, recorded as WAV in the page.
    page.get_by_role("button", name="Attach: stickers, photo, voice, money").click()
    page.get_by_role("button", name="Voice", exact=True).click()
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("status").filter(has_text="Recording")).to_be_visible()
    page.wait_for_timeout(1500)  # record about a second and a half of audio
    page.get_by_role("button", name="Stop and send").click()
    voice = cleo.page.locator(".msg.them .bubble.voice")
    expect(voice).to_be_visible()
    expect(voice.locator("audio")).to_have_attribute("src", re.compile(r"/media/"))
    screens.shot(cleo.page, "63-group-voice")
