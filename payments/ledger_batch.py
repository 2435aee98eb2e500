"""Many independent balanced entries in one transaction (group commit), for callers that
settle thousands of small payments at once (brands' exclusive sales).

    from payments import ledger_batch

    out = ledger_batch.post_entries(kind="brands.sale", entries=[
        ledger_batch.Entry(key="brands.sale:7:42", reference="sale:7:user:42",
                           lines={wallet_42: -1000, sales_shard: 1000}),
        ...
    ])
    out.posted      # {key: entry_id} written now
    out.existing    # {key: entry_id} already posted earlier with the same content
    out.refused     # [key, ...] refused alone: an account would go below zero

Same rules as `ledger.post_entry` (docs/LEDGER.md) — integer amounts, balanced per
currency, idempotency key used once, accounts locked in id order, no non-negative account
below its pending debits — but each entry succeeds or fails *alone*: a buyer without
funds is refused and the others go through. `post_entry` itself is untouched; this module
reuses the ledger's internals (normalising, locking, conflict checks).

On PostgreSQL the whole batch is one locking SELECT over every account involved (id
order), one multi-row INSERT of the entries, one of the postings (each with its running
`balance_after`, computed here in entry order) and one UPDATE of the cached balances. The
deferred balance trigger checks every entry at COMMIT as for single posts. Elsewhere
(SQLite) the entries are posted one by one in savepoints.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from config.bulk import execute_bound, int_array

from . import ledger
from .models import JournalEntry


@dataclass(frozen=True)
class Entry:
    key: str
    reference: str
    lines: dict  # {account_id: signed amount}
    metadata: dict = field(default_factory=dict)


@dataclass
class Outcome:
    posted: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def post_entries(*, kind: str, entries: list[Entry], now: dt.datetime | None = None) -> Outcome:
    """Post every entry that can be posted; must run inside the caller's atomic block."""
    if not transaction.get_connection().in_atomic_block:
        raise ledger.LedgerError("post_entries runs inside the caller's transaction")
    out = Outcome()
    if not entries:
        return out
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise ledger.LedgerError("one entry per idempotency key per batch")
    lines = {e.key: ledger._normalize(e.lines.items()) for e in entries}
    # Replays: an entry whose key is already posted must have the same content.
    replays = JournalEntry.objects.filter(idempotency_key__in=keys)
    if connection.vendor == "postgresql":
        # Asked with the keys bound as ONE array (an IN list of 2,000 keys is quoted
        # into the SQL one by one); the ORM loads only the rare replays.
        found = execute_bound(
            "SELECT id FROM payments_journalentry WHERE idempotency_key = ANY(%s::varchar[])",
            [keys],
        )
        replays = JournalEntry.objects.filter(pk__in=[r[0] for r in found]) if found else []
    for entry in replays:
        ref = next(e.reference for e in entries if e.key == entry.idempotency_key)
        ledger._same_entry_or_conflict(
            entry, kind=kind, lines=lines[entry.idempotency_key], reference=ref
        )
        out.existing[entry.idempotency_key] = entry.pk
    todo = [e for e in entries if e.key not in out.existing]
    if not todo:
        return out
    if connection.vendor != "postgresql":
        for e in todo:
            try:
                with transaction.atomic():
                    entry, _created = ledger._post(
                        kind=kind,
                        lines=lines[e.key],
                        idempotency_key=e.key,
                        reference=e.reference,
                        metadata=e.metadata,
                    )
                out.posted[e.key] = entry.pk
            except ledger.InsufficientFunds:
                out.refused.append(e.key)
        return out
    _post_postgres(kind, todo, lines, out, now or timezone.now())
    return out


_ENTRIES_SQL = """
INSERT INTO payments_journalentry (kind, idempotency_key, reference, metadata, created_at)
SELECT %s, v.key, v.reference, v.metadata, %s
  FROM unnest(%s::varchar[], %s::varchar[], %s::jsonb[]) WITH ORDINALITY AS v(key, reference, metadata, n)
 ORDER BY v.n
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id, idempotency_key
"""

_POSTINGS_SQL = """
INSERT INTO payments_posting (entry_id, account_id, amount, currency, balance_after, created_at)
SELECT v.entry_id, v.account_id, v.amount, v.currency, v.balance_after, %s
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::bigint[])
       WITH ORDINALITY AS v(entry_id, account_id, amount, currency, balance_after, n)
 ORDER BY v.n
"""

_BALANCES_SQL = """
UPDATE payments_account a SET balance = v.balance
  FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, balance)
 WHERE a.id = v.id
"""


@dataclass
class _Locked:
    currency: str
    allow_negative: bool
    balance: int
    pending_debits: int


def _lock_accounts(ids: set[int]) -> dict[int, _Locked]:
    """`ledger._lock_accounts` for thousands of accounts: the same lock in ascending id
    order, but the ids bound as one array and plain rows back (building 2,000 Account
    instances, and quoting 2,000 ids into an IN list, was a sale batch's largest Python
    cost)."""
    wanted = sorted(ids)
    rows = execute_bound(
        "SELECT id, currency, allow_negative, balance, pending_debits FROM payments_account"
        " WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
        [int_array(wanted)],
    )
    if len(rows) != len(wanted):
        raise ledger.LedgerError("unknown account in postings")
    return {r[0]: _Locked(*r[1:]) for r in rows}


def _post_postgres(kind: str, todo: list[Entry], lines: dict, out: Outcome, now) -> None:
    accounts = _lock_accounts({aid for e in todo for aid in lines[e.key]})
    ok: list[Entry] = []
    postings: list[tuple[str, int, int, str, int]] = []  # key, account, amount, cur, after
    for e in todo:
        entry_lines = lines[e.key]
        per_currency: dict[str, int] = {}
        for aid, amount in entry_lines.items():
            cur = accounts[aid].currency
            per_currency[cur] = per_currency.get(cur, 0) + amount
        if any(per_currency.values()):
            raise ledger.LedgerError(f"unbalanced entry {e.key}: {per_currency}")
        short = any(
            amount < 0
            and not accounts[aid].allow_negative
            and accounts[aid].balance + amount < accounts[aid].pending_debits
            for aid, amount in entry_lines.items()
        )
        if short:
            out.refused.append(e.key)
            continue
        for aid, amount in entry_lines.items():
            acc = accounts[aid]
            acc.balance += amount
            postings.append((e.key, aid, amount, acc.currency, acc.balance))
        ok.append(e)
    if not ok:
        return
    rows = execute_bound(
        _ENTRIES_SQL,
        [
            kind,
            now,
            [e.key for e in ok],
            [e.reference for e in ok],
            [json.dumps(e.metadata, separators=(",", ":")) for e in ok],
        ],
    )
    ids = {key: eid for eid, key in rows}
    if len(ids) != len(ok):
        # Another writer posted one of these keys after our replay check: give up the
        # whole batch (the caller's transaction rolls back) rather than guess.
        raise ledger.LedgerConflict(
            "An idempotency key of this batch was posted concurrently; retry the batch.",
            code="entry_posted_concurrently",
        )
    execute_bound(
        _POSTINGS_SQL,
        [
            now,
            # Integer arrays as one literal each (config.bulk.int_array): psycopg dumps a
            # list element by element.
            int_array([ids[p[0]] for p in postings]),
            int_array([p[1] for p in postings]),
            int_array([p[2] for p in postings]),
            [p[3] for p in postings],
            int_array([p[4] for p in postings]),
        ],
        fetch=False,
    )
    changed = sorted({p[1] for p in postings})
    execute_bound(
        _BALANCES_SQL,
        [int_array(changed), int_array([accounts[aid].balance for aid in changed])],
        fetch=False,
    )
    out.posted.update(ids)
