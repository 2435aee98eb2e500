"""Set-based campaign fan-out into `brand` conversations (official accounts), for brands/.

`brand_delivery.deliver_bulk` takes one `BrandMessage` per person; a campaign batch of
20,000 people carries only two or three distinct messages (variant A, B), so here the
caller passes the few message *templates* and, per person, (user, conversation, template).
On PostgreSQL the whole batch is ONE statement with data-modifying CTEs:

1. lock the batch's conversations in id order (`FOR UPDATE`, the same order every writer
   uses, so two campaigns of one brand running at once cannot deadlock);
2. `UPDATE … RETURNING` reserves every conversation's next `seq` and `event_seq` (the
   counters only ever move under the row lock: seqs stay gapless per conversation);
3. `INSERT … SELECT` the messages from the reserved seqs joined to their template, with
   the template's search document computed once (`chat_search_doc`, chat migration 0008):
   every recipient gets the same text, and the per-row insert trigger only fills in a
   missing document, so it does not run for these rows (it was most of the statement);
4. `INSERT … SELECT` the `message.new` stream events, so `/api/v1/sync` replays them;

and returns (user, conversation, message id, seq, event seq) per person. No per-row
Python objects, no JSON encoded per row; arrays are bound server-side, the id arrays as
one literal each (`config.bulk.int_array`). It must run inside
the caller's `transaction.atomic()` so brands/ can write its delivery rows in the same
commit. SQLite (the embedded shape) falls back to `deliver_bulk`.

Pushes go after commit, only to people with a connected device: one MGET of the batch's
presence keys, then the frames of the connected ones published concurrently.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connection, models, transaction

from config.bulk import execute_bound, int_array

from ..models import ChatEvent, Conversation, Message
from .brand_delivery import BRAND_KINDS, BrandMessage, deliver_bulk

PRESENCE_CHUNK = 5000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    kind: str
    text: str
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    user_id: int
    conversation_id: int
    message_id: int
    seq: int
    event_seq: int
    template: int


def deliver_templates(
    *,
    brand_id: int,
    templates: list[Template],
    recipients: list[tuple[int, int, int]],
    now: dt.datetime,
    push: bool = True,
) -> list[Written]:
    """Write template `t` into conversation `c` for each (user, c, t) of `recipients` (one
    per conversation). Inside the caller's transaction; pushes after its commit."""
    if not recipients:
        return []
    for t in templates:
        if t.kind not in BRAND_KINDS:
            raise ValueError(f"brand messages are {sorted(BRAND_KINDS)}")
    if len({c for _u, c, _t in recipients}) != len(recipients):
        raise ValueError("one message per conversation per call")
    payloads = [{**t.payload, "brand_id": brand_id} for t in templates]
    if connection.vendor != "postgresql":
        got = deliver_bulk(
            brand_id=brand_id,
            messages=[
                BrandMessage(
                    user_id=u,
                    conversation_id=c,
                    kind=templates[t].kind,
                    text=templates[t].text,
                    payload=payloads[t],
                )
                for u, c, t in recipients
            ],
            now=now,
        )
        # deliver_bulk pushes by itself; event seqs are not needed by callers here.
        return [Written(u, c, got[u][0], got[u][1], 0, t) for u, c, t in recipients]
    convs = int_array([c for _u, c, _t in recipients])
    # The statement's row estimates are poor (arrays, CTEs): without this PostgreSQL
    # JIT-compiles it, seconds per batch.
    execute_bound("SET LOCAL jit = off", [], fetch=False)
    rows = execute_bound(
        _fanout_sql(),
        [
            convs,
            int_array([u for u, _c, _t in recipients]),
            int_array([t + 1 for _u, _c, t in recipients]),
            [t.kind for t in templates],
            [t.text for t in templates],
            [json.dumps(p, separators=(",", ":")) for p in payloads],
            convs,
            now,
            now,
            *_defaults(Message, _MESSAGE_COLUMNS),
            now,
            *_defaults(ChatEvent, _EVENT_COLUMNS),
        ],
    )
    if len(rows) != len(recipients):
        raise ValueError("not every conversation is a brand conversation")
    written = [Written(*r[:5], r[5] - 1) for r in rows]
    if push:
        transaction.on_commit(
            lambda: _pusher().submit(_push_logged, written, templates, payloads, now)
        )
    return written


_executor: ThreadPoolExecutor | None = None


def _pusher() -> ThreadPoolExecutor:
    """One background thread per process for pushes: the presence lookup and publishes of
    batch N overlap batch N+1's statement instead of delaying it (pushes are best effort;
    a person who misses one reads the message on their next sync)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brand-push")
    return _executor


def flush_pushes(timeout: float = 60) -> None:
    """Wait for the pushes queued so far (tests, the bench, a worker shutting down)."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout=timeout)


_MESSAGE_COLUMNS = ("conversation_id", "seq", "sender_id", "client_id", "kind", "text")
_MESSAGE_COLUMNS += ("payload", "created_at")
_EVENT_COLUMNS = ("conversation_id", "event_seq", "type", "message_id", "data", "created_at")


def _others(model: type[models.Model], named: tuple[str, ...]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.attname not in named and not f.primary_key]


def _defaults(model: type[models.Model], named: tuple[str, ...]) -> list:
    """The field defaults of the columns the statement does not name (same for every row)."""
    out = []
    for f in _others(model, named):
        value = f.get_default()
        if isinstance(f, models.JSONField):
            out.append(None if value is None else json.dumps(value))
        else:
            out.append(f.get_db_prep_save(value, connection))
    return out


def _column(model: type[models.Model], attname: str) -> str:
    return next(f.column for f in model._meta.concrete_fields if f.attname == attname)


_SQL: str | None = None


def _fanout_sql() -> str:
    global _SQL
    if _SQL is None:
        from config.bulk import _field_type

        q = connection.ops.quote_name
        conv = q(Conversation._meta.db_table)
        msg_others = _others(Message, _MESSAGE_COLUMNS)
        ev_others = _others(ChatEvent, _EVENT_COLUMNS)
        msg_cols = ", ".join(q(_column(Message, a)) for a in _MESSAGE_COLUMNS)
        msg_cols += "".join(f", {q(f.column)}" for f in msg_others)
        msg_defaults = "".join(f", %s::{_field_type(f)}" for f in msg_others)
        ev_cols = ", ".join(q(_column(ChatEvent, a)) for a in _EVENT_COLUMNS)
        ev_cols += "".join(f", {q(f.column)}" for f in ev_others)
        ev_defaults = "".join(f", %s::{_field_type(f)}" for f in ev_others)
        # Identifiers come from the models; every value is a bound parameter.
        _SQL = f"""
        WITH input AS MATERIALIZED (
            SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[]) AS i(conv, usr, tpl)
        ),
        tpl AS MATERIALIZED (
            SELECT t.*,
                   CASE WHEN t.kind <> 'system' AND t.body <> ''
                        THEN chat_search_doc(t.body) END AS doc
            FROM unnest(%s::text[], %s::text[], %s::jsonb[])
                WITH ORDINALITY AS t(kind, body, payload, n)
        ),
        locked AS MATERIALIZED (
            SELECT c.id FROM {conv} c
            WHERE c.id = ANY(%s::bigint[]) AND c.kind = 'brand' ORDER BY c.id FOR UPDATE
        ),
        bumped AS (
            UPDATE {conv} c SET last_seq = c.last_seq + 1,
                                last_event_seq = c.last_event_seq + 1,
                                last_message_at = %s
            WHERE c.id = ANY(ARRAY(SELECT id FROM locked))
            RETURNING c.id, c.last_seq, c.last_event_seq
        ),
        msgs AS (
            INSERT INTO {q(Message._meta.db_table)} ({msg_cols}, search_doc)
            SELECT b.id, b.last_seq, NULL, '', t.kind, t.body, t.payload, %s{msg_defaults},
                   t.doc
            FROM bumped b JOIN input i ON i.conv = b.id JOIN tpl t ON t.n = i.tpl
            RETURNING id, conversation_id, seq
        ),
        events AS (
            INSERT INTO {q(ChatEvent._meta.db_table)} ({ev_cols})
            SELECT m.conversation_id, b.last_event_seq, 'message.new', m.id, '{{}}'::jsonb,
                   %s{ev_defaults}
            FROM msgs m JOIN bumped b ON b.id = m.conversation_id
        )
        SELECT i.usr, m.conversation_id, m.id, m.seq, b.last_event_seq, i.tpl
        FROM msgs m JOIN bumped b ON b.id = m.conversation_id JOIN input i ON i.conv = b.id
        """  # noqa: S608
    return _SQL


def _push_logged(*args) -> None:
    try:
        push_written(*args)
    except Exception:  # best effort: sync is the source of truth
        log.exception("campaign push failed")


def push_written(
    written: list[Written], templates: list[Template], payloads: list[dict], now: dt.datetime
) -> None:
    """After commit (in the push thread): `message.new` to the recipients with a connected device — the frame
    sync would replay, rendered without reading the rows back. Best effort (sync is the
    truth): one MGET per 5,000 people for presence, then one concurrent publish."""
    from config.realtime import publish_each_now

    from . import stream

    online = online_among([w.user_id for w in written])
    frames = []
    for w in written:
        if w.user_id not in online:
            continue
        t = templates[w.template]
        message = Message(
            pk=w.message_id,
            conversation_id=w.conversation_id,
            seq=w.seq,
            sender_id=None,
            client_id="",
            kind=t.kind,
            text=t.text,
            payload=payloads[w.template],
            created_at=now,
        )
        event = ChatEvent(
            conversation_id=w.conversation_id,
            event_seq=w.event_seq,
            type="message.new",
            message=message,
            data={},
        )
        frames.append((w.user_id, stream.render_event(event)))
    if frames:
        publish_each_now(frames)


def online_among(user_ids: list[int]) -> set[int]:
    """Who of `user_ids` has a connected device: chat.presence's MGET, 5,000 keys at a time
    (one command per chunk keeps Redis responsive to everyone else)."""
    from ..presence import online_users

    online: set[int] = set()
    for start in range(0, len(user_ids), PRESENCE_CHUNK):
        online |= online_users(user_ids[start : start + PRESENCE_CHUNK])
    return online
