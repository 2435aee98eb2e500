"""The sticker store in a browser: browse, buy a paid pack with the PIN, send a sticker
from it in a chat, and the other person sees the sticker live."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import fund, make_contacts, open_chat_with, sign_in


def test_buy_a_sticker_pack_and_send_a_sticker(people, web_server, screens):
    web_server.manage("seed_demo")
    ana = people("+14155550331", "Ana Li")
    ben = people("+14155550332", "Ben Okafor")
    sign_in(ana, web_server, use_dev_banner=True)
    sign_in(ben, web_server, use_dev_banner=True)
    make_contacts(web_server, ana, ben)
    fund(web_server, ana, amount=1000, pin="246810")

    page = ana.page
    page.get_by_role("link", name="Discover").click()
    page.get_by_role("link", name="Sticker store").click()
    pack = page.locator("a.pack", has_text="Party Cats")
    expect(pack).to_contain_text("$1.99")
    screens.shot(page, "30-store")
    pack.click()
    expect(page.get_by_role("heading", name="Party Cats")).to_be_visible()
    page.get_by_role("button", name="Buy for $1.99").click()
    page.get_by_label("Payment PIN").fill("246810")
    page.get_by_role("button", name="Pay $1.99").click()
    expect(page.locator(".pill.owned")).to_be_visible()
    screens.shot(page, "31-pack-owned")

    # In a chat with Ben, the + tray offers her stickers; she sends one of the new pack.
    open_chat_with(ben, "Ana Li")
    open_chat_with(ana, "Ben Okafor")
    page.get_by_role("button", name="Attach: stickers, photo, voice, money").click()
    page.get_by_role("button", name="Stickers", exact=True).click()
    picks = page.locator(".sticker-pick")
    expect(picks.first).to_be_visible()
    screens.shot(page, "32-sticker-tray")
    # The demo pack "Party Cats" has the cat emoji stickers.
    page.get_by_role("button", name="Send sticker 🐱").click()
    sent = page.locator(".msg.me:not(.pending) .bubble.sticker img")
    expect(sent).to_be_visible()

    got = ben.page.locator(".msg.them .bubble.sticker img")
    expect(got).to_be_visible()
    ben.page.wait_for_function(
        "() => { const i = document.querySelector('.msg.them .bubble.sticker img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    screens.shot(ben.page, "33-sticker-received")
