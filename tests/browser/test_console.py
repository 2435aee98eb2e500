"""The brand console in a browser (issue 11): a marketer signs in, builds a segment, sees
the private estimate, creates an offer and an offer campaign, sends it; a follower reads
the message and redeems the offer through the real REST API of the running server, and
the marketer's open funnel page shows read, claimed and redeemed move (live, no reload);
an analyst sees no send button; another brand's owner gets 404.

The console's server here runs with a privacy floor of 1 (PRIVACY_MIN_AUDIENCE) so one
follower's read is a visible step; the flooring itself ("< 100") is tested in
tests/console against the engine's default.
"""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import expect

from .conftest import DESKTOP_VIEWPORT as DESKTOP
from .conftest import console_sign_in

# Setup a till would do (the merchant's order) and what an operator does (fund a wallet,
# which needs a PIN to spend): through payments' own services, not the UI under test.
FUND_AND_ORDER = """
import json
from accounts.models import User
from payments.models import Merchant
from payments.services.funding import operator_credit
from payments.services.orders import order_create
from payments.services.pin import pin_set
u = User.objects.get(phone={phone!r})
operator_credit(user_id=u.pk, amount=2000, currency="USD", reason="browser test")
pin_set(user=u, pin="246810")
o, _ = order_create(merchant=Merchant.objects.get(pk={merchant_id}), out_trade_no="CROISSANT-1",
                    amount=450, currency="USD", description="Croissant and coffee")
print(json.dumps({{"token": o.token}}))
"""

# Which follower the campaign reached (the holdout is random): the test then acts as
# that person through the REST API with a device token, as the app would.
A_RECIPIENT = """
from brands.models import Delivery
d = Delivery.objects.filter(campaign_id={campaign_id}, status="sent").order_by("user_id").first()
print(d.user.phone)
"""


class Follower:
    """A follower's app: Bearer token, REST calls to the running server."""

    def __init__(self, server, phone: str):
        self.url = server.url + "/api/v1"
        token = server.manage("issue_token", phone).strip().splitlines()[-1]
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kw):
        r = httpx.request(method, self.url + path, headers=self.headers, timeout=20, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json()


def test_marketer_builds_a_segment_sends_an_offer_campaign_and_sees_the_funnel(
    console_server, console_demo, desk, screens
):
    base = f"{console_server.url}/console/b/{console_demo['brand_id']}"
    page = desk()
    console_sign_in(page, console_server, console_demo["marketer"])
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
    expect(page.locator("#estimate")).to_have_text("≈ 150")
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
    page.get_by_label("Respect quiet hours").uncheck()  # whatever the hour the suite runs
    page.get_by_role("button", name="Save draft and preview").click()
    expect(page.locator(".bubble").first).to_contain_text("A croissant on us this week")
    expect(page.locator(".bubble").first).to_contain_text("Free croissant")
    campaign_url = page.url
    console_demo["campaign_path"] = campaign_url.replace(console_server.url, "")

    # The analyst sees the draft and its preview, but no send button.
    analyst = desk()
    console_sign_in(analyst, console_server, console_demo["analyst"])
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
    funnel = page.locator("#funnel svg.chart").first
    expect(funnel.locator('[data-key="read"]')).to_have_text("0")
    expect(funnel.locator('[data-key="redeemed"]')).to_have_text("0")
    screens.shot(page, "63-console-funnel")
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)

    # The offers page, open in another tab, counts claims live.
    offers = page.context.new_page()
    offers.goto(base + "/offers/")
    claimed = (
        offers.get_by_role("row", name=re.compile("Free croissant")).get_by_role("cell").nth(2)
    )
    expect(claimed).to_have_text("0")

    # A follower the campaign reached opens the brand chat in the app (REST), reads the
    # offer, keeps it, and pays at the brand's shop, where it applies by itself.
    campaign_id = int(re.search(r"/campaigns/(\d+)/", campaign_url).group(1))
    out = console_server.manage("shell", "-c", A_RECIPIENT.format(campaign_id=campaign_id))
    fan_phone = out.strip().splitlines()[-1]
    fan = Follower(console_server, fan_phone)
    convs = fan.call("GET", "/conversations")["results"]
    chat = next(
        c
        for c in convs
        if c["kind"] == "brand"
        and (c["last_message"] or {}).get("payload", {}).get("campaign_id") == campaign_id
    )
    msg = chat["last_message"]
    assert msg["kind"] == "offer" and msg["text"] == "A croissant on us this week"
    assert chat["unread_count"] >= 1
    fan.call("POST", f"/conversations/{chat['id']}/read", json={"seq": msg["seq"]})
    expect(funnel.locator('[data-key="read"]')).to_have_text("1")  # no reload: live
    screens.shot(page, "64-console-funnel-read")

    fan.call("POST", f"/offers/{msg['payload']['offer']['id']}/claim")
    expect(funnel.locator('[data-key="claimed"]')).to_have_text("1")
    expect(claimed).to_have_text("1")
    screens.shot(offers, "65-console-offers-claimed")

    order = json.loads(
        console_server.manage(
            "shell",
            "-c",
            FUND_AND_ORDER.format(phone=fan_phone, merchant_id=console_demo["merchant_id"]),
        )
        .strip()
        .splitlines()[-1]
    )
    receipt = fan.call("POST", f"/checkout/{order['token']}/pay", json={"pin": "246810"})
    assert receipt["status"] == "paid" and receipt["discount"] == 150, receipt
    expect(funnel.locator('[data-key="redeemed"]')).to_have_text("1")
    # Revenue shows once the redeemed count clears the floor: 4.50 less 1.50 off.
    expect(page.locator("#funnel")).to_contain_text("Revenue 300")
    screens.shot(page, "66-console-funnel-redeemed")
    assert not page.errors, page.errors

    # Another brand's owner: the campaign URL is a 404, under either brand id.
    rival = desk()
    console_sign_in(rival, console_server, console_demo["rival"])
    r = rival.goto(campaign_url)
    assert r.status == 404
    expect(rival.get_by_role("heading", name="Not found")).to_be_visible()
    other = campaign_url.replace(
        f"/b/{console_demo['brand_id']}/", f"/b/{console_demo['other_brand_id']}/"
    )
    assert rival.goto(other).status == 404
    assert rival.goto(base + "/").status == 404
