"""The brand audit log: who did what, to which campaign/segment/offer/sale, when.

`record()` is called by the brands services (services.py, campaigns.py, sales.py,
invites.py, console/testsend.py) inside the same `transaction.atomic()` as the action, so
the entry commits or rolls back with it; an action taken through the API and one taken in
the console are audited alike. Names are copied into `detail` so the log still reads
right after a campaign is renamed or a member leaves.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from .models import AuditEvent, Brand

Action = AuditEvent.Action


def record(
    *,
    brand: Brand | int,
    actor,
    action: str,
    campaign=None,
    segment=None,
    offer=None,
    sale=None,
    **detail,
) -> AuditEvent:
    if not transaction.get_connection().in_atomic_block:
        # A programming error, not a user's: an entry outside the action's transaction
        # could survive a rolled-back action (or vanish while the action stays).
        raise RuntimeError("audit.record must run inside the action's transaction")
    if campaign is not None:
        detail.setdefault("campaign", campaign.name)
        segment = segment or campaign.segment
    if segment is not None:
        detail.setdefault("segment", segment.name)
    if offer is not None:
        detail.setdefault("offer", offer.title)
    if sale is not None:
        detail.setdefault("sale", sale.title)
    return AuditEvent.objects.create(
        brand_id=brand if isinstance(brand, int) else brand.pk,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        campaign=campaign,
        segment=segment,
        offer=offer,
        sale=sale,
        detail={k: v for k, v in detail.items() if v not in (None, "")},
    )


def events_of(*, brand: Brand, action: str = "") -> QuerySet[AuditEvent]:
    """The brand's log, newest first (the console pages it)."""
    qs = AuditEvent.objects.filter(brand=brand)
    if action:
        qs = qs.filter(action__startswith=action)
    return qs.select_related("actor").order_by("-created_at", "-id")
