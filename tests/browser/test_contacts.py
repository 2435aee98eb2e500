"""Two people become contacts through the UI: an add-me link, a friend request, accept."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import sign_in


def test_add_me_link_friend_request_and_accept(people, web_server, screens):
    ana = people("+14155550311", "Ana Li")
    ben = people("+14155550312", "Ben Okafor")
    sign_in(ana, web_server, use_dev_banner=True)
    sign_in(ben, web_server, use_dev_banner=False)

    # Ana's Me screen shows her add-me QR code and link.
    expect(ana.page.get_by_role("img", name="My add-me QR code")).to_be_visible()
    link = ana.page.get_by_label("My add-me link").input_value()
    assert "/add/" in link
    screens.shot(ana.page, "10-me-qr")

    # Ben pastes it into Contacts > Add, sees Ana and asks to add her.
    ben.page.get_by_role("link", name="Contacts").click()
    ben.page.get_by_role("button", name="Add").click()
    ben.page.get_by_label("Add-me link or code").fill(link)
    ben.page.get_by_role("button", name="Open").click()
    expect(ben.page.get_by_text("Ana Li")).to_be_visible()
    screens.shot(ben.page, "11-add-contact")
    ben.page.get_by_role("button", name="Add contact").click()
    expect(ben.page.get_by_role("button", name="Requested")).to_be_visible()

    # Ana's contacts screen gets the request live and she accepts it.
    ana.page.get_by_role("link", name="Contacts").click()
    request = ana.page.locator(".item.request", has_text="Ben Okafor")
    expect(request).to_be_visible()
    screens.shot(ana.page, "12-friend-request")
    request.get_by_role("button", name="Accept").click()
    expect(ana.page.locator(".item.contact", has_text="Ben Okafor")).to_be_visible()

    # Ben's list updates by itself (friend_request.accepted over the socket).
    ben.page.get_by_role("link", name="Contacts").click()
    expect(ben.page.locator(".item.contact", has_text="Ana Li")).to_be_visible()
    screens.shot(ben.page, "13-contacts")
    for person in (ana, ben):
        assert not [e for e in person.console_errors if "Content Security Policy" in e]
