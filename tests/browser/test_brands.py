"""Followed brands in a browser: find a brand, follow it with consent, open its
conversation, and claim an offer it sends there."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from .conftest import sign_in

SETUP_BRAND = """
import datetime as dt, json
from django.utils import timezone
from accounts.models import User
from brands.services import brand_create, offer_create
owner, _ = User.objects.get_or_create(phone="+14155550390", defaults={"display_name": "Cafe owner"})
b = brand_create(name="Corner Cafe Club", owner=owner, description="Coffee, pastries, perks", verified=True)
o = offer_create(brand_id=b.pk, acting_user=owner, title="$1 off any coffee", kind="amount",
                 amount_off_minor=100, ends_at=timezone.now() + dt.timedelta(days=7))
print(json.dumps({"brand_id": b.pk, "offer_id": o.pk}))
"""

# What a brand's offer campaign delivers (brands.campaigns._message_for), sent the way
# campaigns send: through chat's bulk brand delivery.
DELIVER_OFFER = """
from django.utils import timezone
from brands.models import Follow, Offer
from chat.services.brand_delivery import BrandMessage, deliver_bulk
f = Follow.objects.get(brand_id={brand_id}, user_id={user_id})
o = Offer.objects.get(pk={offer_id})
payload = {{"brand_id": o.brand_id, "campaign_id": 0, "variant": "A", "offer": {{
    "id": o.pk, "title": o.title, "kind": o.kind, "amount_off_minor": o.amount_off_minor,
    "percent_off": o.percent_off, "currency": o.currency, "min_spend_minor": o.min_spend_minor,
    "ends_at": o.ends_at.isoformat()}}}}
deliver_bulk(brand_id=o.brand_id, now=timezone.now(), messages=[BrandMessage(
    user_id=f.user_id, conversation_id=f.conversation_id, kind="offer",
    text="Coffee on us this week", payload=payload)])
"""


def test_follow_a_brand_and_claim_its_offer(people, web_server, screens):
    ids = json.loads(web_server.manage("shell", "-c", SETUP_BRAND).strip().splitlines()[-1])
    ana = people("+14155550351", "Ana Li")
    sign_in(ana, web_server, use_dev_banner=True)
    page = ana.page
    page.get_by_role("link", name="Discover").click()
    page.get_by_role("link", name="Brands").click()
    page.get_by_label("Search brands").fill("corner")
    page.get_by_role("link", name="Corner Cafe Club").click()
    page.get_by_role("button", name="Follow").click()
    page.get_by_label("Send me offers from this brand").check()
    expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    screens.shot(page, "50-brand")

    web_server.manage(
        "shell",
        "-c",
        DELIVER_OFFER.format(
            brand_id=ids["brand_id"], offer_id=ids["offer_id"], user_id=ana.user_id
        ),
    )
    page.get_by_role("button", name="Open chat").click()
    offer = page.locator(".bubble.offer")
    expect(offer).to_contain_text("$1 off any coffee")
    expect(offer).to_contain_text("$1.00 off")
    screens.shot(page, "51-brand-offer")
    offer.get_by_role("button", name="Claim offer").click()
    expect(offer.get_by_role("button", name="Claimed")).to_be_visible()

    # The brand's conversation sits in the chat list like any other.
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Chats").click()
    expect(page.locator("a.conv", has_text="Corner Cafe Club")).to_contain_text("[Offer]")
