"""Offers claimed from a campaign apply at the brand's merchant checkout, in the payment's
one journal entry, with the platform's commission on attributed redemptions."""

import datetime as dt

import pytest
from django.utils import timezone

from brands import campaigns, segments, services
from brands.models import Delivery, OfferClaim
from payments import ledger
from payments.models import JournalEntry, Order
from payments.services.checkout import merchant_account, order_pay, order_refund
from payments.services.orders import order_create
from tests.conftest import fund_wallet, set_payment_pin
from tests.payments.merchant_kit import make_merchant

FR = {"rule": "region", "in": ["FR"]}


def revenue_total() -> int:
    return ledger.system_balance(code="revenue", currency="USD")


def balance(account) -> int:
    account.refresh_from_db()
    return account.balance


@pytest.fixture
def shop_brand(owner):
    merchant, _key = make_merchant(name="Acme Store")
    brand = services.brand_create(
        name="Acme", owner=owner, merchant_id=merchant.id, commission_bps=500
    )
    return merchant, brand


def pay(merchant, buyer, amount, no):
    order, _ = order_create(merchant=merchant, out_trade_no=no, amount=amount, currency="USD")
    return order_pay(token=order.token, payer=buyer, pin="123456")


@pytest.mark.django_db
def test_campaign_offer_applies_at_checkout_with_commission_and_refunds_pro_rata(
    shop_brand, owner, make_user, floor, settings, ledger_balanced
):
    settings.BRANDS_QUIET_START_HOUR = settings.BRANDS_QUIET_END_HOUR = 0
    merchant, brand = shop_brand
    people = []
    for _ in range(12):
        p = make_user(region="FR")
        services.follow_create(brand=brand, user=p, marketing_opt_in=True)
        fund_wallet(p, 10_000)
        set_payment_pin(p)
        people.append(p)
    offer = services.offer_create(
        brand_id=brand.pk,
        acting_user=owner,
        title="20% off",
        kind="percent",
        percent_off=20,
        min_spend_minor=1000,
        ends_at=timezone.now() + dt.timedelta(days=10),
    )
    seg = services.segment_save(brand_id=brand.pk, acting_user=owner, name="fr", rules=FR)
    c = campaigns.campaign_create(
        brand_id=brand.pk,
        acting_user=owner,
        name="Offer",
        kind="offer",
        content={"text": "20% off this week"},
        segment_id=seg.pk,
        offer_id=offer.pk,
        holdout_percent=0,
    )
    campaigns.campaign_schedule(brand_id=brand.pk, acting_user=owner, campaign_id=c.pk)
    buyer = people[0]
    d = Delivery.objects.get(campaign=c, user=buyer)
    claim = services.offer_claim(offer_id=offer.pk, user=buyer)
    assert claim.campaign_id == c.pk
    settlement = merchant_account(merchant, "USD")
    settle_before, revenue_before = balance(settlement), revenue_total()

    # Below the minimum spend the offer does not apply.
    small = pay(merchant, buyer, 500, "S-1")
    assert small.discount == 0
    order = pay(merchant, buyer, 5000, "S-2")
    assert order.discount == 1000 and order.buyer_paid == 4000
    assert ledger.user_wallet(user_id=buyer.pk, currency="USD").balance == 10_000 - 500 - 4000
    claim.refresh_from_db()
    assert claim.redeemed_at and claim.attributed and claim.order_ref == str(order.pk)
    assert claim.discount_minor == 1000 and claim.commission_minor == 200  # 5% of 4000
    # One entry carries payment, discount funding and commission.
    entry = JournalEntry.objects.get(pk=order.entry_id)
    assert JournalEntry.objects.filter(reference=f"order:{order.pk}").count() == 1
    fee = order.fee
    assert balance(settlement) - settle_before == (500 - small.fee) + (5000 - fee - 1000 - 200)
    assert revenue_total() - revenue_before == small.fee + fee + 200
    assert entry.pk
    # The offer is used: the next order pays full price.
    assert pay(merchant, buyer, 5000, "S-3").discount == 0
    assert segments.exact_size(brand, {"rule": "offer", "state": "redeemed"}) == 1
    assert segments.exact_size(brand, {"rule": "spent", "days": 30, "min": 9000}) == 1

    # Refund half: discount funding and commission come back pro rata.
    revenue_mid = revenue_total()
    order_refund(merchant=merchant, order_id=order.pk, amount=2500, out_refund_no="R-1")
    refund_fee = Order.objects.get(pk=order.pk).fee  # unchanged; payments returns its share
    assert revenue_mid - revenue_total() == 100 + round(refund_fee / 2)
    funnel = campaigns.campaign_funnel(brand_id=brand.pk, acting_user=owner, campaign_id=c.pk)
    a = funnel["variants"]["A"]
    assert a["delivered"] == 12 and a["claimed"] == "< 10" and a["redeemed"] == "< 10"
    assert a["revenue_minor"] is None  # hidden while redemptions are below the floor
    assert d.seq == 1


@pytest.mark.django_db
def test_unattributed_claim_pays_no_commission_and_other_merchants_see_nothing(
    shop_brand, owner, make_user, ledger_balanced
):
    merchant, brand = shop_brand
    other_merchant, _ = make_merchant(name="Elsewhere")
    buyer = make_user()
    services.follow_create(brand=brand, user=buyer)
    fund_wallet(buyer, 10_000)
    set_payment_pin(buyer)
    offer = services.offer_create(
        brand_id=brand.pk,
        acting_user=owner,
        title="3 off",
        kind="amount",
        amount_off_minor=300,
        ends_at=timezone.now() + dt.timedelta(days=1),
    )
    services.offer_claim(offer_id=offer.pk, user=buyer)  # from the brand page, no campaign
    assert pay(other_merchant, buyer, 2000, "O-1").discount == 0
    revenue_before = revenue_total()
    order = pay(merchant, buyer, 2000, "O-2")
    assert order.discount == 300
    claim = OfferClaim.objects.get(offer=offer, user=buyer)
    assert claim.redeemed_at and not claim.attributed and claim.commission_minor == 0
    assert revenue_total() - revenue_before == order.fee
