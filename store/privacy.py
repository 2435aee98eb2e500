"""The store's part of a person's export and erase (registered with accounts.privacy)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .models import CreatorProfile, Entitlement, Pack, Purchase


def export_user(user) -> dict[str, Any]:
    purchases = Purchase.objects.filter(buyer=user) | Purchase.objects.filter(recipient=user)
    profile = CreatorProfile.objects.filter(user=user).first()
    return {
        "sticker_packs": [
            {
                "pack_id": e.pack_id,
                "title": e.pack.title,
                "hidden": e.hidden,
                "acquired_at": e.created_at,
            }
            for e in Entitlement.objects.filter(user=user)
            .select_related("pack")
            .order_by("position", "id")
        ],
        "purchases": [
            {
                "id": p.pk,
                "pack_id": p.pack_id,
                "buyer_id": p.buyer_id,
                "recipient_id": p.recipient_id,
                "amount": p.amount,
                "currency": p.currency,
                "status": p.status,
                "created_at": p.created_at,
            }
            for p in purchases.order_by("id")
        ],
        "creator_profile": (
            {
                "display_name": profile.display_name,
                "bio": profile.bio,
                "revenue_share_bps": profile.revenue_share_bps,
                "packs": list(profile.packs.values("id", "title", "status", "created_at")),
            }
            if profile
            else None
        ),
    }


def erase_user(user) -> None:
    """The person's library goes; purchases stay (money history) pointing at the tombstone.
    A creator's profile is anonymised and their packs leave the shelf (owners keep them)."""
    Entitlement.objects.filter(user=user).delete()
    profile = CreatorProfile.objects.filter(user=user).first()
    if profile is not None:
        profile.display_name = "Former creator"
        profile.bio = ""
        profile.is_active = False
        profile.save(update_fields=["display_name", "bio", "is_active"])
        live = Pack.objects.filter(creator=profile, status=Pack.Status.PUBLISHED)
        if live.update(status=Pack.Status.WITHDRAWN, featured=False, updated_at=timezone.now()):
            from .catalogue_cache import catalogue_changed

            catalogue_changed()
