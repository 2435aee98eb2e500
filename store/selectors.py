"""Reads of the store that other code needs (chat calls `sticker_for_user`)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from .models import Entitlement, Pack, Purchase, Sticker


def file_url(name: str) -> str | None:
    """A public URL for a stored file name, through whichever storage is configured."""
    return default_storage.url(name) if name else None


def sticker_public(sticker: Sticker) -> dict:
    image = file_url(sticker.image.name)
    return {
        "id": sticker.pk,
        "pack_id": sticker.pack_id,
        "emoji": sticker.emoji,
        "image_url": image,
        # Until the Celery task has made the thumbnail, the image stands in for it.
        "thumbnail_url": file_url(sticker.thumbnail.name) or image,
        "width": sticker.width,
        "height": sticker.height,
        "animated": sticker.is_animated,
    }


def sticker_for_user(*, user_id: int, sticker_id: int) -> dict | None:
    """The sticker's public data if `user_id` may send it, else None.

    A person may use a sticker when they own its pack (an entitlement, whatever the pack's
    status now: a withdrawn pack stays usable by those who bought it) or when the pack is
    free and published. One query.
    """
    if isinstance(sticker_id, str) and sticker_id.isascii() and sticker_id.isdigit():
        sticker_id = int(sticker_id)  # a JSON client may send the id as a string
    if isinstance(sticker_id, bool) or not isinstance(sticker_id, int):
        return None
    if not (0 < sticker_id < 2**63):
        return None
    owned = Entitlement.objects.filter(user_id=user_id, pack_id=OuterRef("pack_id"))
    sticker = (
        Sticker.objects.filter(pk=sticker_id)
        .annotate(owned=Exists(owned))
        .filter(Q(owned=True) | Q(pack__status=Pack.Status.PUBLISHED, pack__price_amount=0))
        .only(
            "id",
            "pack_id",
            "emoji",
            "image",
            "thumbnail",
            "width",
            "height",
            "is_animated",
        )
        .first()
    )
    return sticker_public(sticker) if sticker else None


def user_owns_pack(*, user_id: int, pack_id: int) -> bool:
    return Entitlement.objects.filter(user_id=user_id, pack_id=pack_id).exists()


def published_packs() -> QuerySet[Pack]:
    return Pack.objects.filter(status=Pack.Status.PUBLISHED)


def user_entitlements(*, user_id: int, include_hidden: bool = True) -> QuerySet[Entitlement]:
    """A person's packs in the order they arranged (scoped to them: nobody else's)."""
    qs = Entitlement.objects.filter(user_id=user_id).select_related(
        "pack", "pack__creator", "purchase", "purchase__buyer"
    )
    if not include_hidden:
        qs = qs.filter(hidden=False)
    return qs.order_by("position", "id").prefetch_related(
        Prefetch("pack__stickers", queryset=Sticker.objects.order_by("position", "id"))
    )


def pack_purchases_in_categories(*, categories: list[str], buyer_id) -> QuerySet[Purchase]:
    """Completed purchases by `buyer_id` (an id or an `OuterRef`) of packs in any of
    `categories` — brands' segments wrap it in `Exists` to target by taste, in SQL."""
    return Purchase.objects.filter(
        buyer_id=buyer_id, status=Purchase.Status.COMPLETED, pack__category__in=categories
    )
