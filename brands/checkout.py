"""Offers at the brand's merchant checkout, through payments.hooks.

`offer_adjuster` is registered as an order adjuster (brands' AppConfig.ready). When a
person pays an order of the merchant linked to a brand, it picks the person's best claimed,
unredeemed, valid offer of that brand (minimum spend met) and returns an Adjustment:

- the buyer pays `amount - discount` (payments shows the discount on the order);
- the merchant's settlement account funds the discount — the brand's own merchant pays
  for its own offer — in the SAME journal entry as the payment;
- if the redemption is attributed to a campaign (its message reached the person at most
  BRANDS_ATTRIBUTION_DAYS = 7 days before), the platform's commission
  (`brand.commission_bps` of the net paid, rounded half up) moves from the merchant's
  settlement account to platform revenue, also in that entry.

Refunds reverse every adjustment posting pro rata (payments/services/checkout.py), so
discount and commission come back in proportion without a refund hook here; the funnel
reads refunds from the order when it reports revenue.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Brand, Delivery, OfferClaim


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def commission_for(net_minor: int, bps: int) -> int:
    return _round_half_up(net_minor * bps, 10_000) if net_minor > 0 and bps > 0 else 0


def _attribution_window() -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, "BRANDS_ATTRIBUTION_DAYS", 7))


def best_claim(
    *, brand: Brand, user_id: int, amount: int, currency: str, now: dt.datetime, lock: bool
):
    """The claim giving the largest discount on `amount`, or None."""
    qs = OfferClaim.objects.filter(
        brand=brand,
        user_id=user_id,
        redeemed_at__isnull=True,
        offer__is_active=True,
        offer__starts_at__lte=now,
        offer__ends_at__gt=now,
        offer__currency=currency,
        offer__min_spend_minor__lte=amount,
    ).select_related("offer")
    if lock:
        qs = qs.select_for_update(of=("self",))
    best, best_discount = None, 0
    for claim in qs.order_by("id"):
        d = claim.offer.discount_for(amount)
        if d > best_discount:
            best, best_discount = claim, d
    return best, best_discount


# Whether the payer holds any unredeemed claim at an active brand of this merchant: one
# hand-written statement, no ORM compilation. Every merchant payment runs this adjuster
# and almost none has an offer to apply; the ORM lookups below (~1.5 ms of CPU per
# payment) now run only when there may be one, and decide it under the claim's lock.
_MAY_HAVE_CLAIM_SQL = """
SELECT 1 FROM brands_brand b JOIN brands_offerclaim c ON c.brand_id = b.id
 WHERE b.merchant_id = %s AND b.is_active = %s AND c.user_id = %s AND c.redeemed_at IS NULL
 LIMIT 1
"""


def _may_have_claim(merchant_id: int, user_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_MAY_HAVE_CLAIM_SQL, [merchant_id, True, user_id])
        return cursor.fetchone() is not None


def offer_adjuster(order, payer, *, commit: bool):
    """payments.hooks order adjuster (see the module docstring)."""
    from payments import hooks, ledger

    if payer is None or not _may_have_claim(order.merchant_id, payer.pk):
        return None
    brand = Brand.objects.filter(merchant_id=order.merchant_id, is_active=True).first()
    if brand is None or payer is None:
        return None
    now = timezone.now()
    claim, discount = best_claim(
        brand=brand,
        user_id=payer.pk,
        amount=order.amount,
        currency=order.currency,
        now=now,
        lock=commit,
    )
    if claim is None or discount <= 0:
        return None
    net = order.amount - discount
    attributed = False
    if claim.campaign_id:
        sent_at = (
            Delivery.objects.filter(campaign_id=claim.campaign_id, user_id=payer.pk, status="sent")
            .values_list("created_at", flat=True)
            .first()
        )
        attributed = sent_at is not None and now - sent_at <= _attribution_window()
    commission = commission_for(net, brand.commission_bps) if attributed else 0
    merchant_account = ledger.owner_account(
        kind="merchant_settlement",
        owner_ref=f"merchant:{order.merchant_id}",
        currency=order.currency,
    )
    postings = [(merchant_account, -discount)]
    if commission:
        postings += [
            (merchant_account, -commission),
            (ledger.revenue_account(currency=order.currency), commission),
        ]
    if commit:
        OfferClaim.objects.filter(pk=claim.pk).update(
            redeemed_at=now,
            order_ref=str(order.pk),
            discount_minor=discount,
            net_paid_minor=net,
            commission_minor=commission,
            attributed=attributed,
        )
        from .services import person_tag

        person_tag(brand=brand, user_id=payer.pk, tag=f"redeemed:offer:{claim.offer_id}")
    return hooks.Adjustment(
        source=f"brands.offer:{claim.offer_id}",
        buyer_discount=discount,
        postings=postings,
        label=f"{claim.offer.title} ({brand.name})",
        metadata={
            "offer_id": claim.offer_id,
            "campaign_id": claim.campaign_id if attributed else None,
            "commission": commission,
        },
    )


def register() -> None:
    try:
        from payments import hooks
    except ImportError:  # merchant checkout not installed yet
        return
    hooks.register_order_adjuster(offer_adjuster)
