"""Bulk delivery into `brand` conversations (official accounts), for brands/.

A campaign writes one message into each of thousands of one-person brand conversations.
Going through `message_send` would cost a lock, an UPDATE and three INSERTs per person;
here a whole batch costs one locking SELECT, one UPDATE … RETURNING that reserves every
conversation's next seq and event_seq at once, and two bulk INSERTs (messages, stream
events) — inside the caller's transaction, so brands/ can write its delivery rows in the
same commit. Seqs stay gapless per conversation because every writer (this module and
`stream.bump`) advances the counters under the conversation's row lock.

Brand messages have no sender user (`sender_id` NULL); `payload.brand_id` names the brand.
Pushes go after commit, only to people with a connected device (presence); offline people
read them on their next sync like any other message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from config.bulk import execute_bound, insert_rows

from ..models import ChatEvent, Conversation, Membership, Message
from . import stream
from .conversations import brand_conversation_create

BRAND_KINDS = {"text", "offer", "system"}


@dataclass(frozen=True)
class BrandMessage:
    user_id: int
    conversation_id: int
    kind: str
    text: str
    payload: dict = field(default_factory=dict)


def brand_conversation_open(*, title: str, avatar_url: str = "", user_id: int) -> int:
    """A new `brand` conversation holding one person; returns its id."""
    return brand_conversation_create(title=title, avatar_url=avatar_url, member_ids=[user_id]).pk


def deliver_bulk(
    *, brand_id: int, messages: list[BrandMessage], now: dt.datetime | None = None
) -> dict[int, tuple[int, int]]:
    """Write one message per (distinct) conversation; returns {user_id: (message_id, seq)}.
    Must run inside the caller's `transaction.atomic()`."""
    if not messages:
        return {}
    now = now or timezone.now()
    by_conv = {m.conversation_id: m for m in messages}
    if len(by_conv) != len(messages):
        raise ValueError("one message per conversation per call")
    for m in messages:
        if m.kind not in BRAND_KINDS:
            raise ValueError(f"brand messages are {sorted(BRAND_KINDS)}")
    ids = sorted(by_conv)
    table = Conversation._meta.db_table
    counters: dict[int, tuple[int, int]] = {}
    # Table name from the model, values as parameters.
    if connection.vendor == "postgresql":
        # One array parameter, bound server-side: no per-id placeholders to quote.
        execute_bound(
            f"SELECT id FROM {table} WHERE id = ANY(%s) AND kind = 'brand' ORDER BY id FOR UPDATE",  # noqa: S608
            [ids],
            fetch=False,
        )
        rows = execute_bound(
            f"UPDATE {table} SET last_seq = last_seq + 1, last_event_seq = last_event_seq + 1,"  # noqa: S608
            " last_message_at = %s WHERE id = ANY(%s) AND kind = 'brand'"
            " RETURNING id, last_seq, last_event_seq",
            [now, ids],
        )
        for conv_id, seq, event_seq in rows:
            counters[conv_id] = (seq, event_seq)
    else:
        bump_sql = (
            f"UPDATE {table} SET last_seq = last_seq + 1, last_event_seq = last_event_seq + 1,"  # noqa: S608
            " last_message_at = %s WHERE id IN ({}) AND kind = 'brand'"
            " RETURNING id, last_seq, last_event_seq"
        )
        with connection.cursor() as cur:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                cur.execute(bump_sql.format(",".join(["%s"] * len(chunk))), [now, *chunk])
                for conv_id, seq, event_seq in cur.fetchall():
                    counters[conv_id] = (seq, event_seq)
    if len(counters) != len(ids):
        raise ValueError("not every conversation is a brand conversation")
    # Two INSERTs for the whole batch (config.bulk: unnest arrays on PostgreSQL).
    message_rows = [
        (
            conv_id,
            counters[conv_id][0],
            None,
            "",
            by_conv[conv_id].kind,
            by_conv[conv_id].text,
            {**by_conv[conv_id].payload, "brand_id": brand_id},
            now,
        )
        for conv_id in ids
    ]
    inserted = insert_rows(
        Message,
        [
            "conversation_id",
            "seq",
            "sender_id",
            "client_id",
            "kind",
            "text",
            "payload",
            "created_at",
        ],
        message_rows,
        returning=["id", "conversation_id"],
    )
    message_id = {conv_id: mid for mid, conv_id in inserted}
    insert_rows(
        ChatEvent,
        ["conversation_id", "event_seq", "type", "message_id", "data", "created_at"],
        [
            (conv_id, counters[conv_id][1], "message.new", message_id[conv_id], {}, now)
            for conv_id in ids
        ],
    )
    user_of = {c: by_conv[c].user_id for c in ids}
    _push_after_commit(message_rows, message_id, counters, user_of)
    return {user_of[c]: (message_id[c], counters[c][0]) for c in ids}


def _push_after_commit(message_rows, message_id: dict, counters: dict, user_of: dict) -> None:
    """After commit, `message.new` to the people with a connected device (presence); the
    frame is the one sync would replay, rendered without reading the rows back."""

    def push():
        from config.realtime import publish_now

        from ..presence import online_users

        online = online_users(user_of.values())
        if not online:
            return
        for conv_id, seq, _sender, _cid, kind, text, payload, created_at in message_rows:
            uid = user_of[conv_id]
            if uid not in online:
                continue
            message = Message(
                pk=message_id[conv_id],
                conversation_id=conv_id,
                seq=seq,
                sender_id=None,
                client_id="",
                kind=kind,
                text=text,
                payload=payload,
                created_at=created_at,
            )
            event = ChatEvent(
                conversation_id=conv_id,
                event_seq=counters[conv_id][1],
                type="message.new",
                message=message,
                data={},
            )
            publish_now([uid], stream.render_event(event))

    transaction.on_commit(push)


def read_through(*, conversation_id, user_id, seq):
    """A queryset (for `Exists`) that is non-empty when the person has read up to `seq`
    in the conversation — brands' funnel counts reads with it, in SQL."""
    return Membership.objects.filter(
        conversation_id=conversation_id, user_id=user_id, last_read_seq__gte=seq
    )


def last_person_message_at(*, conversation_id: int, user_id: int) -> dt.datetime | None:
    """When the person last wrote in their brand conversation (customer-service window)."""
    return (
        Message.objects.filter(conversation_id=conversation_id, sender_id=user_id)
        .order_by("-seq")
        .values_list("created_at", flat=True)
        .first()
    )


def is_member(*, conversation_id: int, user_id: int) -> bool:
    return Membership.objects.filter(
        conversation_id=conversation_id, user_id=user_id, left_at__isnull=True
    ).exists()
