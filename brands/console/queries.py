"""Console-only reads: dashboard aggregates for one brand (no per-person data)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from brands.models import Campaign, Follow, OfferClaim

IN_FLIGHT = [Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED]


def dashboard(*, brand, days: int = 30) -> dict:
    now = timezone.now()
    since = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    agg = Follow.objects.filter(brand=brand).aggregate(
        n=Count("id"), opted=Count("id", filter=Q(marketing_opt_in=True))
    )
    new_follows = dict(
        Follow.objects.filter(brand=brand, created_at__gte=since)
        .annotate(d=TruncDate("created_at"))
        .values_list("d")
        .annotate(c=Count("id"))
        .values_list("d", "c")
    )
    money = {
        d: (rev or 0, com or 0)
        for d, rev, com in OfferClaim.objects.filter(
            brand=brand, redeemed_at__gte=since, attributed=True
        )
        .annotate(d=TruncDate("redeemed_at"))
        .values("d")
        .annotate(r=Sum("net_paid_minor"), c=Sum("commission_minor"))
        .values_list("d", "r", "c")
    }
    day_keys = [(since + dt.timedelta(days=i)).date() for i in range(days)]
    return {
        "followers": agg["n"],
        "opt_in_rate": (agg["opted"] / agg["n"]) if agg["n"] else None,
        "in_flight": Campaign.objects.filter(brand=brand, status__in=IN_FLIGHT).count(),
        "campaigns": Campaign.objects.filter(brand=brand).count(),
        "new_follows": [(d.strftime("%m-%d"), new_follows.get(d, 0)) for d in day_keys],
        "revenue": [(d.strftime("%m-%d"), money.get(d, (0, 0))[0] / 100) for d in day_keys],
        "revenue_total": sum(v[0] for v in money.values()),
        "commission_total": sum(v[1] for v in money.values()),
        # Shown in major units; minor units / 100 holds for the 2-decimal currencies the
        # brands engine supports today (USD, EUR, ...).
        "revenue_major": sum(v[0] for v in money.values()) / 100,
        "commission_major": sum(v[1] for v in money.values()) / 100,
    }
