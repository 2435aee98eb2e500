"""The client's shell in a real browser: sign in, profile, live socket, strict CSP."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from .conftest import sign_in


def test_page_is_served_with_a_strict_csp_and_deep_links(web_server):
    for path in ["/", "/join/abc123", "/pay/tok_1", "/u/someone"]:
        r = httpx.get(web_server.url + path, timeout=10)
        assert r.status_code == 200, path
        assert '<script type="module"' in r.text
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # The API's own 404 shape is untouched by the client's routes.
    r = httpx.get(web_server.url + "/api/v1/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "endpoint_not_found"


def test_sign_in_with_dev_banner_sets_name_and_connects(people, web_server, screens):
    ana = people("+14155550301", "Ana")
    page = ana.page
    page.goto(web_server.url + "/")
    screens.shot(page, "01-login")
    sign_in(ana, web_server, use_dev_banner=True)
    screens.shot(page, "02-profile")
    # The socket authenticates (the status pill hides itself once online).
    expect(page.locator(".net")).to_have_attribute("data-state", "online")
    page.get_by_role("link", name="Chats").click()
    expect(page.get_by_role("heading", name="Chats")).to_be_visible()
    screens.shot(page, "03-chats-empty")
    # Reload keeps the session (token in storage) and reconnects.
    page.reload()
    expect(page.locator(".net")).to_have_attribute("data-state", "online")
    # Sign out forgets the token and returns to the login screen.
    page.get_by_role("link", name="Me").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Welcome to Plaza")).to_be_visible()
    assert not [e for e in ana.console_errors if "Content Security Policy" in e], ana.console_errors
