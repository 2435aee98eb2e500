"""A red packet in a group, in two browsers: one sends it with the PIN, the other opens it
(the coin turns, the amount pops, who got what rises in); the sender takes the last share
and the luckiest is marked."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import api, fund, make_contacts, sign_in


def test_send_and_open_a_red_packet_in_a_group(people, web_server, screens):
    ana = people("+14155550371", "Ana Li")
    ben = people("+14155550372", "Ben Okafor")
    sign_in(ana, web_server, use_dev_banner=True)
    sign_in(ben, web_server, use_dev_banner=True)
    make_contacts(web_server, ana, ben)
    fund(web_server, ana, amount=2000, pin="112233")
    group = api(
        web_server,
        ana,
        "POST",
        "/conversations",
        json={"kind": "group", "title": "Family", "member_ids": [ben.user_id]},
    )
    for person in (ana, ben):
        person.page.goto(f"{web_server.url}/#/c/{group['id']}")
        expect(person.page.get_by_role("heading", name="Family")).to_be_visible()

    page = ana.page
    page.get_by_role("button", name="Attach: stickers, photo, voice, money").click()
    page.get_by_role("button", name="Red packet").click()
    page.get_by_label("Total amount").fill("3.00")
    page.get_by_label("Number of packets").fill("2")
    page.get_by_label("Greeting").fill("Happy new year!")
    page.get_by_label("Payment PIN").fill("112233")
    screens.shot(page, "70-red-packet-send")
    page.get_by_role("button", name="Send red packet").click()
    expect(page.locator(".bubble.red_packet")).to_contain_text("Happy new year!")

    # Ben sees it live and opens it.
    packet = ben.page.locator(".bubble.red_packet", has_text="Happy new year!")
    expect(packet).to_contain_text("0/2 opened")
    packet.click()
    ben.page.get_by_role("button", name="Open", exact=True).click()
    expect(ben.page.locator(".coin")).to_be_visible()
    screens.shot(ben.page, "71-red-packet-opening")
    got = ben.page.locator(".packet-open .got")
    expect(got).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    expect(ben.page.locator(".claims li")).to_have_count(1)
    screens.shot(ben.page, "72-red-packet-opened")
    ben_cents = int(got.inner_text().strip("$").replace(".", ""))
    assert 1 <= ben_cents <= 299
    ben.page.get_by_role("button", name="Close").click()

    # Ana takes the last share: the packet is done, both claims show, the luckiest marked.
    page.locator(".bubble.red_packet").click()
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator(".claims li")).to_have_count(2)
    ana_cents = int(page.locator(".packet-open .got").inner_text().strip("$").replace(".", ""))
    assert ana_cents + ben_cents == 300
    # Exactly one luckiest (a tie goes to the earlier claim).
    expect(page.locator(".claims li.best")).to_have_count(1)
    expect(page.locator(".claims li.best")).to_contain_text("luckiest")
    screens.shot(page, "73-red-packet-who-got-what")


def test_transfer_in_a_direct_chat_and_accept_it(people, web_server, screens):
    ana = people("+14155550381", "Ana Li")
    ben = people("+14155550382", "Ben Okafor")
    sign_in(ana, web_server, use_dev_banner=True)
    sign_in(ben, web_server, use_dev_banner=True)
    make_contacts(web_server, ana, ben)
    fund(web_server, ana, amount=2000, pin="445566")
    chat = api(
        web_server, ana, "POST", "/conversations", json={"kind": "direct", "user_id": ben.user_id}
    )
    for person in (ana, ben):
        person.page.goto(f"{web_server.url}/#/c/{chat['id']}")
        expect(person.page.locator(".composer")).to_be_visible()

    page = ana.page
    page.get_by_role("button", name="Attach: stickers, photo, voice, money").click()
    page.get_by_role("button", name="Transfer").click()
    page.get_by_label("Amount").fill("5.00")
    page.get_by_label("Note").fill("dinner")
    page.get_by_label("Payment PIN").fill("445566")
    page.locator("dialog").get_by_role("button", name="Transfer").click()
    expect(page.locator(".bubble.transfer")).to_contain_text("$5.00")

    bubble = ben.page.locator(".bubble.transfer")
    expect(bubble).to_contain_text("pending")
    bubble.click()
    ben.page.get_by_role("button", name="Accept").click()
    expect(bubble).to_contain_text("accepted")
    expect(page.locator(".bubble.transfer")).to_contain_text("accepted")
    screens.shot(ben.page, "74-transfer-accepted")
    ben.page.get_by_role("navigation", name="Sections").get_by_role("link", name="Wallet").click()
    expect(ben.page.locator(".balance .amount")).to_have_text("$5.00")
