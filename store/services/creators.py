"""Creators: a profile, packs in draft, stickers uploaded into them, a submission."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from config.errors import Conflict, InvalidInput, NotFound

from ..catalogue_cache import catalogue_changed
from ..images import CheckedImage
from ..models import CreatorProfile, Pack, Sticker

EDITABLE = (Pack.Status.DRAFT, Pack.Status.REJECTED)
MAX_STICKERS_PER_PACK = 48


def _search_text(title: str, tags: list[str]) -> str:
    return " ".join([title, *tags]).lower()[:600]


def creator_profile_upsert(*, user, display_name: str, bio: str = "") -> CreatorProfile:
    with transaction.atomic():
        profile, created = CreatorProfile.objects.select_for_update().get_or_create(
            user=user, defaults={"display_name": display_name, "bio": bio}
        )
        if not created:
            profile.display_name = display_name
            profile.bio = bio
            profile.save(update_fields=["display_name", "bio"])
    return profile


def creator_of(user) -> CreatorProfile:
    profile = CreatorProfile.objects.filter(user=user, is_active=True).first()
    if profile is None:
        raise NotFound("You have no creator profile.", code="not_a_creator")
    return profile


def _own_pack_for_update(*, creator: CreatorProfile, pack_id: int) -> Pack:
    pack = Pack.objects.select_for_update().filter(pk=pack_id, creator=creator).first()
    if pack is None:
        raise NotFound("No such pack.")
    return pack


def pack_create(
    *,
    creator: CreatorProfile,
    title: str,
    description: str = "",
    category: str = "",
    tags: list[str] | None = None,
    price_amount: int = 0,
    currency: str = "USD",
    cover: CheckedImage | None = None,
) -> Pack:
    tags = [t.strip().lower() for t in (tags or []) if t.strip()]
    with transaction.atomic():
        pack = Pack(
            creator=creator,
            title=title,
            description=description,
            category=category.strip().lower(),
            tags=tags,
            search_text=_search_text(title, tags),
            price_amount=price_amount,
            currency=currency.upper(),
        )
        if cover is not None:
            pack.cover.save(
                f"{uuid.uuid4().hex}.{cover.extension}", ContentFile(cover.data), save=False
            )
        pack.save()
    return pack


def pack_update(*, creator: CreatorProfile, pack_id: int, **changes) -> Pack:
    """Edit a pack. Drafts and rejected packs take any change; a published pack only a new
    price (buyers who saw the old one get 409 `price_changed`)."""
    allowed = {"title", "description", "category", "tags", "price_amount", "currency"}
    changes = {k: v for k, v in changes.items() if k in allowed}
    with transaction.atomic():
        pack = _own_pack_for_update(creator=creator, pack_id=pack_id)
        price_only = pack.status == Pack.Status.PUBLISHED and not set(changes) - {"price_amount"}
        if pack.status not in EDITABLE and not price_only:
            raise Conflict(
                "Only the price of a published pack can change; other edits need a draft.",
                code="pack_not_editable",
            )
        if "tags" in changes:
            changes["tags"] = [t.strip().lower() for t in changes["tags"] if t.strip()]
        if "category" in changes:
            changes["category"] = changes["category"].strip().lower()
        if "currency" in changes:
            changes["currency"] = changes["currency"].upper()
        for k, v in changes.items():
            setattr(pack, k, v)
        pack.search_text = _search_text(pack.title, pack.tags)
        pack.updated_at = timezone.now()
        pack.save(update_fields=[*changes, "search_text", "updated_at"])
        if pack.status == Pack.Status.PUBLISHED:
            catalogue_changed()
    return pack


def sticker_add(
    *, creator: CreatorProfile, pack_id: int, image: CheckedImage, emoji: str = ""
) -> Sticker:
    from ..tasks import sticker_make_thumbnail

    with transaction.atomic():
        pack = _own_pack_for_update(creator=creator, pack_id=pack_id)
        if pack.status not in EDITABLE:
            raise Conflict("Stickers can be added to drafts only.", code="pack_not_editable")
        facts = pack.stickers.aggregate(n=Count("id"), last=Max("position"))
        count = facts["n"]
        if count >= MAX_STICKERS_PER_PACK:
            raise InvalidInput(
                f"A pack holds at most {MAX_STICKERS_PER_PACK} stickers.", code="pack_full"
            )
        sticker = Sticker(
            pack=pack,
            emoji=emoji,
            position=(facts["last"] or 0) + 1,
            format=image.format,
            width=image.width,
            height=image.height,
            size_bytes=len(image.data),
            is_animated=image.is_animated,
        )
        sticker.image.save(
            f"{uuid.uuid4().hex}.{image.extension}", ContentFile(image.data), save=False
        )
        sticker.save()
        sticker_id = sticker.pk
        transaction.on_commit(lambda: sticker_make_thumbnail.delay(sticker_id))
    return sticker


def sticker_remove(*, creator: CreatorProfile, pack_id: int, sticker_id: int) -> None:
    with transaction.atomic():
        pack = _own_pack_for_update(creator=creator, pack_id=pack_id)
        if pack.status not in EDITABLE:
            raise Conflict("Stickers can be removed from drafts only.", code="pack_not_editable")
        sticker = pack.stickers.filter(pk=sticker_id).first()
        if sticker is None:
            raise NotFound("No such sticker.")
        names = [sticker.image.name, sticker.thumbnail.name]
        sticker.delete()
        storage = sticker.image.storage
        transaction.on_commit(lambda: [storage.delete(n) for n in names if n])


def pack_submit(*, creator: CreatorProfile, pack_id: int) -> Pack:
    """Draft (or rejected) → in review. The pack's `animated` flag follows its stickers."""
    minimum = getattr(settings, "STORE_PACK_MIN_STICKERS", 1)
    with transaction.atomic():
        pack = _own_pack_for_update(creator=creator, pack_id=pack_id)
        if pack.status not in EDITABLE:
            raise Conflict(f"A {pack.status} pack cannot be submitted.", code="pack_not_editable")
        stickers = list(pack.stickers.values_list("is_animated", flat=True))
        if len(stickers) < minimum:
            raise InvalidInput(
                f"A pack needs at least {minimum} sticker(s) before review.",
                code="pack_too_small",
            )
        pack.animated = any(stickers)
        pack.status = Pack.Status.IN_REVIEW
        pack.rejection_reason = ""
        pack.updated_at = timezone.now()
        pack.save(update_fields=["animated", "status", "rejection_reason", "updated_at"])
    return pack


def sticker_thumbnail_make(*, sticker_id: int) -> bool:
    """Make the thumbnail once; a second run (a retried task) finds it and does nothing."""
    from ..images import make_thumbnail

    sticker = Sticker.objects.filter(pk=sticker_id).first()
    if sticker is None or sticker.thumbnail:
        return False
    with sticker.image.open("rb") as f:
        data = f.read()
    thumb = make_thumbnail(data)
    name = sticker.thumbnail.storage.save(
        sticker.thumbnail.field.generate_filename(sticker, f"{uuid.uuid4().hex}.png"),
        ContentFile(thumb),
    )
    with transaction.atomic():
        updated = Sticker.objects.filter(pk=sticker_id, thumbnail="").update(thumbnail=name)
        if updated and sticker.pack.status == Pack.Status.PUBLISHED:
            catalogue_changed()
    if not updated:  # another run won: keep its file, drop ours
        sticker.thumbnail.storage.delete(name)
    return bool(updated)


def pack_cover_set(*, creator: CreatorProfile, pack_id: int, cover: CheckedImage) -> Pack:
    """Replace a draft's cover (the old file goes after commit)."""
    with transaction.atomic():
        pack = _own_pack_for_update(creator=creator, pack_id=pack_id)
        if pack.status not in EDITABLE:
            raise Conflict("Only a draft's cover can change.", code="pack_not_editable")
        old = pack.cover.name
        pack.cover.save(
            f"{uuid.uuid4().hex}.{cover.extension}", ContentFile(cover.data), save=False
        )
        pack.updated_at = timezone.now()
        pack.save(update_fields=["cover", "updated_at"])
        storage = pack.cover.storage
        if old:
            transaction.on_commit(lambda: storage.delete(old))
    return pack


def pack_delete(*, creator: CreatorProfile, pack_id: int) -> None:
    """Delete a pack that was never on sale (draft or rejected) with its files."""
    with transaction.atomic():
        pack = _own_pack_for_update(creator=creator, pack_id=pack_id)
        if pack.status not in EDITABLE or pack.published_at is not None:
            raise Conflict(
                "Only a draft that was never published can be deleted.", code="pack_not_editable"
            )
        names = [pack.cover.name]
        for sticker in pack.stickers.all():
            names += [sticker.image.name, sticker.thumbnail.name]
        storage = pack.cover.storage
        pack.delete()
        transaction.on_commit(lambda: [storage.delete(n) for n in names if n])
