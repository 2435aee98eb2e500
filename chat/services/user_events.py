"""Each person's own event stream: what `config.realtime.push_to_users` delivers outside
conversations (wallet, store, friends, my private chat settings), kept for sync.

Recorded after the business transaction committed, in a small transaction of its own, one
upsert per person (people in id order, so two recorders never deadlock).
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from ..models import UserEvent, UserStream

log = logging.getLogger(__name__)

# Frames that are never worth replaying.
EPHEMERAL = frozenset({"typing", "presence", "presence.state", "pong", "receipt.delivered"})


def _bump(user_id: int) -> int:
    assert UserStream._meta.db_table == "chat_userstream"
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO chat_userstream (user_id, last_seq) VALUES (%s, 1)"
            " ON CONFLICT (user_id) DO UPDATE SET last_seq = chat_userstream.last_seq + 1"
            " RETURNING last_seq",
            [user_id],
        )
        return cur.fetchone()[0]


def record(user_ids: list[int], event: dict) -> None:
    """The durable sink registered with config.realtime (see ChatConfig.ready)."""
    if event.get("type") in EPHEMERAL:
        return
    now = timezone.now()
    with transaction.atomic():
        rows = [
            UserEvent(user_id=uid, seq=_bump(uid), event=event, created_at=now)
            for uid in sorted(set(user_ids))
        ]
        UserEvent.objects.bulk_create(rows)


def user_stream_position(user_id: int) -> int:
    return (
        UserStream.objects.filter(user_id=user_id).values_list("last_seq", flat=True).first() or 0
    )
