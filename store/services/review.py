"""Operators' review of packs (called from Django admin): approve, reject, feature, withdraw."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import Conflict, InvalidInput, NotFound

from ..catalogue_cache import catalogue_changed
from ..models import Pack


def _pack_for_update(pack_id: int) -> Pack:
    pack = Pack.objects.select_for_update().filter(pk=pack_id).first()
    if pack is None:
        raise NotFound("No such pack.")
    return pack


def pack_approve(*, pack_id: int, acting_user=None) -> Pack:
    with transaction.atomic():
        pack = _pack_for_update(pack_id)
        if pack.status not in (Pack.Status.IN_REVIEW, Pack.Status.WITHDRAWN):
            raise Conflict(f"A {pack.status} pack cannot be approved.", code="pack_not_in_review")
        now = timezone.now()
        pack.status = Pack.Status.PUBLISHED
        pack.rejection_reason = ""
        pack.published_at = pack.published_at or now
        pack.updated_at = now
        pack.save(update_fields=["status", "rejection_reason", "published_at", "updated_at"])
        catalogue_changed()
    return pack


def pack_reject(*, pack_id: int, reason: str, acting_user=None) -> Pack:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A rejection needs a reason.", code="reason_required")
    with transaction.atomic():
        pack = _pack_for_update(pack_id)
        if pack.status != Pack.Status.IN_REVIEW:
            raise Conflict(f"A {pack.status} pack cannot be rejected.", code="pack_not_in_review")
        pack.status = Pack.Status.REJECTED
        pack.rejection_reason = reason[:500]
        pack.updated_at = timezone.now()
        pack.save(update_fields=["status", "rejection_reason", "updated_at"])
    return pack


def pack_withdraw(*, pack_id: int, reason: str = "", acting_user=None) -> Pack:
    """Off the shelf. People who own it keep using it (their entitlements stay)."""
    with transaction.atomic():
        pack = _pack_for_update(pack_id)
        if pack.status != Pack.Status.PUBLISHED:
            raise Conflict(f"A {pack.status} pack cannot be withdrawn.", code="pack_not_published")
        pack.status = Pack.Status.WITHDRAWN
        pack.featured = False
        pack.rejection_reason = (reason or "").strip()[:500]
        pack.updated_at = timezone.now()
        pack.save(update_fields=["status", "featured", "rejection_reason", "updated_at"])
        catalogue_changed()
    return pack


def pack_feature(*, pack_id: int, featured: bool = True, acting_user=None) -> Pack:
    with transaction.atomic():
        pack = _pack_for_update(pack_id)
        if featured and pack.status != Pack.Status.PUBLISHED:
            raise Conflict("Only a published pack can be featured.", code="pack_not_published")
        pack.featured = featured
        pack.updated_at = timezone.now()
        pack.save(update_fields=["featured", "updated_at"])
        catalogue_changed()
    return pack
