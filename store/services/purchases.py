"""Getting a pack: claim a free one, buy one from the wallet, gift one to a contact, and
the operator's refund.

A paid purchase is one transaction and one balanced ledger entry: the buyer's wallet is
debited the price, the creator's earnings account is credited their share (their
`revenue_share_bps`, 70% by default) and a shard of platform revenue the rest; the
Purchase row records the split and the entry, and the entitlement is granted. Any
failure (not enough money, already owned) rolls all of it back.
"""

from __future__ import annotations

import random

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import selectors as people
from config.errors import Conflict, DomainError, InvalidInput, NotFound
from config.realtime import push_to_user
from payments import ledger
from payments.services.events import wallet_changed
from payments.services.pin import payment_authorize

from ..models import Entitlement, Pack, Purchase

CREATOR_ACCOUNT_KIND = "creator_earnings"


def _published_pack(pack_id: int) -> Pack:
    pack = (
        Pack.objects.select_related("creator")
        .filter(pk=pack_id, status=Pack.Status.PUBLISHED)
        .first()
    )
    if pack is None:
        raise NotFound("No such pack.")
    return pack


def _already_owned() -> Conflict:
    return Conflict("This pack is already owned.", code="already_owned")


def _count_popularity(pack_id: int) -> None:
    # After commit and outside the purchase's transaction: the counter is a ranking hint,
    # and keeping its row lock out of the purchase keeps a best-seller from serialising.
    transaction.on_commit(
        lambda: Pack.objects.filter(pk=pack_id).update(popularity=F("popularity") + 1)
    )


def creator_account(*, creator_id: int, currency: str):
    return ledger.owner_account(
        kind=CREATOR_ACCOUNT_KIND, owner_ref=f"creator:{creator_id}", currency=currency
    )


def split(*, amount: int, share_bps: int) -> tuple[int, int]:
    """(creator, platform): the creator's share rounds down, the platform takes the rest."""
    creator = amount * share_bps // 10000
    return creator, amount - creator


def _check_price(pack: Pack, expected_price: int | None, expected_currency: str | None) -> None:
    if expected_price is None:
        if pack.is_free:
            return
        raise InvalidInput(
            "Send the price you were shown as expected_price.",
            fields={"expected_price": ["This field is required for a paid pack."]},
        )
    currency_changed = expected_currency is not None and expected_currency.upper() != pack.currency
    if expected_price != pack.price_amount or currency_changed:
        raise Conflict(
            "The price of this pack has changed; nothing was charged.",
            code="price_changed",
            price=pack.price_amount,
            currency=pack.currency,
        )


def pack_purchase(
    *,
    buyer,
    pack_id: int,
    expected_price: int | None,
    expected_currency: str | None = None,
    recipient_id: int | None = None,
    pin: str | None = None,
) -> Purchase:
    """Buy (or claim, when free) a pack for `buyer`, or as a gift for `recipient_id`.

    Checks come first and cheapest (the pack, the contact, the price the client showed,
    ownership), then the payment PIN (payments' `payment_authorize`, outside the money
    transaction so a wrong PIN is counted), then one transaction moves the money and
    grants the pack."""
    recipient_id = recipient_id or buyer.pk
    gift = recipient_id != buyer.pk
    pack = _published_pack(pack_id)
    if gift:
        recipient = people.user_get(user_id=recipient_id)
        # Not a contact, blocked, closed or unknown: one answer, so ids cannot be probed.
        if recipient is None or not people.are_contacts(user_id=buyer.pk, other_id=recipient_id):
            raise NotFound("You can only give packs to your contacts.", code="not_a_contact")
    _check_price(pack, expected_price, expected_currency)
    if Entitlement.objects.filter(user_id=recipient_id, pack=pack).exists():
        raise _already_owned()
    if pack.price_amount:
        payment_authorize(user=buyer, amount=pack.price_amount, currency=pack.currency, pin=pin)
    return _purchase_commit(buyer=buyer, pack=pack, recipient_id=recipient_id)


def _purchase_accounts(*, buyer_id: int, creator_id: int, currency: str) -> tuple:
    """(buyer's wallet, creator's earnings, a random platform revenue shard) in one query
    when they exist — the usual case — creating any that is missing through the ledger."""
    shard = random.randrange(max(1, int(getattr(settings, "LEDGER_HOT_ACCOUNT_SHARDS", 8))))
    wanted = {
        "wallet": Q(kind=ledger.AccountKind.USER_WALLET, owner_id=buyer_id),
        "creator": Q(
            kind=CREATOR_ACCOUNT_KIND, owner__isnull=True, owner_ref=f"creator:{creator_id}"
        ),
        "revenue": Q(
            kind=ledger.AccountKind.PLATFORM_REVENUE,
            owner__isnull=True,
            owner_ref=f"system:revenue:{shard}",
        ),
    }
    found = {}
    rows = ledger.Account.objects.filter(currency=currency).filter(
        wanted["wallet"] | wanted["creator"] | wanted["revenue"]
    )
    for acc in rows.only("id", "kind", "owner_id", "owner_ref"):
        if acc.kind == ledger.AccountKind.USER_WALLET:
            found["wallet"] = acc.pk
        elif acc.kind == CREATOR_ACCOUNT_KIND:
            found["creator"] = acc.pk
        else:
            found["revenue"] = acc.pk
    if "wallet" not in found:
        found["wallet"] = ledger.user_wallet(user_id=buyer_id, currency=currency).pk
    if "creator" not in found:
        found["creator"] = creator_account(creator_id=creator_id, currency=currency).pk
    if "revenue" not in found:
        found["revenue"] = ledger.revenue_account(currency=currency, shard=shard).pk
    return found["wallet"], found["creator"], found["revenue"]


@ledger.retry_on_conflict
def _purchase_commit(*, buyer, pack: Pack, recipient_id: int) -> Purchase:
    """The money transaction: one balanced entry, the purchase row, the entitlement. The
    amount is the price the client confirmed (checked above against the same read)."""
    gift = recipient_id != buyer.pk
    amount = pack.price_amount
    creator_amount, platform_amount = split(amount=amount, share_bps=pack.creator.revenue_share_bps)
    try:
        with transaction.atomic():
            entry_id = None
            if amount:
                wallet, creator, revenue = _purchase_accounts(
                    buyer_id=buyer.pk, creator_id=pack.creator_id, currency=pack.currency
                )
                entry = ledger.post_entry(
                    kind="store.gift" if gift else "store.purchase",
                    postings=[
                        (wallet, -amount),
                        (creator, creator_amount),
                        (revenue, platform_amount),
                    ],
                    reference=f"store.pack:{pack.pk}",
                    metadata={
                        "pack_id": pack.pk,
                        "buyer_id": buyer.pk,
                        "recipient_id": recipient_id,
                    },
                )
                entry_id = entry.pk
                wallet_changed(user_ids=[buyer.pk], currency=pack.currency)
            purchase = Purchase.objects.create(
                buyer_id=buyer.pk,
                recipient_id=recipient_id,
                pack=pack,
                amount=amount,
                currency=pack.currency,
                creator_amount=creator_amount,
                platform_amount=platform_amount,
                entry_id=entry_id,
            )
            # The unique (user, pack) constraint is the last word on a concurrent second
            # purchase: its IntegrityError rolls this whole block back, money included.
            Entitlement.objects.create(user_id=recipient_id, pack=pack, purchase=purchase)
            _count_popularity(pack.pk)
            if gift:
                push_to_user(
                    recipient_id,
                    {
                        "type": "store.gift_received",
                        "purchase_id": purchase.pk,
                        "pack": {"id": pack.pk, "title": pack.title},
                        "from": people.public_profile(buyer),
                    },
                )
    except IntegrityError:
        if Entitlement.objects.filter(user_id=recipient_id, pack=pack).exists():
            raise _already_owned()
        raise
    return purchase


def pack_claim_free(*, user, pack_id: int) -> Purchase:
    """Add a free published pack to the person's packs; no money moves."""
    return pack_purchase(buyer=user, pack_id=pack_id, expected_price=0)


class RefundFailed(DomainError):
    code = "refund_failed"


@ledger.retry_on_conflict
def purchase_refund(*, purchase_id: int, reason: str = "", acting_user=None) -> Purchase:
    """Undo a purchase: a new ledger entry reverses every posting of the original one, and
    the recipient loses the pack. Refunding twice is refused (409 `already_refunded`)."""
    with transaction.atomic():
        purchase = Purchase.objects.select_for_update().filter(pk=purchase_id).first()
        if purchase is None:
            raise NotFound("No such purchase.")
        if purchase.status == Purchase.Status.REFUNDED:
            raise Conflict("This purchase was already refunded.", code="already_refunded")
        if purchase.entry_id is not None:
            original = list(
                ledger.Posting.objects.filter(entry_id=purchase.entry_id)
                .order_by("id")
                .values_list("account_id", "amount")
            )
            try:
                refund = ledger.post_entry(
                    kind="store.refund",
                    postings=[(account_id, -amount) for account_id, amount in original],
                    idempotency_key=f"store.refund:{purchase.pk}",
                    reference=f"store.purchase:{purchase.pk}",
                    metadata={"purchase_id": purchase.pk, "reversal_of": purchase.entry_id},
                )
            except ledger.InsufficientFunds:
                raise RefundFailed(
                    "The creator's or platform's account no longer holds this money; "
                    "settle it by hand."
                )
            purchase.refund_entry_id = refund.pk
        Entitlement.objects.filter(purchase=purchase).delete()
        purchase.status = Purchase.Status.REFUNDED
        purchase.refunded_at = timezone.now()
        purchase.refund_reason = (reason or "").strip()[:500]
        purchase.save(update_fields=["status", "refunded_at", "refund_reason", "refund_entry_id"])
        Pack.objects.filter(pk=purchase.pack_id, popularity__gt=0).update(
            popularity=F("popularity") - 1
        )
        if purchase.amount:
            wallet_changed(user_ids=[purchase.buyer_id], currency=purchase.currency)
            push_to_user(
                purchase.buyer_id,
                {
                    "type": "store.purchase_refunded",
                    "purchase_id": purchase.pk,
                    "pack_id": purchase.pack_id,
                    "amount": purchase.amount,
                    "currency": purchase.currency,
                },
            )
    return purchase


def pack_popularity_recount() -> int:
    """Set every pack's popularity to its number of owners (a beat job). The per-purchase
    increment runs after commit and could be lost with its process; this heals it."""
    owners = (
        Entitlement.objects.filter(pack_id=OuterRef("pk"))
        .order_by()
        .values("pack_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    counted = Coalesce(Subquery(owners), 0)
    return (
        Pack.objects.annotate(owners=counted)
        .exclude(popularity=F("owners"))
        .update(popularity=counted)
    )
