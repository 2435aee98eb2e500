"""Group commit: store many `message.send` frames in one database round trip.

The WebSocket edge of one process hands its plain sends (text and location, no
`reply_to_seq`; see `messages.prepare_send`) to one batcher (`chat.sendqueue`), which
passes whatever arrived while the previous batch was being written to `send_many`.
Per batch, whatever its size:

1. one SELECT reads the active members of every conversation in the batch, with a
   blocked flag for direct chats (proves each sender is a member, gives the fan-out list);
2. one Redis round trip counts every sender's hit on the shared per-person send limit
   (one Lua call) and reads everyone's presence counter (offline pushes; and a sender
   whose only socket is the sending one gets no copy of their own message);
3. one statement (autocommit, so one transaction) locks the conversations in id order,
   advances `last_seq`/`last_event_seq` by the number of messages each got, inserts every
   message and its `message.new` stream event, and moves each sender's read mark. Seqs stay
   gapless and in commit order per conversation, exactly as with `stream.bump`: the
   conversation row lock is taken by the same statement that reserves the seqs.

Anything off the happy path leaves the batch and goes through `messages.message_send`
one by one, which raises the usual errors: a sender who is not a member, a blocked pair,
and — because the whole statement rolls back — every item of a batch that hit a unique
constraint (a retried `client_id`: the per-message path returns the first message, or 409)
or any other database error. So idempotency, 404s and `cannot_message` behave exactly as
on the one-message path; only the happy path is batched.

PostgreSQL only (the statement uses data-modifying CTEs and arrays); elsewhere the
batcher sends one by one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, connection
from django.utils import timezone

from config.bulk import execute_bound

from .. import rediskit
from ..models import Message
from . import stream


@dataclass(slots=True)
class Outgoing:
    """One validated client send (see `messages.prepare_send`)."""

    sender_id: int
    conversation_id: int
    client_id: str
    kind: str
    text: str
    payload: dict
    mentions: list[int]
    skip_channel: str | None = None
    # Filled by send_many: the stored message, or the error to report, or both unset
    # when the item must go through the one-message path.
    message: Message | None = None
    error: Exception | None = None
    rate_counted: bool = False
    recipients: list[int] = field(default_factory=list)
    frame: dict | None = None


# Both statements live in PL/pgSQL functions (migration 0008): prepared and planned once
# per connection, not parsed and planned on every batch (that was more of PostgreSQL's CPU
# than running them). chat_send_batch locks the batch's conversations in id order, so two
# batches never deadlock, and reserves the seqs under those locks.
MEMBERS_SQL = "SELECT * FROM chat_send_members(%s::bigint[])"
WRITE_SQL = (
    "SELECT * FROM chat_send_batch(%s::bigint[], %s::bigint[], %s::text[], %s::text[],"
    " %s::text[], %s::jsonb[], %s::jsonb[], %s::int[], %s::timestamptz)"
)


def _execute(sql: str, params: list) -> list[tuple]:
    """One statement with server-side binding (`config.bulk.execute_bound`: psycopg's own
    cursor; Django's binds client-side, quoting every array element into the SQL text),
    behaving like a Django cursor otherwise: psycopg's errors surface as django.db's, and
    the statement shows in the query log when Django keeps one (DEBUG, query counts)."""
    started = time.monotonic()
    with connection.wrap_database_errors:
        rows = execute_bound(sql, params)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


def send_many(items: list[Outgoing]) -> None:
    """Store `items` (see the module doc); sets `message`/`recipients`/`frame` or `error`
    on each, or leaves both unset for the caller to send it one by one."""
    from ..presence import presence_key
    from ..ratelimits import check_send_rates

    conv_ids = sorted({i.conversation_id for i in items})
    members: dict[int, list[tuple[int, bool, bool]]] = {}
    rows = _execute(MEMBERS_SQL, [conv_ids])
    for conv, user, muted, blocked in rows:
        members.setdefault(conv, []).append((user, muted, blocked))
    # One Redis round trip: every sender's hit on the send limit, and the presence of
    # everyone concerned (offline pushes; whether a sender has other devices online).
    people = sorted({u for ms in members.values() for u, _m, _b in ms})
    errors, counts = check_send_rates(
        [i.sender_id for i in items], also_mget=[presence_key(u) for u in people]
    )
    if rediskit.client() is None:  # the local-memory cache: ask presence itself
        from ..presence import online_users

        online = online_users(people)
        sockets = {u: (2 if u in online else 0) for u in people}
    else:
        sockets = {u: int(v or 0) for u, v in zip(people, counts, strict=True)}
    for item, error in zip(items, errors, strict=True):
        item.error = error
        item.rate_counted = True
    live = [i for i in items if i.error is None]
    if not live:
        return
    ok = []
    for item in live:
        mine = next(
            (m for m in members.get(item.conversation_id, ()) if m[0] == item.sender_id), None
        )
        if mine is not None and not mine[2]:
            ok.append(item)
        # else: not a member or blocked: the one-message path raises the right error.
    if not ok:
        return
    ords: dict[int, int] = {}
    cols: list[list] = [[], [], [], [], [], [], [], []]
    for item in ok:
        n = ords[item.conversation_id] = ords.get(item.conversation_id, 0) + 1
        for col, value in zip(
            cols,
            (
                item.conversation_id,
                item.sender_id,
                item.client_id,
                item.kind,
                item.text,
                json.dumps(item.payload),
                json.dumps(item.mentions),
                n,
            ),
            strict=True,
        ):
            col.append(value)
    now = timezone.now()
    try:
        rows = _execute(WRITE_SQL, [*cols, now])
    except DatabaseError:
        # A retried client_id (unique constraint) or a lock/serialisation failure: the
        # statement rolled back as a whole. Every item goes the one-message way, which
        # returns the first message for a retry, or 409.
        return
    stored = {(conv, seq): pk for pk, conv, seq in rows}
    # Each conversation's seqs are consecutive in arrival order: its first seq + ord - 1.
    first_seq: dict[int, int] = {}
    for conv, seq in stored:
        first_seq[conv] = min(first_seq.get(conv, seq), seq)
    for item, n in zip(ok, cols[7], strict=True):
        seq = first_seq[item.conversation_id] + n - 1
        message = Message(
            id=stored[(item.conversation_id, seq)],
            conversation_id=item.conversation_id,
            seq=seq,
            sender_id=item.sender_id,
            client_id=item.client_id,
            kind=item.kind,
            text=item.text,
            payload=item.payload,
            reply_to_seq=None,
            mentions=item.mentions,
            created_at=now,
        )
        item.message = message
        item.recipients = [m[0] for m in members[item.conversation_id]]
        item.frame = {
            "type": "message.new",
            "conversation_id": item.conversation_id,
            "message": stream.render_message(message),
        }
        if sockets.get(item.sender_id, 0) <= 1:
            # The sending socket is the sender's only one: it gets the ack, so nobody of
            # theirs needs the push. (A device connecting right now counts itself before
            # it takes its sync cursor, which then already covers this committed message.)
            item.recipients = [u for u in item.recipients if u != item.sender_id]
    _notify_offline(ok, members, sockets)


def _notify_offline(items: list[Outgoing], members: dict, sockets: dict[int, int]) -> None:
    """As `messages._notify_offline_on_commit`, from the presence read with the batch."""
    from ..tasks import push_offline

    for item in items:
        offline = [
            u
            for u, muted, _b in members[item.conversation_id]
            if u != item.sender_id and not muted and sockets.get(u, 0) <= 0
        ]
        if offline:
            push_offline.delay(item.message.pk, offline)
