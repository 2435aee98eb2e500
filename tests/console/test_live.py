"""Live parts of console pages (issue 11): the campaign's progress and funnel, offers'
claims and sales' stock come as HTML fragments that console.js polls (no inline script)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from brands import campaigns, sales, services
from brands.models import Delivery
from chat.services.messages import read_mark
from tests.conftest import fund_wallet
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db


def part(html: str, name: str) -> str:
    m = re.search(rf'<template data-part="{name}">(.*?)</template>', html, re.S)
    assert m, name
    return m.group(1)


def funnel_value(html: str, key: str) -> str:
    """The shown value of one funnel row (variant A's chart comes first)."""
    m = re.search(rf'data-key="{key}">([^<]*)<', html)
    assert m, key
    return m.group(1)


@pytest.fixture
def sent_offer_campaign(brand, owner, followers, settings):
    settings.PRIVACY_MIN_AUDIENCE = 1  # so one person's read shows (flooring: test_console)
    settings.BRANDS_QUIET_START_HOUR = settings.BRANDS_QUIET_END_HOUR = 0
    people = followers(3)
    kw = {"brand_id": brand.pk, "acting_user": owner}
    seg = services.segment_save(**kw, name="All", rules={"rule": "bucket", "min": 0})
    offer = services.offer_create(
        **kw,
        title="Half off",
        kind="percent",
        percent_off=50,
        ends_at=timezone.now() + dt.timedelta(days=3),
        quantity_cap=10,
    )
    c = campaigns.campaign_create(
        **kw,
        name="Deal",
        kind="offer",
        content={"text": "Half off today"},
        segment_id=seg.pk,
        offer_id=offer.pk,
        holdout_percent=0,
    )
    campaigns.campaign_schedule(**kw, campaign_id=c.pk)  # eager Celery: sent at once
    return c, offer, people


def test_the_campaign_funnel_fragment_moves_when_a_follower_reads_and_claims(
    brand, owner, analyst, sent_offer_campaign
):
    c, offer, people = sent_offer_campaign
    client = signed_in(analyst)  # read-only roles watch too
    url = f"/console/b/{brand.pk}/campaigns/{c.pk}/live/"
    r = client.get(url)
    assert r.status_code == 200
    assert r["X-Poll-After"] == "5000"  # done: the funnel still moves, more slowly
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert r["Cache-Control"] == "no-store"
    funnel = part(r.content.decode(), "funnel")
    assert funnel_value(funnel, "delivered") == "3"
    assert funnel_value(funnel, "read") == "0"
    assert funnel_value(funnel, "claimed") == "0"
    assert 'data-status="done"' in part(r.content.decode(), "delivery")

    d = Delivery.objects.get(campaign=c, user=people[0])
    read_mark(user_id=people[0].pk, conversation_id=d.conversation_id, seq=d.seq)
    services.offer_claim(offer_id=offer.pk, user=people[0])
    funnel = part(client.get(url).content.decode(), "funnel")
    assert funnel_value(funnel, "read") == "1"
    assert funnel_value(funnel, "claimed") == "1"


def test_a_sending_campaign_polls_fast_and_shows_its_progress(
    brand, owner, followers, floor, settings
):
    # Quiet hours off: the followers' local time is UTC, and from 21:00 every one of them
    # would be deferred, so the batch would write nothing (CI once ran this at night).
    settings.BRANDS_QUIET_START_HOUR = settings.BRANDS_QUIET_END_HOUR = 0
    followers(12)
    kw = {"brand_id": brand.pk, "acting_user": owner}
    seg = services.segment_save(**kw, name="All", rules={"rule": "bucket", "min": 0})
    c = campaigns.campaign_create(
        **kw, name="Slow", kind="text", content={"text": "Hi"}, segment_id=seg.pk
    )
    c.status = "sending"  # as between two batches: no Delivery row written yet
    c.save(update_fields=["status"])
    client = signed_in(owner)
    page = client.get(f"/console/b/{brand.pk}/campaigns/{c.pk}/")
    assert b'data-live="/console/b/' in page.content and b'<progress id="progress"' in page.content
    r = client.get(f"/console/b/{brand.pk}/campaigns/{c.pk}/live/")
    assert r["X-Poll-After"] == "2000"
    delivery = part(r.content.decode(), "delivery")
    assert 'data-status="sending"' in delivery and 'value="0"' in delivery
    campaigns.campaign_send_batch(campaign_id=c.pk, batch_size=6, chain=False)
    delivery = part(
        client.get(f"/console/b/{brand.pk}/campaigns/{c.pk}/live/").content.decode(), "delivery"
    )
    assert 'value="50"' in delivery


def test_offer_claims_and_sale_stock_update_live(
    brand, owner, followers, sent_offer_campaign, ledger_balanced
):
    c, offer, people = sent_offer_campaign
    client = signed_in(owner)
    page = client.get(f"/console/b/{brand.pk}/offers/")
    assert b'data-live="/console/b/%d/offers/live/offers/"' % brand.pk in page.content
    offers = f"/console/b/{brand.pk}/offers/live/offers/"
    assert "0 / 10" in client.get(offers).content.decode()
    services.offer_claim(offer_id=offer.pk, user=people[1])
    r = client.get(offers)
    assert "1 / 10" in r.content.decode() and r["X-Poll-After"] == "5000"

    sale = sales.sale_create(
        brand_id=brand.pk,
        acting_user=owner,
        title="Mug",
        price_minor=500,
        stock=4,
        starts_at=timezone.now() - dt.timedelta(minutes=1),
    )
    fund_wallet(people[2], 5_000)
    stock = f"/console/b/{brand.pk}/offers/live/sales/"
    assert "4 / 4" in client.get(stock).content.decode()
    sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=people[2])
    assert "3 / 4" in client.get(stock).content.decode()
    assert client.get(f"/console/b/{brand.pk}/offers/live/other/").status_code == 404


def test_live_fragments_of_another_brand_are_404(brand, make_user, sent_offer_campaign):
    c, _offer, _people = sent_offer_campaign
    rival = services.brand_create(name="Rival", owner=make_user("Rival owner"))
    client = signed_in(rival.members.get().user)
    assert client.get(f"/console/b/{rival.pk}/campaigns/{c.pk}/live/").status_code == 404
    assert client.get(f"/console/b/{brand.pk}/offers/live/offers/").status_code == 404
