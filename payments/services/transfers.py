"""P2P transfers: to a contact, same currency, pending until the recipient accepts.

The money is reserved on the sender's wallet by a ledger hold when the transfer is made;
accepting posts the hold (one entry: sender -> recipient), returning or expiring voids it.
Chat (issue 7) records a message for a transfer by calling these services with a
`conversation_id` and listens for state changes with `events.on_transfer_change`.
"""

from __future__ import annotations

import datetime as dt
import functools
import random

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Block, Contact, User
from config.errors import DomainError, InvalidInput, NotFound

from .. import ledger, sql_rows
from ..models import Account, PaymentPin, Transfer, TransferStatus
from ..selectors import wallet_balances_from_rows, wallet_balances_of
from .events import transfer_changed, wallet_changed, wallet_updated_now
from .pin import payment_authorize


class TransferRefused(DomainError):
    code = "transfer_refused"


def check_amount(amount, *, field: str = "amount", maximum: int | None = None) -> int:
    maximum = maximum or settings.PAYMENTS_TRANSFER_MAX
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= maximum:
        raise InvalidInput(
            f"{field} must be a whole number of minor units between 1 and {maximum}.",
            fields={field: [f"Must be between 1 and {maximum}."]},
        )
    return amount


def check_currency(currency) -> str:
    if not isinstance(currency, str) or currency.upper() not in settings.PAYMENTS_CURRENCIES:
        raise InvalidInput(
            "This currency is not supported.",
            code="unsupported_currency",
            fields={"currency": [f"One of {', '.join(settings.PAYMENTS_CURRENCIES)}."]},
        )
    return currency.upper()


def daily_limit(user) -> int:
    limits = settings.PAYMENTS_TRANSFER_DAILY_LIMITS
    tier = getattr(user, "verification_tier", 1) or 1
    return limits.get(tier, limits[min(limits)])


def transfer_fee(amount: int) -> int:
    """The platform fee on an accepted transfer (PAYMENTS_TRANSFER_FEE_BPS, default 0),
    rounded down; the recipient gets the rest."""
    bps = int(getattr(settings, "PAYMENTS_TRANSFER_FEE_BPS", 0))
    return amount * bps // 10_000 if bps > 0 else 0


# The statements of the transfer path are written out in SQL: on the machines we measure
# on, building a query through the ORM cost 0.5-1.5 ms of CPU each, several times the
# round trip itself (bench/scenarios/wallet.py, docs/LEDGER.md "Transfers").


def _sql(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _db_time(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _sent_today(user_id: int, currency: str) -> int:
    since = timezone.now() - dt.timedelta(days=1)
    rows = _sql(
        "SELECT COALESCE(SUM(amount), 0) FROM payments_transfer WHERE sender_id = %s "
        "AND currency = %s AND created_at >= %s AND status IN (%s, %s)",
        [
            user_id,
            currency,
            _db_time(since),
            str(TransferStatus.PENDING),
            str(TransferStatus.ACCEPTED),
        ],
    )
    return int(rows[0][0])


@functools.cache
def _context_sql(vendor: str) -> str:
    """Everything `transfer_create` checks before its money transaction, in ONE statement
    (was five, three of them built by the ORM at ~1 ms of CPU each): the recipient as
    `accounts.selectors.user_visible_to` sees them (active, not erased, no block either
    way), whether they are a contact (`are_contacts`), the sender's PIN record (what
    `payment_authorize` reads) and both wallets' ids. Table names from the models."""
    qn = connection.ops.quote_name
    user, block, contact = (qn(m._meta.db_table) for m in (User, Block, Contact))
    pin, account = qn(PaymentPin._meta.db_table), qn(Account._meta.db_table)
    wallet = f"SELECT a.id FROM {account} a WHERE a.kind = %s AND a.currency = %s"  # noqa: S608
    return (
        f"SELECT u.id,"  # noqa: S608 (identifiers from the models; values are parameters)
        f" EXISTS (SELECT 1 FROM {block} b WHERE (b.blocker_id = %s AND b.blocked_id = u.id)"
        f"  OR (b.blocker_id = u.id AND b.blocked_id = %s)),"
        f" EXISTS (SELECT 1 FROM {contact} c WHERE c.owner_id = %s AND c.other_id = u.id),"
        f" p.user_id, p.pin_free_limit, p.locked_until,"
        f" ({wallet} AND a.owner_id = %s), ({wallet} AND a.owner_id = u.id)"
        f" FROM {user} u LEFT JOIN {pin} p ON p.user_id = %s"
        f" WHERE u.id = %s AND u.is_active = %s AND u.erased_at IS NULL"
    )


def _create_context(sender_id: int, recipient_id: int, currency: str):
    """(blocked, contact, pin record or None, sender wallet id, recipient wallet id), or
    None when the recipient does not exist or is closed."""
    kind = str(ledger.AccountKind.USER_WALLET)
    rows = _sql(
        _context_sql(connection.vendor),
        [
            sender_id,
            sender_id,
            sender_id,
            kind,
            currency,
            sender_id,
            kind,
            currency,
            sender_id,
            recipient_id,
            True,
        ],
    )
    if not rows:
        return None
    _uid, blocked, contact, pin_user, pin_free_limit, locked_until, src, dst = rows[0]
    pin_record = None if pin_user is None else (pin_free_limit, locked_until)
    return bool(blocked), bool(contact), pin_record, src, dst


def _insert_transfer(**fields) -> Transfer:
    fields["status"] = str(TransferStatus.PENDING)
    fields["resolved_at"] = None
    cols = list(fields)
    params = [_db_time(v) if isinstance(v, dt.datetime) else v for v in (fields[c] for c in cols)]
    (row,) = _sql(
        f"INSERT INTO payments_transfer ({', '.join(cols)}) "  # noqa: S608 (our column names)
        f"VALUES ({', '.join(['%s'] * len(cols))}) RETURNING id",
        params,
    )
    transfer = Transfer(id=row[0], **fields)
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


@ledger.retry_on_conflict
def transfer_create(
    *,
    sender,
    to_user_id: int,
    amount: int,
    currency: str,
    pin: str | None,
    note: str = "",
    conversation_id: int | None = None,
) -> Transfer:
    """Send money to a contact. The sender's money is reserved at once; the recipient
    accepts it (or returns it) within PAYMENTS_TRANSFER_EXPIRY_SECONDS."""
    amount = check_amount(amount)
    currency = check_currency(currency)
    if to_user_id == sender.pk:
        raise TransferRefused("You cannot send money to yourself.", code="transfer_to_self")
    ctx = _create_context(sender.pk, to_user_id, currency)
    if ctx is None or ctx[0]:  # no such person, closed, or blocked either way: all look alike
        raise NotFound("No such person.", code="user_not_found")
    _blocked, contact, pin_record, src, dst = ctx
    if not contact:
        raise TransferRefused("You can send money only to your contacts.", code="not_a_contact")
    # Before the money transaction: a wrong PIN must be counted even though we fail.
    payment_authorize(user=sender, amount=amount, currency=currency, pin=pin, pin_record=pin_record)
    # A wallet made on a person's first money; nothing in it, harmless if we refuse below.
    if src is None:
        src = ledger.user_wallet(user_id=sender.pk, currency=currency).pk
    if dst is None:
        dst = ledger.user_wallet(user_id=to_user_id, currency=currency).pk
    fields = {
        "sender_id": sender.pk,
        "recipient_id": to_user_id,
        "amount": amount,
        "currency": currency,
        "note": (note or "")[:200],
        "conversation_id": conversation_id,
    }
    if connection.vendor == "postgresql":
        return _create_postgres(sender, src, dst, fields)
    return _create_portable(sender, src, dst, fields)


def _refused_over_limit(limit: int) -> TransferRefused:
    return TransferRefused(
        "This would pass your daily transfer limit.", code="daily_limit_exceeded", limit=limit
    )


def _create_postgres(sender, src: int, dst: int, fields: dict) -> Transfer:
    """The hold, the daily-limit sum and the transfer row in ONE call
    (`payments_transfer_create`, migration 0009), which also returns the sender's wallet
    balances for `wallet.updated`; that event is recorded in this same transaction."""
    now = timezone.now()
    expires_at = now + dt.timedelta(seconds=settings.PAYMENTS_TRANSFER_EXPIRY_SECONDS)
    limit = daily_limit(sender)
    currency = fields["currency"]
    # The call writes nothing when it refuses, and refusals are raised after the block:
    # without a chat listener to undo, no savepoint is needed (two round trips fewer
    # inside a keyed request's transaction).
    with transaction.atomic(savepoint=fields["conversation_id"] is not None):
        ((status, detail, transfer_id, hold_id, currencies, balances, pendings),) = _sql(
            "SELECT o_status, o_detail, o_transfer, o_hold, w_currency, w_balance, w_pending"
            " FROM payments_transfer_create(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                sender.pk,
                fields["recipient_id"],
                src,
                dst,
                fields["amount"],
                currency,
                limit,
                now - dt.timedelta(days=1),
                fields["note"],
                fields["conversation_id"],
                now,
                expires_at,
            ],
        )
        if status == "created":
            transfer = Transfer(
                id=transfer_id,
                status=str(TransferStatus.PENDING),
                hold_id=hold_id,
                created_at=now,
                expires_at=expires_at,
                resolved_at=None,
                **fields,
            )
            transfer._state.adding = False
            transfer._state.db = connection.alias
            transfer.sender = sender
            transfer_changed(transfer, "created")
            rows = [(sender.pk, *r) for r in zip(currencies, balances, pendings, strict=True)]
            wallet_updated_now(
                balances=wallet_balances_from_rows([sender.pk], rows), currency=currency
            )
    if status == "daily_limit":
        raise _refused_over_limit(limit)
    if status != "created":
        ledger.raise_for_post_status(status, detail)
    return transfer


def _create_portable(sender, src: int, dst: int, fields: dict) -> Transfer:
    with transaction.atomic():
        now = timezone.now()
        expires_at = now + dt.timedelta(seconds=settings.PAYMENTS_TRANSFER_EXPIRY_SECONDS)
        # The hold locks both wallets (id order) and keeps them locked to our commit, so
        # the daily-limit sum after it is race-free: every transfer of this sender queues
        # on the sender's wallet row. Past the limit we raise and the hold rolls back.
        hold = ledger.hold_create(
            kind="transfer", debit=src, credit=dst, amount=fields["amount"], expires_at=expires_at
        )
        limit = daily_limit(sender)
        if _sent_today(sender.pk, fields["currency"]) + fields["amount"] > limit:
            raise _refused_over_limit(limit)
        transfer = _insert_transfer(
            **fields, hold_id=hold.pk, created_at=now, expires_at=expires_at
        )
        transfer.sender, transfer.hold = sender, hold
        transfer_changed(transfer, "created")
        _wallets_updated([sender.pk], fields["currency"])
    return transfer


def _wallets_updated(user_ids: list[int], currency: str) -> None:
    """`wallet.updated` read and recorded inside the money transaction (as the PostgreSQL
    functions' callers do with the balances they return)."""
    wallet_updated_now(balances=wallet_balances_of(user_ids), currency=currency)


def _lock_transfer(transfer_id: int, *, recipient=None) -> Transfer:
    """The transfer, locked, with its hold's two accounts (`hold_debit_id`,
    `hold_credit_id`) read and locked in the same statement: transfer -> hold -> accounts
    is the lock order everywhere."""
    if not transfer_id:
        raise NotFound("No such transfer.", code="transfer_not_found")
    sql = (
        "SELECT t.*, h.debit_account_id AS hold_debit_id, h.credit_account_id AS hold_credit_id"
        " FROM payments_transfer t JOIN payments_hold h ON h.id = t.hold_id WHERE t.id = %s"
    )
    params = [transfer_id]
    if recipient is not None:
        sql += " AND t.recipient_id = %s"
        params.append(recipient.pk)
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    found = list(Transfer.objects.raw(sql, params))
    if not found:
        raise NotFound("No such transfer.", code="transfer_not_found")
    return found[0]


def _save_status(transfer: Transfer) -> None:
    # The row is locked by _lock_transfer; one UPDATE of the two columns that change.
    _sql(
        "UPDATE payments_transfer SET status = %s, resolved_at = %s WHERE id = %s",
        [str(transfer.status), _db_time(transfer.resolved_at), transfer.pk],
    )


def _not_pending(transfer: Transfer) -> DomainError:
    return DomainError(
        f"This transfer was already {transfer.status}.",
        code=f"transfer_already_{transfer.status}",
        status=409,
    )


@ledger.retry_on_conflict
def transfer_accept(*, user, transfer_id: int) -> Transfer:
    """The recipient takes the money. Accepting twice answers the accepted transfer."""
    if connection.vendor == "postgresql":
        return _accept_postgres(user, transfer_id)
    return _accept_portable(user, transfer_id)


def _expired() -> DomainError:
    return DomainError(
        "This transfer has expired and goes back to the sender.", code="transfer_expired"
    )


# The transfer's columns as payments_transfer_accept returns them, in from_row order.
_ACCEPT_OUT = {
    "sender_id": "t_sender",
    "recipient_id": "t_recipient",
    "conversation_id": "t_conversation",
    "hold_id": "t_hold",
}
_ACCEPT_T = ", ".join(
    _ACCEPT_OUT.get(f.attname, f"t_{f.attname}") for f in Transfer._meta.concrete_fields
)


def _accept_postgres(user, transfer_id: int) -> Transfer:
    """Lock the transfer with its hold, post the hold (with the fee to a revenue shard)
    and mark it accepted in ONE call (`payments_transfer_accept`, migration 0009), which
    returns both wallets' balances: `wallet.updated` is recorded in this transaction."""
    if not transfer_id:
        raise NotFound("No such transfer.", code="transfer_not_found")
    bps = int(getattr(settings, "PAYMENTS_TRANSFER_FEE_BPS", 0))
    shard = random.randrange(ledger.revenue_shards())  # the fee's shard, as revenue_account
    for _ in range(2):
        with transaction.atomic():
            now = timezone.now()
            ((status, detail, *row),) = _sql(
                f"SELECT o_status, o_detail, {_ACCEPT_T}, w_owner, w_currency, w_balance,"  # noqa: S608
                " w_pending FROM payments_transfer_accept(%s, %s, %s, %s, %s)",
                [transfer_id, user.pk, bps, f"system:revenue:{shard}", now],
            )
            owners, currencies, balances, pendings = row[-4:]
            transfer = None
            if status != "not_found":
                transfer = sql_rows.from_row(Transfer, row[:-4])
            if status == "accepted":
                transfer_changed(transfer, "accepted")
                rows = zip(owners, currencies, balances, pendings, strict=True)
                wallet_updated_now(
                    balances=wallet_balances_from_rows(
                        [transfer.sender_id, transfer.recipient_id], rows
                    ),
                    currency=transfer.currency,
                )
        if status in ("accepted", "accepted_before"):
            return transfer
        if status == "need_revenue":  # the shard's first fee: make it, then again
            ledger.revenue_account(currency=transfer.currency, shard=shard)
            continue
        if status == "not_found":
            raise NotFound("No such transfer.", code="transfer_not_found")
        if status == "not_pending":
            raise _not_pending(transfer)
        if status == "expired":
            raise _expired()
        if status == "exists":
            # The hold's entry key holds a hand-made entry (never in normal operation):
            # nothing was written; the portable path compares it as hold_post does.
            return _accept_portable(user, transfer_id)
        ledger.raise_for_post_status(status, detail)
    raise AssertionError("the revenue shard was just made")


def _accept_portable(user, transfer_id: int) -> Transfer:
    with transaction.atomic():
        transfer = _lock_transfer(transfer_id, recipient=user)
        if transfer.status == TransferStatus.ACCEPTED:
            return transfer
        if transfer.status != TransferStatus.PENDING:
            raise _not_pending(transfer)
        if transfer.expires_at <= timezone.now():
            raise _expired()
        fee = transfer_fee(transfer.amount)
        if fee:
            # The platform's cut goes to a random shard of the hot revenue account.
            ledger.hold_post(
                hold=transfer.hold_id,
                kind="transfer.accept",
                postings=[
                    (transfer.hold_debit_id, -transfer.amount),
                    (transfer.hold_credit_id, transfer.amount - fee),
                    (ledger.revenue_account(currency=transfer.currency), fee),
                ],
            )
        else:
            ledger.hold_post(hold=transfer.hold_id, kind="transfer.accept")
        transfer.status = TransferStatus.ACCEPTED
        transfer.resolved_at = timezone.now()
        _save_status(transfer)
        transfer_changed(transfer, "accepted")
        _wallets_updated([transfer.sender_id, transfer.recipient_id], transfer.currency)
    return transfer


def _give_back(transfer: Transfer, status: str) -> Transfer:
    ledger.hold_void(hold=transfer.hold_id)
    transfer.status = status
    transfer.resolved_at = timezone.now()
    _save_status(transfer)
    transfer_changed(transfer, "returned" if status == TransferStatus.RETURNED else "expired")
    wallet_changed(user_ids=[transfer.sender_id], currency=transfer.currency)
    return transfer


@ledger.retry_on_conflict
def transfer_return(*, user, transfer_id: int) -> Transfer:
    """The recipient sends a pending transfer back. Returning twice is harmless."""
    with transaction.atomic():
        transfer = _lock_transfer(transfer_id, recipient=user)
        if transfer.status == TransferStatus.RETURNED:
            return transfer
        if transfer.status != TransferStatus.PENDING:
            raise _not_pending(transfer)
        return _give_back(transfer, TransferStatus.RETURNED)


@ledger.retry_on_conflict
def transfer_expire(*, transfer_id: int, now: dt.datetime | None = None) -> bool:
    """Return one transfer whose time ran out. False if it was no longer pending."""
    now = now or timezone.now()
    with transaction.atomic():
        transfer = _lock_transfer(transfer_id)
        if transfer.status != TransferStatus.PENDING or transfer.expires_at > now:
            return False
        _give_back(transfer, TransferStatus.EXPIRED)
    return True


def transfers_expire_due(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """The beat job: return every pending transfer past its expiry (bounded per run)."""
    now = now or timezone.now()
    due = Transfer.objects.filter(status=TransferStatus.PENDING, expires_at__lte=now).order_by(
        "expires_at"
    )
    count = 0
    for tid in list(due.values_list("pk", flat=True)[:limit]):
        count += transfer_expire(transfer_id=tid, now=now)
    return count


def transfer_get(*, user, transfer_id: int) -> Transfer:
    """A transfer as its sender or recipient sees it; anyone else gets 404."""
    from django.db.models import Q

    transfer = Transfer.objects.filter(Q(sender=user) | Q(recipient=user), pk=transfer_id).first()
    if transfer is None:
        raise NotFound("No such transfer.", code="transfer_not_found")
    return transfer
