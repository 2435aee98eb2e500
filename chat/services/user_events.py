"""Each person's own event stream: what `config.realtime.push_to_users` delivers outside
conversations (wallet, store, friends, my private chat settings), kept for sync.

Recorded after the business transaction committed, in a small transaction of its own: one
statement on PostgreSQL, an upsert per person and a bulk insert elsewhere (people in id
order, so two recorders never deadlock).
"""

from __future__ import annotations

import json
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


# PostgreSQL: the counters and the events in ONE statement, its own transaction when
# none is open (the sink runs after the business commit): one round trip instead of
# BEGIN, an upsert per person, the insert and COMMIT. The array is sorted, so two
# recorders lock stream rows in the same order.
_PG_RECORD = """
WITH s AS (
    INSERT INTO chat_userstream (user_id, last_seq) SELECT unnest(%s::bigint[]), 1
    ON CONFLICT (user_id) DO UPDATE SET last_seq = chat_userstream.last_seq + 1
    RETURNING user_id, last_seq
)
INSERT INTO chat_userevent (user_id, seq, event, created_at)
SELECT user_id, last_seq, %s::jsonb, %s FROM s
"""


def record(user_ids: list[int], event: dict) -> None:
    """The durable sink registered with config.realtime (see ChatConfig.ready)."""
    if event.get("type") in EPHEMERAL:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        assert UserEvent._meta.db_table == "chat_userevent"
        data = json.dumps(event, cls=UserEvent._meta.get_field("event").encoder)
        with connection.cursor() as cur:
            cur.execute(_PG_RECORD, [sorted(set(user_ids)), data, now])
        return
    with transaction.atomic():
        rows = [
            UserEvent(user_id=uid, seq=_bump(uid), event=event, created_at=now)
            for uid in sorted(set(user_ids))
        ]
        UserEvent.objects.bulk_create(rows)


# Several people, each their own event (a transfer's sender and recipient, each with
# their own balances), in ONE statement; the people sorted, as in _PG_RECORD.
_PG_RECORD_EACH = """
WITH f AS (SELECT * FROM unnest(%s::bigint[], %s::text[]) AS f(user_id, event)),
s AS (
    INSERT INTO chat_userstream (user_id, last_seq) SELECT user_id, 1 FROM f
    ON CONFLICT (user_id) DO UPDATE SET last_seq = chat_userstream.last_seq + 1
    RETURNING user_id, last_seq
)
INSERT INTO chat_userevent (user_id, seq, event, created_at)
SELECT s.user_id, s.last_seq, f.event::jsonb, %s FROM s JOIN f USING (user_id)
"""


def record_each(frames: list[tuple[int, dict]]) -> None:
    """`record` of a different event per person (`[(user_id, event), …]`), for
    `config.realtime.push_each_to_users`: on PostgreSQL one statement for all of them."""
    frames = sorted(
        ((uid, event) for uid, event in frames if event.get("type") not in EPHEMERAL),
        key=lambda f: f[0],
    )
    ids = [uid for uid, _ in frames]
    if connection.vendor != "postgresql" or len(set(ids)) != len(ids) or len(ids) == 1:
        # One person twice would bump one counter twice in one statement: one by one
        # (and one person alone is record's simpler statement).
        for uid, event in frames:
            record([uid], event)
        return
    if not frames:
        return
    encoder = UserEvent._meta.get_field("event").encoder
    with connection.cursor() as cur:
        cur.execute(
            _PG_RECORD_EACH,
            [ids, [json.dumps(e, cls=encoder) for _, e in frames], timezone.now()],
        )


record.record_each = record_each  # type: ignore[attr-defined]  (what config.realtime looks for)


def user_stream_position(user_id: int) -> int:
    return (
        UserStream.objects.filter(user_id=user_id).values_list("last_seq", flat=True).first() or 0
    )
