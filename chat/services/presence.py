"""Presence writes: the last time someone was seen (the live counter is chat.presence)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone

from .stream import iso


def last_seen_record(*, user_id: int) -> str | None:
    """Called when a person's last socket closes; returns the RFC 3339 time."""
    now = timezone.now()
    get_user_model().objects.filter(pk=user_id).update(last_seen_at=now)
    return iso(now)
