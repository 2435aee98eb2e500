"""Group commit for `ledger.post_entry` on PostgreSQL (TigerBeetle-style batching).

A post made outside any transaction is its own transaction, and on the machines we run
on its cost is mostly per statement and per COMMIT, not per posting: the round trip,
Django and psycopg in this process, the server's statement start-up and one WAL flush
(docs/LEDGER.md, "Where the time goes"). So concurrent callers in one process hand their
entry to a queue; the first caller that finds no batch in flight becomes the leader,
takes everything queued (up to `LEDGER_GROUP_COMMIT_MAX` entries) and posts it on its own
connection in ONE call of `payments_ledger_post_batch` (migration 0007). Callers that
arrive meanwhile queue for the next batch, so batches grow exactly when the database is
the bottleneck and a lone caller posts alone without waiting.

What a caller is promised does not change:
- it returns only after the batch's COMMIT (synchronous, durable), with its own answer;
- each entry is judged alone (one that would overdraw is refused, the others posted)
  with the same checks as `payments_ledger_post`, in queue order on running balances;
- accounts are locked in id order, the CHECK constraints and the deferred balance
  trigger still guard what is written;
- idempotency keys are honoured, also twice in one batch (the second answers `exists`).

Inside a transaction `post_entry` keeps the single-entry path: the entry must commit or
roll back with the caller's business rows, which another connection cannot do.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

from config.bulk import execute_bound

from . import ledger

_BATCH_SQL = (
    "SELECT o_status, o_entry_id, o_detail, o_line_balance, o_line_pending "
    "FROM payments_ledger_post_batch(%s::varchar[], %s::varchar[], %s::varchar[], "
    "%s::jsonb[], %s, %s::integer[], %s::bigint[], %s::bigint[])"
)
# A batch is its own transaction, so it can be re-run whole after a deadlock (two batches
# inserting the same two keys in opposite orders) or a serialization failure.
_ATTEMPTS = 5


def enabled() -> bool:
    return bool(getattr(settings, "LEDGER_GROUP_COMMIT", True))


@dataclass(eq=False)
class Request:
    """One caller's entry and, once its batch is done, its answer."""

    kind: str
    lines: dict[int, int]  # {account id: signed amount}, normalized
    key: str | None
    reference: str
    metadata: str  # JSON
    status: str | None = None  # posted | exists | insufficient | unbalanced | unknown_account
    entry_id: int | None = None
    detail: str | None = None
    balances: dict[int, tuple[int, int]] | None = None  # {account id: (balance, pending)}
    created_at: object = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """The per-process queue; one batch in flight at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[Request] = []
        self._flushing = False
        self.batches = 0  # batches flushed (tests and benchmarks read it)
        self.entries = 0

    def submit(self, req: Request) -> Request:
        """Queue `req`, lead or wait, and return it answered (or raise the batch's error)."""
        limit = max(1, int(getattr(settings, "LEDGER_GROUP_COMMIT_MAX", 64)))
        with self._cond:
            self._queue.append(req)
        while True:
            with self._cond:
                while self._flushing and not req.done:
                    self._cond.wait()
                if req.done:
                    break
                self._flushing = True
                batch = self._queue[:limit]
                del self._queue[:limit]
            try:
                _flush(batch)
            except BaseException as exc:
                for r in batch:
                    r.error = exc
            finally:
                with self._cond:
                    for r in batch:
                        r.done = True
                    self.batches += 1
                    self.entries += len(batch)
                    self._flushing = False
                    self._cond.notify_all()
        if req.error is not None:
            raise req.error
        return req


_group = GroupCommit()


def group() -> GroupCommit:
    return _group


def _flush(batch: list[Request]) -> None:
    """Post `batch` in one statement on this thread's connection (autocommit: the
    statement is the transaction) and fill in every request's answer."""
    now = timezone.now()
    line_entry: list[int] = []
    ids: list[int] = []
    amounts: list[int] = []
    for n, r in enumerate(batch, 1):
        for aid, amount in r.lines.items():
            line_entry.append(n)
            ids.append(aid)
            amounts.append(amount)
    params = [
        [r.kind for r in batch],
        [r.key for r in batch],
        [r.reference for r in batch],
        [r.metadata for r in batch],
        now,
        line_entry,
        ids,
        amounts,
    ]
    for attempt in range(_ATTEMPTS):
        try:
            # Server-side binding: the arrays travel as parameters, not quoted into the
            # text. (Not prepared: Django turns psycopg's automatic preparation off; the
            # work inside the PL/pgSQL function uses its own cached plans anyway.)
            with connection.wrap_database_errors:
                ((statuses, entry_ids, details, after, pending),) = execute_bound(
                    _BATCH_SQL, params
                )
            break
        except OperationalError as exc:
            if attempt == _ATTEMPTS - 1 or not ledger._is_retryable(exc):
                raise
            time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
    i = 0
    for n, r in enumerate(batch):
        r.status, r.entry_id, r.detail, r.created_at = statuses[n], entry_ids[n], details[n], now
        k = len(r.lines)
        if r.status == "posted":
            r.balances = {aid: (after[i + j], pending[i + j]) for j, aid in enumerate(r.lines)}
        i += k


def usable() -> bool:
    """Outside any transaction, in autocommit: a batch run on this thread's connection
    is then its own transaction and commits before the callers return. (A connection
    whose autocommit was switched off would leave the batch uncommitted.)"""
    if connection.in_atomic_block:
        return False
    return connection.connection is None or connection.get_autocommit()


def post(*, kind: str, lines: dict[int, int], key: str | None, reference: str, metadata: str):
    """Post one entry through the process's group commit; returns the answered Request.
    Only where `usable()`, on PostgreSQL."""
    if not usable():
        raise RuntimeError("group commit posts outside transactions only, in autocommit")
    return _group.submit(
        Request(kind=kind, lines=lines, key=key, reference=reference, metadata=metadata)
    )
