"""Two people chat live in two browser contexts: unread badge, read receipt, recall, and
a dropped socket that catches up through sync with every message shown exactly once."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import make_contacts, sign_in


def bubble(page, text):
    return page.locator(".msg .bubble", has_text=text)


def test_two_people_chat_live(people, web_server, screens):
    ana = people("+14155550321", "Ana Li")
    ben = people("+14155550322", "Ben Okafor")
    sign_in(ana, web_server, use_dev_banner=True)
    sign_in(ben, web_server, use_dev_banner=True)
    make_contacts(web_server, ana, ben)
    ana.page.get_by_role("link", name="Chats").click()

    # Ben opens a chat from his contacts and writes.
    ben.page.get_by_role("link", name="Contacts").click()
    ben.page.locator(".item.contact", has_text="Ana Li").click()
    ben.page.get_by_role("button", name="Message").click()
    expect(ben.page.get_by_role("heading", name="Ana Li")).to_be_visible()
    ben.page.get_by_label("Write a message").fill("Hi Ana! Lunch at noon?")
    ben.page.get_by_label("Write a message").press("Enter")
    expect(ben.page.locator(".msg.me:not(.pending)", has_text="Lunch at noon")).to_be_visible()

    # Ana's chat list gets it live, with an unread badge on the chat and on the tab.
    row = ana.page.locator("a.conv", has_text="Ben Okafor")
    expect(row).to_contain_text("Lunch at noon?")
    expect(row.locator(".badge")).to_have_text("1")
    expect(ana.page.locator(".tab-badge")).to_have_text("1")
    screens.shot(ana.page, "20-chat-list-unread")

    # She opens it: the badge clears and Ben sees a read receipt.
    row.click()
    expect(bubble(ana.page, "Lunch at noon?")).to_be_visible()
    expect(ana.page.locator(".tab-badge")).to_be_hidden()
    expect(ben.page.locator(".msg.me .meta .read")).to_have_text("Read")

    # Typing shows on the other side.
    ana.page.get_by_label("Write a message").press_sequentially("Yes!")
    expect(ben.page.locator(".typing")).to_have_text("Ana Li is typing…")
    ana.page.get_by_label("Write a message").fill("Yes! See you there")
    ana.page.get_by_role("button", name="Send").click()
    expect(bubble(ben.page, "See you there")).to_be_visible()
    screens.shot(ben.page, "21-conversation")

    # Ben recalls a message sent by mistake; it disappears for Ana too.
    ben.page.get_by_label("Write a message").fill("oops, wrong chat")
    ben.page.get_by_label("Write a message").press("Enter")
    expect(bubble(ana.page, "oops, wrong chat")).to_be_visible()
    # (once the server has acknowledged it: a message still sending cannot be recalled)
    ben.page.locator(".msg.me:not(.pending) .bubble", has_text="oops, wrong chat").dblclick()
    ben.page.get_by_role("button", name="Recall").click()
    expect(ben.page.get_by_text("You recalled a message")).to_be_visible()
    expect(ana.page.get_by_text("Ben Okafor recalled a message")).to_be_visible()
    expect(bubble(ana.page, "oops, wrong chat")).to_have_count(0)

    # Search the chat; a hit jumps to its message.
    ben.page.get_by_role("button", name="Search this chat").click()
    ben.page.get_by_label("Search text").fill("lunch")
    ben.page.locator("dialog").get_by_role("button", name="Search").click()
    hit = ben.page.locator(".search-results .item", has_text="noon")
    expect(hit.locator("mark")).to_have_text(re.compile("lunch", re.I))
    screens.shot(ben.page, "24-search")
    hit.click()
    expect(ben.page.locator(".msg.flash")).to_contain_text("Lunch at noon?")

    # Ana's connection drops; Ben writes meanwhile; when it is back the client syncs and
    # shows each message exactly once.
    ana.context.set_offline(True)
    ana.page.evaluate("window.__plaza.realtime.dropForTest()")
    expect(ana.page.locator(".net")).to_have_attribute(
        "data-state", re.compile("offline|connecting")
    )
    screens.shot(ana.page, "22-offline")
    for text in ["missed one", "missed two", "missed three"]:
        ben.page.get_by_label("Write a message").fill(text)
        ben.page.get_by_label("Write a message").press("Enter")
        expect(ben.page.locator(".msg.me:not(.pending)", has_text=text)).to_be_visible()
    ana.context.set_offline(False)
    expect(ana.page.locator(".net")).to_have_attribute("data-state", "online", timeout=20000)
    for text in ["missed one", "missed two", "missed three"]:
        expect(bubble(ana.page, text)).to_have_count(1)
    ben.page.get_by_label("Write a message").fill("live again")
    ben.page.get_by_label("Write a message").press("Enter")
    expect(bubble(ana.page, "live again")).to_have_count(1)
    seqs = ana.page.eval_on_selector_all(".msg[data-seq]", "els => els.map(e => +e.dataset.seq)")
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), seqs
    screens.shot(ana.page, "23-after-reconnect")
    for person in (ana, ben):
        assert not [e for e in person.console_errors if "Content Security Policy" in e]
