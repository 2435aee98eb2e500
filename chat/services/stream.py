"""The conversation row lock, the event stream, and delivery after commit.

Every write that other members must hear of goes through `bump` (one UPDATE … RETURNING
that locks the conversation row and advances its counters) and `append` (one bulk insert
into the stream), then `publish` (a push after commit). Sync replays the stream, so a
device that missed the push misses nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from config.errors import NotFound
from config.realtime import push_to_users

from ..models import ChatEvent, Conversation, Message

# Events whose `message` is rendered from the Message row at replay time.
MESSAGE_EVENTS = frozenset({"message.new", "message.edited"})


@dataclass(frozen=True)
class Counters:
    last_seq: int
    last_event_seq: int


def bump(conversation_id: int, *, messages: int = 0, events: int = 1) -> Counters:
    """Lock the conversation row (until commit) and reserve seqs. Must run inside
    `transaction.atomic()`. Everything that writes to a conversation's stream goes through
    here, so seqs and event_seqs are gapless and commit-ordered per conversation."""
    # The table name is fixed (chat_conversation); asserted so a rename cannot slip by.
    assert Conversation._meta.db_table == "chat_conversation"
    now = timezone.now() if messages else None
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE chat_conversation SET last_seq = last_seq + %s, last_event_seq = last_event_seq + %s,"
            " last_message_at = COALESCE(%s, last_message_at)"
            " WHERE id = %s RETURNING last_seq, last_event_seq",
            [messages, events, now, conversation_id],
        )
        row = cur.fetchone()
    if row is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    return Counters(last_seq=row[0], last_event_seq=row[1])


def append(
    conversation_id: int,
    counters: Counters,
    items: Sequence[tuple[str, dict, Message | None]],
) -> list[ChatEvent]:
    """Write `items` (type, data, message) as the last len(items) events reserved by
    `bump`."""
    first = counters.last_event_seq - len(items) + 1
    now = timezone.now()
    events = [
        ChatEvent(
            conversation_id=conversation_id,
            event_seq=first + i,
            type=type_,
            data=data,
            message=message,
            created_at=now,
        )
        for i, (type_, data, message) in enumerate(items)
    ]
    return ChatEvent.objects.bulk_create(events)


def iso(value) -> str | None:
    """RFC 3339 UTC, the same text over WebSocket, REST and sync."""
    if value is None:
        return None
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def render_message(m: Message) -> dict:
    recalled = m.recalled_at is not None
    return {
        "id": m.pk,
        "conversation_id": m.conversation_id,
        "seq": m.seq,
        "client_id": m.client_id or None,
        "sender_id": m.sender_id,
        "kind": m.kind,
        "text": "" if recalled else m.text,
        "payload": {} if recalled else m.payload,
        "reply_to_seq": m.reply_to_seq,
        "mentions": m.mentions,
        "created_at": iso(m.created_at),
        "edited_at": iso(m.edited_at),
        "recalled_at": iso(m.recalled_at),
    }


def render_event(event: ChatEvent) -> dict:
    """The WebSocket frame for a stream event (sync returns exactly this)."""
    out = {"type": event.type, "conversation_id": event.conversation_id, **event.data}
    if event.type in MESSAGE_EVENTS and event.message is not None:
        out["message"] = render_message(event.message)
    return out


def publish(
    user_ids: Iterable[int],
    event: dict,
    *,
    skip_channel: str | None = None,
    private: bool = False,
) -> None:
    """Push after commit to every device of `user_ids`. Conversation events are already in
    the conversation stream; `private` ones (my mute, my delete-for-me) go to the person's
    own stream instead, so sync still replays them."""
    push_to_users(user_ids, event, skip_channel=skip_channel, durable=private)
