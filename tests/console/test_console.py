"""The brand console (issue 11) through Django's test client: sign-in, scoping, roles,
CSRF and the CSP header."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from brands import campaigns, services
from brands.models import BrandMember, Campaign, Segment
from tests.console.conftest import PASSWORD, signed_in, with_password

pytestmark = pytest.mark.django_db


def audit_rows(response) -> list[tuple[str, str]]:
    """(action, row text) for each row of the audit page, newest first."""
    html = response.content.decode()
    return re.findall(r'<tr class="audit-row" data-action="([a-z.]+)">(.*?)</tr>', html, re.S)


@pytest.fixture
def other_brand(make_user):
    return services.brand_create(name="Other Tea", owner=make_user("Other owner"))


@pytest.fixture
def draft(brand, owner, followers, floor):
    followers(12)
    seg = services.segment_save(
        brand_id=brand.pk, acting_user=owner, name="All", rules={"rule": "bucket", "min": 0}
    )
    return campaigns.campaign_create(
        brand_id=brand.pk,
        acting_user=owner,
        name="Hello",
        kind="text",
        content={"text": "Hi there"},
        segment_id=seg.pk,
        holdout_percent=0,
    )


def test_sign_in_with_password_lands_on_the_brand_dashboard(brand, owner):
    with_password(owner)
    client = Client()
    r = client.post("/console/login/", {"phone": owner.phone, "password": PASSWORD})
    assert r.status_code == 302
    r = client.get(r["Location"], follow=True)
    assert r.status_code == 200
    assert b"Acme Coffee" in r.content
    assert b"Getting started" in r.content  # a new brand sees what to do first
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert "'unsafe-inline'" not in r["Content-Security-Policy"]


def test_wrong_password_and_non_members_are_refused_alike(owner, make_user, brand):
    with_password(owner)
    stranger = with_password(make_user("Stranger"))
    bad = Client().post("/console/login/", {"phone": owner.phone, "password": "nope"})
    outsider = Client().post("/console/login/", {"phone": stranger.phone, "password": PASSWORD})
    assert bad.status_code == outsider.status_code == 400
    assert b"Wrong phone or password" in bad.content
    assert b"Wrong phone or password" in outsider.content


def test_login_is_rate_limited(settings, owner, brand):
    # Fixed windows: a per-minute limit lets four quick tries straddle a minute boundary
    # (a flake seen once); with hour and day windows only a try across midnight could.
    settings.LOGIN_RATE_PER_IP = "3/h,3/d"
    client = Client()
    codes = [
        client.post("/console/login/", {"phone": owner.phone, "password": "x"}).status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]


def test_anonymous_is_sent_to_sign_in(brand):
    r = Client().get(f"/console/b/{brand.pk}/")
    assert r.status_code == 302 and r["Location"].startswith("/console/login/")


def test_logout_needs_post_and_ends_the_session(brand, owner):
    client = signed_in(owner)
    assert client.get("/console/logout/").status_code == 405
    assert client.post("/console/logout/").status_code == 302
    assert client.get(f"/console/b/{brand.pk}/").status_code == 302


def test_member_of_several_brands_picks_one(brand, owner, other_brand):
    services.brand_member_set(
        brand_id=other_brand.pk,
        acting_user=BrandMember.objects.get(brand=other_brand).user,
        user=owner,
        role="analyst",
    )
    r = signed_in(owner).get("/console/")
    assert r.status_code == 200
    assert b"Acme Coffee" in r.content and b"Other Tea" in r.content


def test_another_brands_pages_and_objects_are_404(brand, owner, other_brand, draft):
    other_owner = BrandMember.objects.get(brand=other_brand).user
    client = signed_in(other_owner)
    assert client.get(f"/console/b/{brand.pk}/").status_code == 404
    # Their own brand id with our campaign id: still 404, and the page carries the CSP.
    r = client.get(f"/console/b/{other_brand.pk}/campaigns/{draft.pk}/")
    assert r.status_code == 404
    assert "Content-Security-Policy" in r
    seg = Segment.objects.get(brand=brand)
    assert client.get(f"/console/b/{other_brand.pk}/segments/{seg.pk}/").status_code == 404
    r = client.post(f"/console/b/{other_brand.pk}/campaigns/{draft.pk}/send/")
    assert r.status_code == 404
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT


def test_analyst_sees_no_send_button_and_the_post_is_refused(brand, analyst, draft):
    client = signed_in(analyst)
    page = client.get(f"/console/b/{brand.pk}/campaigns/{draft.pk}/")
    assert page.status_code == 200
    assert b'id="send"' not in page.content
    r = client.post(f"/console/b/{brand.pk}/campaigns/{draft.pk}/send/")
    assert r.status_code == 403
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    assert client.get(f"/console/b/{brand.pk}/campaigns/new/").status_code == 403


def test_marketer_cannot_manage_the_team(brand, marketer, make_user):
    client = signed_in(marketer)
    colleague = make_user("Colleague")
    r = client.post(f"/console/b/{brand.pk}/team/", {"contact": colleague.phone, "role": "owner"})
    assert r.status_code == 403
    assert not BrandMember.objects.filter(brand=brand, user=colleague).exists()
    assert not brand.invites.exists()
    r = client.post(f"/console/b/{brand.pk}/team/{marketer.pk}/role/", {"role": "owner"})
    assert r.status_code == 403
    assert BrandMember.objects.get(brand=brand, user=marketer).role == "marketer"


def test_owner_sets_roles_and_removes(brand, owner, make_user):
    client = signed_in(owner)
    colleague = make_user("Colleague")
    services.brand_member_set(brand_id=brand.pk, acting_user=owner, user=colleague, role="analyst")
    client.post(f"/console/b/{brand.pk}/team/{colleague.pk}/role/", {"role": "marketer"})
    assert BrandMember.objects.get(brand=brand, user=colleague).role == "marketer"
    client.post(f"/console/b/{brand.pk}/team/{colleague.pk}/remove/")
    assert not BrandMember.objects.filter(brand=brand, user=colleague).exists()
    # The last owner cannot remove themselves: a clear message, no 500.
    r = client.post(f"/console/b/{brand.pk}/team/{owner.pk}/remove/", follow=True)
    assert b"at least one owner" in r.content


def test_csrf_is_enforced_on_console_forms(brand, owner, draft):
    client = signed_in(owner, enforce_csrf_checks=True)
    r = client.post(f"/console/b/{brand.pk}/campaigns/{draft.pk}/send/")
    assert r.status_code == 403
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    login = Client(enforce_csrf_checks=True).post(
        "/console/login/", {"phone": owner.phone, "password": PASSWORD}
    )
    assert login.status_code == 403


def test_segment_builder_estimates_saves_duplicates_and_compares(brand, owner, followers, floor):
    followers(30, region="FR")
    followers(20, region="DE")
    client = signed_in(owner)
    url = f"/console/b/{brand.pk}/segments/new/"
    form = {"name": "Thirties", "combine": "and", "rule0": "region", "value0": "fr"}
    r = client.post(url, {**form, "action": "estimate"})
    assert r.status_code == 200
    assert "≈ 30" in r.content.decode()
    r = client.post(url, {**form, "action": "save"})
    assert r.status_code == 302
    seg = Segment.objects.get(brand=brand, name="Thirties")
    assert seg.rules == {"rule": "region", "in": ["FR"]}
    client.post(f"/console/b/{brand.pk}/segments/{seg.pk}/duplicate/")
    copy = Segment.objects.get(brand=brand, name="Thirties (copy)")
    r = client.get(f"/console/b/{brand.pk}/segments/compare/?a={seg.pk}&b={copy.pk}")
    assert r.content.decode().count("≈ 30") == 2
    # A malformed row is a clear message, not a 500.
    r = client.post(url, {"combine": "and", "rule0": "follow_age_days", "value0": "abc"})
    assert r.status_code == 400 and b"min..max" in r.content


def test_estimate_below_the_floor_is_hidden(brand, owner, followers, floor):
    followers(3, region="FR")
    r = signed_in(owner).post(
        f"/console/b/{brand.pk}/segments/new/",
        {"combine": "and", "rule0": "region", "value0": "fr", "action": "estimate"},
    )
    assert "&lt; 10" in r.content.decode()


def test_marketer_creates_an_offer_campaign_and_sends_it(brand, marketer, followers, floor):
    followers(12)
    client = signed_in(marketer)
    r = client.post(
        f"/console/b/{brand.pk}/offers/",
        {"title": "2 off", "kind": "amount", "amount_off": "2.00", "days": 7},
    )
    assert r.status_code == 302
    offer = brand.offers.get()
    assert offer.amount_off_minor == 200
    seg = services.segment_save(
        brand_id=brand.pk, acting_user=marketer, name="All", rules={"rule": "bucket", "min": 0}
    )
    r = client.post(
        f"/console/b/{brand.pk}/campaigns/new/",
        {
            "name": "Coffee deal",
            "kind": "offer",
            "segment": seg.pk,
            "text": "A coffee on us",
            "offer": offer.pk,
            "split_b_percent": 0,
            "holdout_percent": 0,
            "respect_quiet_hours": "",
        },
    )
    assert r.status_code == 302, r.content
    c = Campaign.objects.get(brand=brand)
    page = client.get(r["Location"])
    assert b"A coffee on us" in page.content and b"2 off" in page.content
    r = client.post(f"/console/b/{brand.pk}/campaigns/{c.pk}/send/", {"at": ""})
    assert r.status_code == 302
    c.refresh_from_db()
    assert c.status in (Campaign.Status.SENDING, Campaign.Status.DONE)
    page = client.get(f"/console/b/{brand.pk}/campaigns/{c.pk}/")
    assert b"<svg" in page.content
    assert client.get(f"/console/b/{brand.pk}/campaigns/{c.pk}/progress.json").json()[
        "percent"
    ] in range(0, 101)


def test_campaign_form_errors_are_messages(brand, marketer):
    client = signed_in(marketer)
    r = client.get(f"/console/b/{brand.pk}/campaigns/new/")
    assert b"You need a segment first" in r.content
    seg = services.segment_save(
        brand_id=brand.pk, acting_user=marketer, name="All", rules={"rule": "bucket", "min": 0}
    )
    r = client.post(
        f"/console/b/{brand.pk}/campaigns/new/",
        {
            "name": "Deal",
            "kind": "offer",
            "segment": seg.pk,
            "split_b_percent": 0,
            "holdout_percent": 70,
        },
    )
    assert r.status_code == 400
    assert b"An offer campaign needs an offer" in r.content
    assert b"less than or equal to 50" in r.content
    assert not Campaign.objects.filter(brand=brand).exists()


def test_every_console_page_renders_with_csp(brand, owner, draft):
    client = signed_in(owner)
    seg = Segment.objects.get(brand=brand)
    for path in (
        "",
        "segments/",
        "segments/new/",
        f"segments/{seg.pk}/",
        "campaigns/",
        "campaigns/new/",
        f"campaigns/{draft.pk}/",
        "offers/",
        "team/",
        "audit/",
    ):
        r = client.get(f"/console/b/{brand.pk}/{path}")
        assert r.status_code == 200, path
        assert "default-src 'self'" in r["Content-Security-Policy"], path
        assert b"<script>" not in r.content and b"style=" not in r.content, path


def test_send_a_test_to_yourself_lands_in_your_brand_chat_and_not_in_the_funnel(
    brand, owner, draft
):
    from chat.models import Message

    client = signed_in(owner)
    url = f"/console/b/{brand.pk}/campaigns/{draft.pk}/test/"
    r = client.post(url, follow=True)
    assert b"follow the brand in the Plaza app" in r.content
    follow = services.follow_create(brand=brand, user=owner, marketing_opt_in=False)
    r = client.post(url, follow=True)
    assert b"Test sent" in r.content
    msg = Message.objects.filter(conversation_id=follow.conversation_id).latest("id")
    assert msg.text == "[TEST] Hi there"
    assert msg.payload["test"] is True
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    assert not draft.deliveries.exists()


def test_marketer_creates_and_stops_an_exclusive_sale_analyst_cannot(brand, marketer, analyst):
    client = signed_in(marketer)
    url = f"/console/b/{brand.pk}/sales/new/"
    r = client.post(url, {"sale_title": "Golden mug", "price": "0", "stock": 5, "sale_days": 2})
    assert r.status_code == 400 and b"greater than or equal to 0.01" in r.content
    r = client.post(url, {"sale_title": "Golden mug", "price": "19.90", "stock": 5, "sale_days": 2})
    assert r.status_code == 302
    sale = brand.sales.get()
    assert (sale.price_minor, sale.stock_left) == (1990, 5)
    page = client.get(f"/console/b/{brand.pk}/offers/")
    assert b"Golden mug" in page.content and b"5 / 5" in page.content
    assert (
        signed_in(analyst)
        .post(url, {"sale_title": "x", "price": "1", "stock": 1, "sale_days": 1})
        .status_code
        == 403
    )
    client.post(f"/console/b/{brand.pk}/sales/{sale.pk}/stop/")
    sale.refresh_from_db()
    assert not sale.is_active


def test_schedule_pause_and_cancel_from_the_campaign_page(brand, owner, draft):
    client = signed_in(owner)
    base = f"/console/b/{brand.pk}/campaigns/{draft.pk}"
    r = client.post(f"{base}/send/", {"at": "not a time"}, follow=True)
    assert b"YYYY-MM-DD HH:MM" in r.content
    client.post(f"{base}/send/", {"at": "2099-01-01 09:00"})
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.SCHEDULED
    assert draft.scheduled_at.year == 2099
    client.post(f"{base}/pause/")
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.PAUSED
    r = client.post(f"{base}/pause/", follow=True)  # not from paused: a message, no 500
    assert b"cannot become paused" in r.content
    client.post(f"{base}/cancel/")
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.CANCELLED
    # The audit log has who scheduled, paused and cancelled it, and no send: a campaign
    # that never started is never reported as sent to anyone.
    r = client.get(f"/console/b/{brand.pk}/audit/")
    rows = audit_rows(r)
    assert [a for a, _ in rows if "Hello" in _] == [
        "campaign.cancelled",
        "campaign.paused",
        "campaign.scheduled",
    ]
    assert not any(a == "campaign.sent" for a, _ in rows)
