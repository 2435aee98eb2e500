"""The ledger's public API. Every movement of money in Plaza goes through here.

    from payments import ledger

    wallet = ledger.user_wallet(user_id=alice.id, currency="USD")
    fee = ledger.revenue_account(currency="USD")          # a random shard of the hot account
    ledger.post_entry(
        kind="store.purchase",
        postings=[(wallet, -500), (creator, 450), (fee, 50)],
        idempotency_key=f"purchase:{purchase.id}",
        reference=f"purchase:{purchase.id}",
    )

Rules (see docs/LEDGER.md):
- amounts are signed integers in minor units: negative = debit (money leaves the
  account), positive = credit; the postings of an entry sum to zero per currency;
- `post_entry` locks the touched accounts in id order (SELECT ... FOR UPDATE on
  PostgreSQL), checks that no account that may not go negative would, writes the entry
  and its postings in bulk and updates the cached balances - on PostgreSQL all in ONE
  statement, the `payments_ledger_post` function of migration 0006 (docs/LEDGER.md);
- an idempotency key makes a post safe to repeat: the same key with the same content
  returns the first entry; with other content it is a `LedgerConflict`
  (`entry_exists_with_different_amounts`, ...), as TigerBeetle answers;
- two-phase holds (`hold_create` / `hold_post` / `hold_void`) reserve money on an account
  (its `pending_debits`) for pending transfers and escrow.

Call these inside your own `transaction.atomic()` together with the business row they
pay for; each function is itself atomic (a savepoint when nested).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.errors import Conflict, DomainError

from . import sql_rows
from .models import Account, AccountKind, Hold, HoldStatus, JournalEntry, Posting
from .models.ledger import NEGATIVE_ALLOWED_KINDS

log = logging.getLogger(__name__)

__all__ = [
    "Account",
    "AccountKind",
    "Hold",
    "InsufficientFunds",
    "JournalEntry",
    "LedgerConflict",
    "LedgerError",
    "Posting",
    "account_get",
    "check_currency",
    "hold_create",
    "hold_post",
    "hold_void",
    "ledger_check",
    "lock_accounts",
    "owner_account",
    "post_entry",
    "retry_on_conflict",
    "revenue_account",
    "system_account",
    "system_balance",
    "user_wallet",
]


# --- errors ---------------------------------------------------------------------------


class InsufficientFunds(DomainError):
    status = 422
    code = "insufficient_funds"
    message = "There is not enough money in the wallet."


class LedgerConflict(Conflict):
    """A reused idempotency key with other content, or a hold already resolved."""

    code = "ledger_conflict"


class LedgerError(ValueError):
    """A programming error: an unbalanced entry, a zero amount, mixed currencies."""


# --- accounts -------------------------------------------------------------------------

# System accounts by code. "revenue" is hot (a fee on every payment), so it is sharded.
SYSTEM_CODES: dict[str, str] = {
    "revenue": AccountKind.PLATFORM_REVENUE,
    "stripe_clearing": AccountKind.STRIPE_CLEARING,
    "funding": AccountKind.PLATFORM_FUNDING,
    "escrow": AccountKind.ESCROW,
    "suspense": AccountKind.SUSPENSE,
}
SHARDED_CODES = frozenset({"revenue"})


def check_currency(currency: str) -> str:
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        raise LedgerError(f"not an ISO-4217 currency code: {currency!r}")
    return currency.upper()


# Every column of an account, in `sql_rows.from_row` order.
_ACCOUNT_COLUMNS = sql_rows.columns(Account, "a")
_PG_INSERT_ACCOUNT = f"""
INSERT INTO payments_account AS a
       (kind, currency, owner_id, owner_ref, allow_negative, balance, pending_debits, created_at)
VALUES (%s, %s, %s, %s, %s, 0, 0, %s)
ON CONFLICT DO NOTHING
RETURNING {_ACCOUNT_COLUMNS}
"""  # noqa: S608  (column names come from the model)


def _get_or_create_account(
    *, kind: str, currency: str, owner_id: int | None = None, owner_ref: str = ""
) -> Account:
    currency = check_currency(currency)
    lookup: dict[str, Any] = {"kind": kind, "currency": currency}
    if owner_id is not None:
        lookup["owner_id"] = owner_id
    else:
        lookup.update(owner_id=None, owner_ref=owner_ref)
    # Plain SQL and sql_rows: every payment looks its accounts up, and the ORM's query
    # building cost more than the round trip, raw()'s model building 0.45 ms of CPU per
    # look-up against 0.19 ms (docs/LEDGER.md, "Transfers"). Unique per lookup (constraints).
    if owner_id is not None:
        where, params = "owner_id = %s", [owner_id]
    else:
        where, params = "owner_id IS NULL AND owner_ref = %s", [owner_ref]
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM payments_account a "  # noqa: S608
            f"WHERE kind = %s AND currency = %s AND {where}",
            [str(kind), currency, *params],
        )
        row = cur.fetchone()
    if row is not None:
        return sql_rows.from_row(Account, row)
    allow_negative = kind in NEGATIVE_ALLOWED_KINDS
    if connection.vendor == "postgresql":
        created = _insert_account_pg(
            kind=str(kind),
            currency=currency,
            owner_id=owner_id,
            owner_ref=lookup.get("owner_ref", ""),
            allow_negative=allow_negative,
        )
        if created is not None:
            return created
        return Account.objects.get(**lookup)  # created concurrently
    try:
        with transaction.atomic():
            return Account.objects.create(allow_negative=allow_negative, **lookup)
    except IntegrityError:  # created concurrently
        return Account.objects.get(**lookup)


def _insert_account_pg(
    *, kind: str, currency: str, owner_id: int | None, owner_ref: str, allow_negative: bool
) -> Account | None:
    """Create an account in one statement; None if it exists already (a concurrent
    create won). ON CONFLICT DO NOTHING instead of a savepoint around an INSERT that may
    fail: every first payment to a person makes their wallet (a red packet rush makes 100
    at once), and the savepoint cost two more round trips."""
    with connection.cursor() as cur:
        cur.execute(
            _PG_INSERT_ACCOUNT,
            [kind, currency, owner_id, owner_ref, allow_negative, timezone.now()],
        )
        row = cur.fetchone()
    return None if row is None else sql_rows.from_row(Account, row)


def user_wallet(*, user_id: int, currency: str) -> Account:
    """A person's wallet in `currency` (get-or-create). Never negative."""
    return _get_or_create_account(kind=AccountKind.USER_WALLET, currency=currency, owner_id=user_id)


def owner_account(*, kind: str, owner_ref: str, currency: str) -> Account:
    """An account of a non-person owner, e.g. `owner_account(kind="merchant_settlement",
    owner_ref="merchant:12", currency="USD")` (get-or-create). A user-owned account of
    another kind: pass `owner_ref=f"user:{id}"`."""
    if kind not in AccountKind.values:
        raise LedgerError(f"unknown account kind {kind!r}")
    if not owner_ref:
        raise LedgerError("owner_ref is required")
    return _get_or_create_account(kind=kind, currency=currency, owner_ref=owner_ref)


def revenue_shards() -> int:
    """How many shards the platform revenue account has (LEDGER_HOT_ACCOUNT_SHARDS)."""
    return max(1, int(getattr(settings, "LEDGER_HOT_ACCOUNT_SHARDS", 8)))


def system_account(*, code: str, currency: str, shard: int | None = None) -> Account:
    """The platform's own account `code` ("revenue", "stripe_clearing", "funding",
    "escrow", "suspense"). A sharded code without `shard` gets a random shard."""
    kind = SYSTEM_CODES.get(code)
    if kind is None:
        raise LedgerError(f"unknown system account {code!r}")
    if code in SHARDED_CODES:
        if shard is None:
            shard = random.randrange(revenue_shards())
        ref = f"system:{code}:{shard}"
    else:
        ref = f"system:{code}"
    return _get_or_create_account(kind=kind, currency=currency, owner_ref=ref)


def revenue_account(*, currency: str, shard: int | None = None) -> Account:
    """One shard of the platform revenue account: the hot account every fee goes to.
    Picking a random shard per entry spreads the row locks (docs/LEDGER.md)."""
    return system_account(code="revenue", currency=currency, shard=shard)


def system_balance(*, code: str, currency: str) -> int:
    """The balance of a system account summed over all its shards."""
    kind = SYSTEM_CODES[code]
    total = Account.objects.filter(
        kind=kind, currency=check_currency(currency), owner__isnull=True
    ).filter(Q(owner_ref=f"system:{code}") | Q(owner_ref__startswith=f"system:{code}:"))
    return total.aggregate(s=Coalesce(Sum("balance"), 0))["s"]


def account_get(*, account_id: int) -> Account:
    return Account.objects.get(pk=account_id)


# --- posting --------------------------------------------------------------------------

PostingSpec = tuple[Account | int, int]


def _account_id(account: Account | int) -> int:
    return account if isinstance(account, int) else account.pk


def _normalize(postings: Iterable[PostingSpec]) -> dict[int, int]:
    """Merge postings per account (keeping first-seen order) and validate amounts."""
    lines: dict[int, int] = {}
    for account, amount in postings:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError(f"amounts are integers in minor units, not {amount!r}")
        aid = _account_id(account)
        lines[aid] = lines.get(aid, 0) + amount
    lines = {aid: amt for aid, amt in lines.items() if amt != 0}
    if len(lines) < 2:
        raise LedgerError("an entry needs at least two accounts with non-zero amounts")
    return lines


def _lock_accounts(ids: Iterable[int]) -> dict[int, Account]:
    """Lock the accounts in ascending id order, so two entries touching the same accounts
    always queue instead of deadlocking."""
    wanted = sorted(set(ids))
    rows = list(
        Account.objects.select_for_update()
        .filter(pk__in=wanted)
        .order_by("pk")
        .only("id", "kind", "currency", "allow_negative", "balance", "pending_debits")
    )
    if len(rows) != len(wanted):
        raise LedgerError("unknown account in postings")
    return {a.pk: a for a in rows}


def lock_accounts(*, accounts: Iterable[Account | int]) -> dict[int, Account]:
    """Lock accounts up front, in id order, when a use case must read balances or check a
    limit before posting (e.g. a transfer's daily limit). Returns {id: locked Account}.
    Posting afterwards re-locks them harmlessly (the rows are already held)."""
    return _lock_accounts(_account_id(a) for a in accounts)


def _insert_entry(*, kind: str, key: str | None, reference: str, metadata: dict) -> int | None:
    """INSERT the entry; with a key already used, insert nothing and return None. One
    statement, no savepoint: ON CONFLICT DO NOTHING waits for a concurrent insert of the
    same key to commit or roll back, so exactly one of two racing posts wins."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = JournalEntry._meta.db_table
    jsonb = "::jsonb" if connection.vendor == "postgresql" else ""
    conflict = "ON CONFLICT (idempotency_key) DO NOTHING " if key is not None else ""
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (kind, idempotency_key, reference, metadata, created_at) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s{jsonb}, %s) {conflict}RETURNING id",
            [kind, key, reference, json.dumps(metadata, separators=(",", ":")), now],
        )
        row = cur.fetchone()
    return row[0] if row else None


def _same_entry_or_conflict(
    entry: JournalEntry, *, kind: str, lines: dict[int, int], reference: str
) -> JournalEntry:
    if entry.kind != kind:
        raise LedgerConflict(
            "This idempotency key was used for another kind of entry.",
            code="entry_exists_with_different_kind",
        )
    existing = dict(entry.postings.values_list("account_id", "amount"))
    if set(existing) != set(lines):
        raise LedgerConflict(
            "This idempotency key was used with other accounts.",
            code="entry_exists_with_different_accounts",
        )
    if existing != lines:
        raise LedgerConflict(
            "This idempotency key was used with other amounts.",
            code="entry_exists_with_different_amounts",
        )
    if entry.reference != reference:
        raise LedgerConflict(
            "This idempotency key was used with another reference.",
            code="entry_exists_with_different_reference",
        )
    return entry


def _post(
    *,
    kind: str,
    lines: dict[int, int],
    idempotency_key: str | None,
    reference: str,
    metadata: dict | None,
    release: dict[int, int] | None = None,
) -> tuple[JournalEntry, bool]:
    """Write one entry. Returns (entry, created). Must run inside an atomic block."""
    metadata = metadata or {}
    release = release or {}
    if connection.vendor == "postgresql":
        return _post_postgres(
            kind=kind,
            lines=lines,
            key=idempotency_key,
            reference=reference,
            metadata=metadata,
            release=release,
        )
    entry_id = _insert_entry(kind=kind, key=idempotency_key, reference=reference, metadata=metadata)
    if entry_id is None:
        existing = JournalEntry.objects.get(idempotency_key=idempotency_key)
        return _same_entry_or_conflict(existing, kind=kind, lines=lines, reference=reference), False
    accounts = _lock_and_apply(lines, release)
    now = timezone.now()
    Posting.objects.bulk_create(
        [
            Posting(
                entry_id=entry_id,
                account_id=aid,
                amount=amount,
                currency=accounts[aid].currency,
                balance_after=accounts[aid].balance,
                created_at=now,
            )
            for aid, amount in lines.items()
        ]
    )
    changed = [accounts[aid] for aid in sorted(set(lines) | set(release))]
    fields = ["balance", "pending_debits"] if release else ["balance"]
    Account.objects.bulk_update(changed, fields)
    balances = {aid: (acc.balance, acc.pending_debits) for aid, acc in accounts.items()}
    return _entry(entry_id, kind, idempotency_key, reference, metadata, now, balances), True


def _entry(entry_id, kind, key, reference, metadata, now, balances) -> JournalEntry:
    """The posted entry as its caller gets it; `balances` is {account id: (balance,
    pending debits)} right after the post, for post_entry's callers."""
    entry = JournalEntry(
        id=entry_id,
        kind=kind,
        idempotency_key=key,
        reference=reference,
        metadata=metadata,
        created_at=now,
    )
    entry._balances = balances  # type: ignore[attr-defined]
    return entry


def _lock_and_apply(lines: dict[int, int], release: dict[int, int]) -> dict[int, Account]:
    """Lock the accounts (id order), check the entry balances per currency and that no
    account that may not go negative would; return them with their new balances."""
    accounts = _lock_accounts([*lines, *release])
    per_currency: dict[str, int] = {}
    for aid, amount in lines.items():
        cur = accounts[aid].currency
        per_currency[cur] = per_currency.get(cur, 0) + amount
    if any(per_currency.values()):
        raise LedgerError(f"unbalanced entry: {per_currency}")
    for aid in sorted(set(lines) | set(release)):
        acc = accounts[aid]
        acc.pending_debits -= release.get(aid, 0)
        amount = lines.get(aid, 0)
        acc.balance += amount
        if amount < 0 and not acc.allow_negative and acc.balance < acc.pending_debits:
            raise InsufficientFunds(currency=acc.currency)
    return accounts


# PostgreSQL: the whole post is ONE statement, `payments_ledger_post` (migration 0006):
# key check, account locks in id order, the balance and overdraft checks, the entry, its
# postings and the cached balances. One round trip instead of four, and outside a
# transaction no BEGIN/COMMIT either (a single statement is its own transaction, with the
# deferred balance trigger checked at its end). Business answers come back as a status,
# so the caller's transaction is never aborted and needs no savepoint.
_PG_POST = (
    "SELECT o_status, o_entry_id, o_ids, o_balances, o_pendings, o_detail "
    "FROM payments_ledger_post(%s, %s, %s, %s::jsonb, %s, "
    "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
)


def _dumps(metadata) -> str | None:
    return None if metadata is None else json.dumps(metadata, separators=(",", ":"))


def _raise_for(status: str, detail: str | None) -> None:
    """Map a status of the PostgreSQL ledger functions to the Python exceptions."""
    if status == "insufficient":
        raise InsufficientFunds(currency=detail)
    if status == "unbalanced":
        raise LedgerError(f"unbalanced entry in {detail}")
    if status == "unknown_account":
        raise LedgerError("unknown account in postings")
    if status == "mixed_currencies":
        raise LedgerError("a hold moves money within one currency")
    if status == "already_posted":
        raise LedgerConflict("This hold was already posted.", code="hold_already_posted")
    if status == "already_voided":
        raise LedgerConflict("This hold was already voided.", code="hold_already_voided")
    if status == "not_found":
        raise Hold.DoesNotExist("no such hold")
    raise AssertionError(f"unexpected ledger status {status!r}")


def _post_postgres(*, kind, lines, key, reference, metadata, release):
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(
            _PG_POST,
            [
                kind,
                key,
                reference,
                _dumps(metadata),
                now,
                list(lines),
                list(lines.values()),
                list(release),
                list(release.values()),
            ],
        )
        status, entry_id, ids, balances, pendings, detail = cur.fetchone()
    state = None
    if status == "posted":
        state = {aid: (bal, pend) for aid, bal, pend in zip(ids, balances, pendings, strict=True)}
    return _answer(status, entry_id, detail, state, kind, lines, key, reference, metadata, now)


def _answer(status, entry_id, detail, balances, kind, lines, key, reference, metadata, now):
    """(entry, created) for a post the ledger's SQL judged — alone or in a group-commit
    batch: the replayed entry for `exists`, the exception for a refusal."""
    if status == "exists":
        existing = JournalEntry.objects.get(pk=entry_id)
        return _same_entry_or_conflict(existing, kind=kind, lines=lines, reference=reference), False
    if status != "posted":
        _raise_for(status, detail)
    return _entry(entry_id, kind, key, reference, metadata, now, balances), True


def _post_grouped(*, kind, lines, key, reference, metadata) -> tuple[JournalEntry, bool]:
    from . import ledger_group

    metadata = metadata or {}
    req = ledger_group.post(
        kind=kind, lines=lines, key=key, reference=reference, metadata=_dumps(metadata)
    )
    return _answer(
        req.status,
        req.entry_id,
        req.detail,
        req.balances,
        kind,
        lines,
        key,
        reference,
        metadata,
        req.created_at,
    )


def post_entry_call(
    *,
    kind: str,
    postings: Sequence[PostingSpec],
    idempotency_key: str | None = None,
    reference: str = "",
    metadata: dict | None = None,
    now=None,
) -> tuple[str, list]:
    """PostgreSQL only: `post_entry` as a SQL fragment and its parameters, to run in the
    caller's own statement (`WITH e AS (<fragment>) UPDATE … FROM e …`) when a use case
    writes its business row in the same round trip as the entry. The fragment yields one
    row (o_status, o_entry_id, o_ids, o_balances, o_pendings, o_detail): o_status is
    `posted`, `exists` (the key holds another or the same entry) or a refusal that
    `raise_for_post_status` turns into the usual exception."""
    lines = _normalize(postings)
    return _PG_POST, [
        kind,
        idempotency_key,
        reference,
        _dumps(metadata or {}),
        now or timezone.now(),
        list(lines),
        list(lines.values()),
        [],
        [],
    ]


def raise_for_post_status(status: str, detail: str | None) -> None:
    """Raise what `post_entry` raises for a refused `post_entry_call` status."""
    _raise_for(status, detail)


def post_entry(
    *,
    kind: str,
    postings: Sequence[PostingSpec],
    idempotency_key: str | None = None,
    reference: str = "",
    metadata: dict | None = None,
) -> JournalEntry:
    """Post one balanced journal entry and return it.

    `postings` is a list of `(account_or_account_id, signed_amount)`. Raises
    `InsufficientFunds` when an account that may not go negative would, `LedgerConflict`
    when `idempotency_key` was used for different content, `LedgerError` for an
    unbalanced or malformed entry. Accounts passed as objects get their `balance`
    refreshed to the posted value.
    """
    lines = _normalize(postings)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        from . import ledger_group

        if ledger_group.enabled() and ledger_group.usable():
            # Outside a transaction, concurrent posts of this process share one statement
            # and one COMMIT (payments/ledger_group.py); the answer is this entry's own.
            entry, created = _post_grouped(
                kind=kind,
                lines=lines,
                key=idempotency_key,
                reference=reference,
                metadata=metadata,
            )
        else:
            entry, created = _post(
                kind=kind,
                lines=lines,
                idempotency_key=idempotency_key,
                reference=reference,
                metadata=metadata,
            )
    elif connection.vendor == "postgresql":
        # One statement, atomic by itself: no savepoint or BEGIN/COMMIT of our own.
        entry, created = _post(
            kind=kind,
            lines=lines,
            idempotency_key=idempotency_key,
            reference=reference,
            metadata=metadata,
        )
    else:
        with transaction.atomic():
            entry, created = _post(
                kind=kind,
                lines=lines,
                idempotency_key=idempotency_key,
                reference=reference,
                metadata=metadata,
            )
    if created:
        state = entry._balances  # type: ignore[attr-defined]
        for account, _amount in postings:
            if isinstance(account, Account) and account.pk in state:
                account.balance, account.pending_debits = state[account.pk]
    return entry


# --- two-phase holds ------------------------------------------------------------------


def hold_create(
    *,
    kind: str,
    debit: Account | int,
    credit: Account | int,
    amount: int,
    idempotency_key: str | None = None,
    reference: str = "",
    metadata: dict | None = None,
    expires_at=None,
) -> Hold:
    """Reserve `amount` on `debit` for a later move to `credit` (a pending transfer).

    The money stays in `debit` but is no longer available there; `hold_post` moves it,
    `hold_void` gives it back. Same-key-same-content returns the first hold."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise LedgerError("a hold amount is a positive integer")
    debit_id, credit_id = _account_id(debit), _account_id(credit)
    if debit_id == credit_id:
        raise LedgerError("a hold needs two different accounts")
    if connection.vendor == "postgresql":
        row = _hold_call(
            "payments_ledger_hold_create(%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
            [
                kind,
                debit_id,
                credit_id,
                amount,
                idempotency_key,
                reference,
                _dumps(metadata or {}),
                expires_at,
                timezone.now(),
            ],
        )
        if row["status"] == "exists":
            return _same_hold_or_conflict(row["hold"], kind, debit_id, credit_id, amount)
        if row["status"] != "created":
            _raise_for(row["status"], row["detail"])
        return row["hold"]
    with transaction.atomic():
        if idempotency_key is not None:
            existing = Hold.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return _same_hold_or_conflict(existing, kind, debit_id, credit_id, amount)
        accounts = _lock_accounts([debit_id, credit_id])
        src, dst = accounts[debit_id], accounts[credit_id]
        if src.currency != dst.currency:
            raise LedgerError("a hold moves money within one currency")
        if not src.allow_negative and src.balance - src.pending_debits < amount:
            raise InsufficientFunds(currency=src.currency)
        src.pending_debits += amount
        src.save(update_fields=["pending_debits"])
        hold = Hold(
            kind=kind,
            debit_account_id=debit_id,
            credit_account_id=credit_id,
            amount=amount,
            currency=src.currency,
            idempotency_key=idempotency_key,
            reference=reference,
            metadata=metadata or {},
            expires_at=expires_at,
        )
        if idempotency_key is None:
            hold.save()
        else:
            try:
                with transaction.atomic():
                    hold.save()
            except IntegrityError:
                # A concurrent create with this key won; our reservation rolls back with
                # the caller's transaction only if we raise, so undo it explicitly.
                src.pending_debits -= amount
                src.save(update_fields=["pending_debits"])
                existing = Hold.objects.get(idempotency_key=idempotency_key)
                return _same_hold_or_conflict(existing, kind, debit_id, credit_id, amount)
    return hold


def _same_hold_or_conflict(h: Hold, kind: str, debit_id: int, credit_id: int, amount: int):
    if h.kind != kind:
        raise LedgerConflict(code="hold_exists_with_different_kind")
    if (h.debit_account_id, h.credit_account_id) != (debit_id, credit_id):
        raise LedgerConflict(code="hold_exists_with_different_accounts")
    if h.amount != amount:
        raise LedgerConflict(code="hold_exists_with_different_amounts")
    return h


_HOLD_COLUMNS = (
    "o_status, o_detail, o_entry_id, o_ids, o_balances, o_pendings, h_id, h_kind, h_debit, "
    "h_credit, h_amount, h_currency, h_status, h_key, h_reference, h_metadata, h_expires_at, "
    "h_posted_entry, h_created_at, h_resolved_at"
)


def _hold_call(call: str, params: list) -> dict:
    """Run one of the PostgreSQL hold functions; returns its status and the hold row."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT {_HOLD_COLUMNS} FROM {call}", params)  # noqa: S608
        (status, detail, entry_id, ids, balances, pendings, hid, *rest) = cur.fetchone()
    hold = None
    if hid is not None:
        (kind, debit, credit, amount, currency, hstatus, key, ref, meta, expires, posted) = rest[
            :11
        ]
        created_at, resolved_at = rest[11:]
        hold = Hold(
            id=hid,
            kind=kind,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency=currency,
            status=hstatus,
            idempotency_key=key,
            reference=ref,
            metadata=json.loads(meta) if isinstance(meta, str) else meta,
            expires_at=expires,
            posted_entry_id=posted,
            created_at=created_at,
            resolved_at=resolved_at,
        )
        hold._state.adding = False
        hold._state.db = "default"
    return {"status": status, "detail": detail, "entry_id": entry_id, "hold": hold}


def _lock_pending_hold(hold: Hold | int) -> Hold:
    h = Hold.objects.select_for_update().get(pk=_account_id(hold))  # type: ignore[arg-type]
    if h.status == HoldStatus.POSTED:
        raise LedgerConflict("This hold was already posted.", code="hold_already_posted")
    if h.status == HoldStatus.VOIDED:
        raise LedgerConflict("This hold was already voided.", code="hold_already_voided")
    return h


def hold_post(
    *,
    hold: Hold | int,
    amount: int | None = None,
    postings: Sequence[PostingSpec] | None = None,
    kind: str | None = None,
    metadata: dict | None = None,
) -> Hold:
    """Complete a pending hold: move `amount` (default all of it) from its debit to its
    credit account in one entry and release the reservation (any rest returns).

    `postings` overrides the entry (e.g. split a fee to `revenue_account`); it must take
    at most the held amount from the debit account. Raises `LedgerConflict`
    (`hold_already_posted` / `hold_already_voided`) when the hold is not pending."""
    if connection.vendor == "postgresql":
        return _hold_post_postgres(
            hold=hold, amount=amount, postings=postings, kind=kind, metadata=metadata
        )
    with transaction.atomic():
        h = _lock_pending_hold(hold)
        if postings is None:
            take = h.amount if amount is None else amount
            if isinstance(take, bool) or not isinstance(take, int) or not 0 < take <= h.amount:
                raise LedgerError("a hold posts a positive amount up to what it holds")
            lines = {h.debit_account_id: -take, h.credit_account_id: take}
        else:
            lines = _normalize(postings)
            if -lines.get(h.debit_account_id, 0) > h.amount:
                raise LedgerError("the postings take more than the hold reserved")
        entry, _ = _post(
            kind=kind or h.kind,
            lines=lines,
            idempotency_key=f"hold:{h.pk}:post",
            reference=h.reference,
            metadata=metadata if metadata is not None else h.metadata,
            release={h.debit_account_id: h.amount},
        )
        h.status = HoldStatus.POSTED
        h.posted_entry = entry
        h.resolved_at = timezone.now()
        h.save(update_fields=["status", "posted_entry", "resolved_at"])
    return h


def _hold_post_postgres(*, hold, amount, postings, kind, metadata) -> Hold:
    lines = None
    if postings is not None:
        lines = _normalize(postings)
    elif amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise LedgerError("a hold posts a positive amount up to what it holds")
    row = _hold_call(
        "payments_ledger_hold_post(%s, %s, %s::jsonb, %s::bigint[], %s::bigint[], %s, %s)",
        [
            _account_id(hold),  # type: ignore[arg-type]
            kind,
            _dumps(metadata),
            None if lines is None else list(lines),
            None if lines is None else list(lines.values()),
            amount,
            timezone.now(),
        ],
    )
    status, h = row["status"], row["hold"]
    if status == "bad_amount":
        if lines is None:
            raise LedgerError("a hold posts a positive amount up to what it holds")
        raise LedgerError("the postings take more than the hold reserved")
    if status == "exists":
        # Only a hand-made entry could hold this hold's key: accept it if it is the same
        # move, as _post would, and resolve the hold; anything else is a conflict.
        if lines is None:
            take = h.amount if amount is None else amount
            lines = {h.debit_account_id: -take, h.credit_account_id: take}
        with transaction.atomic():
            entry = JournalEntry.objects.get(pk=row["entry_id"])
            _same_entry_or_conflict(entry, kind=kind or h.kind, lines=lines, reference=h.reference)
            Account.objects.filter(pk=h.debit_account_id).update(
                pending_debits=F("pending_debits") - h.amount
            )
            h.status, h.posted_entry_id, h.resolved_at = HoldStatus.POSTED, entry.pk, timezone.now()
            h.save(update_fields=["status", "posted_entry", "resolved_at"])
        return h
    if status != "posted":
        _raise_for(status, row["detail"])
    return h


def hold_void(*, hold: Hold | int) -> Hold:
    """Cancel a pending hold: the reserved money is available again on its account."""
    if connection.vendor == "postgresql":
        row = _hold_call(
            "payments_ledger_hold_void(%s, %s)",
            [_account_id(hold), timezone.now()],  # type: ignore[arg-type]
        )
        if row["status"] != "voided":
            _raise_for(row["status"], row["detail"])
        return row["hold"]
    with transaction.atomic():
        h = _lock_pending_hold(hold)
        Account.objects.filter(pk=h.debit_account_id).update(
            pending_debits=F("pending_debits") - h.amount
        )
        h.status = HoldStatus.VOIDED
        h.resolved_at = timezone.now()
        h.save(update_fields=["status", "resolved_at"])
    return h


# --- retries --------------------------------------------------------------------------

T = TypeVar("T")

_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock n/a


def _is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(
        getattr(cause, "diag", None), "sqlstate", None
    )
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    # SQLite under write contention past its busy timeout.
    return "database is locked" in str(exc)


def retry_on_conflict(fn: Callable[..., T] | None = None, *, attempts: int = 5):
    """Retry a whole use case on a deadlock or serialization failure so none reaches a
    client. Only the outermost transaction can retry: nested, it just runs once."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs) -> T:
            if connection.in_atomic_block:
                return func(*args, **kwargs)
            for attempt in range(attempts):
                try:
                    return func(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == attempts - 1 or not _is_retryable(exc):
                        raise
                    log.warning("retrying %s after %s", func.__name__, exc)
                    time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
            raise AssertionError("unreachable")

        return wrapper

    return decorate(fn) if fn is not None else decorate


# --- audit ----------------------------------------------------------------------------


def ledger_check(*, limit: int = 20) -> list[str]:
    """Prove the books: returns a list of problems (empty when all is well).

    - every currency sums to zero, and so does every entry per currency;
    - every posting has its account's currency;
    - every cached balance equals the sum of its postings, and the last posting's
      running balance equals it;
    - no account that may not go negative is below zero (after pending debits);
    - every account's pending_debits equals the sum of its pending holds.
    """
    problems: list[str] = []
    for row in Posting.objects.values("currency").annotate(s=Sum("amount")).exclude(s=0):
        problems.append(f"currency {row['currency']} sums to {row['s']}, not 0")
    unbalanced = (
        Posting.objects.values("entry_id", "currency")
        .annotate(s=Sum("amount"))
        .exclude(s=0)
        .order_by("entry_id")[:limit]
    )
    for row in unbalanced:
        problems.append(f"entry {row['entry_id']} sums to {row['s']} {row['currency']}")
    for p in Posting.objects.exclude(currency=F("account__currency")).values("id")[:limit]:
        problems.append(f"posting {p['id']} is not in its account's currency")
    empty = JournalEntry.objects.filter(postings__isnull=True).values_list("id", flat=True)
    for eid in empty[:limit]:
        problems.append(f"entry {eid} has no postings")

    posted = (
        Posting.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    last = Posting.objects.filter(account=OuterRef("pk")).order_by("-id").values("balance_after")
    pending = (
        Hold.objects.filter(debit_account=OuterRef("pk"), status=HoldStatus.PENDING)
        .order_by()
        .values("debit_account")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    accounts = Account.objects.annotate(
        posted=Coalesce(Subquery(posted), 0),
        last=Coalesce(Subquery(last[:1]), 0),
        held=Coalesce(Subquery(pending), 0),
    )
    for a in accounts.exclude(balance=F("posted")).values("id", "balance", "posted")[:limit]:
        problems.append(
            f"account {a['id']} caches balance {a['balance']} but its postings sum to {a['posted']}"
        )
    for a in accounts.exclude(balance=F("last")).values("id", "balance", "last")[:limit]:
        problems.append(
            f"account {a['id']} balance {a['balance']} != last running balance {a['last']}"
        )
    negative = Account.objects.filter(allow_negative=False, balance__lt=F("pending_debits"))
    for a in negative.values("id", "balance", "pending_debits")[:limit]:
        problems.append(
            f"account {a['id']} is negative: balance {a['balance']}, pending {a['pending_debits']}"
        )
    for a in accounts.exclude(pending_debits=F("held")).values("id", "pending_debits", "held")[
        :limit
    ]:
        problems.append(
            f"account {a['id']} has pending_debits {a['pending_debits']} "
            f"but its pending holds sum to {a['held']}"
        )
    bad_holds = Hold.objects.filter(
        Q(status=HoldStatus.POSTED, posted_entry__isnull=True)
        | Q(status=HoldStatus.PENDING, resolved_at__isnull=False)
    ).values_list("id", flat=True)
    for hid in bad_holds[:limit]:
        problems.append(f"hold {hid} has an inconsistent status")
    for extra in _extra_checks:
        problems.extend(extra(limit=limit))
    return problems


# Checks of business rows against the books (e.g. red packet escrow == unclaimed rest),
# registered by the modules that own those rows.
_extra_checks: list[Callable[..., list[str]]] = []


def register_check(check: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """Add `check(limit=...) -> list[str]` to `ledger_check`."""
    if check not in _extra_checks:
        _extra_checks.append(check)
    return check
