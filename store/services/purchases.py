"""Getting a pack: claim a free one, buy one from the wallet, gift one to a contact."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from config.errors import Conflict, NotFound

from ..models import Entitlement, Pack, Purchase


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


def _grant(*, user_id: int, pack: Pack, purchase: Purchase | None) -> Entitlement:
    try:
        with transaction.atomic():  # a savepoint: a concurrent claim loses cleanly
            return Entitlement.objects.create(user_id=user_id, pack=pack, purchase=purchase)
    except IntegrityError:
        raise _already_owned()


def _count_popularity(pack_id: int) -> None:
    # After commit and outside the purchase's transaction: the counter is a ranking hint,
    # and keeping its row lock out of the purchase keeps a best-seller from serialising.
    transaction.on_commit(
        lambda: Pack.objects.filter(pk=pack_id).update(popularity=F("popularity") + 1)
    )


def pack_claim_free(*, user, pack_id: int) -> Purchase:
    """Add a free published pack to the person's packs; no money moves."""
    with transaction.atomic():
        pack = _published_pack(pack_id)
        if not pack.is_free:
            raise Conflict(
                "This pack is not free.",
                code="price_changed",
                price=pack.price_amount,
                currency=pack.currency,
            )
        if Entitlement.objects.filter(user=user, pack=pack).exists():
            raise _already_owned()
        purchase = Purchase.objects.create(
            buyer=user, recipient=user, pack=pack, amount=0, currency=pack.currency
        )
        _grant(user_id=user.pk, pack=pack, purchase=purchase)
        _count_popularity(pack.pk)
    return purchase
