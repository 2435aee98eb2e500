"""The brand console in a browser (issue 11): a marketer signs in, builds a segment, sees
the private estimate, creates an offer and an offer campaign, sends it and sees the
funnel; an analyst sees no send button; another brand's owner gets 404."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

PASSWORD = "console demo pass 1"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def demo(web_server):
    # 300 followers: half in FR, half in DE, so "region FR" clears the default privacy
    # floor (100) and changes the audience by more than the floor (the difference rule).
    out = web_server.manage("console_demo", "--password", PASSWORD, "--followers", "300")
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def desk(chromium):
    contexts = []

    def make():
        ctx = chromium.new_context(viewport=DESKTOP)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def console_sign_in(page, server, phone: str) -> None:
    page.goto(server.url + "/console/")
    expect(page.get_by_role("heading", name="Sign in to your brand")).to_be_visible()
    page.get_by_label("Phone").fill(phone)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_marketer_builds_a_segment_sends_an_offer_campaign_and_sees_the_funnel(
    web_server, demo, desk, screens
):
    base = f"{web_server.url}/console/b/{demo['brand_id']}"
    page = desk()
    console_sign_in(page, web_server, demo["marketer"])
    expect(page.get_by_role("heading", name="Demo Cafe")).to_be_visible()
    expect(page.locator(".tile").first).to_contain_text("300")
    screens.shot(page, "60-console-dashboard")
    # Readable on a tablet: nothing wider than the screen.
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screens.shot(page, "60-console-dashboard-tablet")
    page.set_viewport_size(DESKTOP)

    page.get_by_role("link", name="Audiences").click()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name").fill("France")
    page.get_by_label("condition 1").select_option("region")
    page.get_by_label("value 1").fill("FR")
    page.get_by_role("button", name="Estimate size").click()
    expect(page.locator("#estimate")).to_have_text("≈ 100")
    screens.shot(page, "61-console-segment")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_text("Saved segment “France”.")).to_be_visible()

    page.get_by_role("link", name="Offers & sales").click()
    page.get_by_label("Title").fill("Free croissant")
    page.get_by_label("Kind").select_option("amount")
    page.get_by_label("Amount off").fill("1.50")
    page.get_by_role("button", name="Create offer").click()
    expect(page.get_by_role("cell", name="Free croissant")).to_be_visible()

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Croissant week")
    page.get_by_label("Kind").select_option("offer")
    page.get_by_label("Segment").select_option(label="France")
    page.get_by_label("Message text").fill("A croissant on us this week")
    page.get_by_label("Offer").select_option(label="Free croissant")
    page.get_by_label("Holdout percent").fill("10")
    page.get_by_role("button", name="Save draft and preview").click()
    expect(page.locator(".bubble").first).to_contain_text("A croissant on us this week")
    expect(page.locator(".bubble").first).to_contain_text("Free croissant")
    campaign_url = page.url
    demo["campaign_path"] = campaign_url.replace(web_server.url, "")

    # The analyst sees the draft and its preview, but no send button.
    analyst = desk()
    console_sign_in(analyst, web_server, demo["analyst"])
    analyst.goto(campaign_url)
    expect(analyst.locator(".bubble").first).to_be_visible()
    expect(analyst.get_by_role("button", name="Send campaign")).to_have_count(0)
    expect(analyst.get_by_text("can read results but not send")).to_be_visible()
    screens.shot(analyst, "62-console-analyst")

    page.get_by_role("button", name="Send campaign").click()
    expect(page.get_by_text(re.compile("^Sending\\.$"))).to_be_visible()
    page.reload()
    expect(page.locator("#status")).to_have_text("done")
    expect(page.locator("h3", has_text="Variant A")).to_be_visible()
    expect(page.locator(".card svg.chart").first).to_be_visible()
    expect(page.locator("#lift")).to_contain_text("Lift against holdout")
    screens.shot(page, "63-console-funnel")
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)
    assert not page.errors, page.errors

    # Another brand's owner: the campaign URL is a 404, under either brand id.
    rival = desk()
    console_sign_in(rival, web_server, demo["rival"])
    r = rival.goto(campaign_url)
    assert r.status == 404
    expect(rival.get_by_role("heading", name="Not found")).to_be_visible()
    other = campaign_url.replace(f"/b/{demo['brand_id']}/", f"/b/{demo['other_brand_id']}/")
    assert rival.goto(other).status == 404
    assert rival.goto(base + "/").status == 404
