"""P2P transfers: to a contact, same currency, pending until the recipient accepts.

The money is reserved on the sender's wallet by a ledger hold when the transfer is made;
accepting posts the hold (one entry: sender -> recipient), returning or expiring voids it.
Chat (issue 7) records a message for a transfer by calling these services with a
`conversation_id` and listens for state changes with `events.on_transfer_change`.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.selectors import are_contacts, user_visible_to
from config.errors import DomainError, InvalidInput, NotFound

from .. import ledger
from ..models import Transfer, TransferStatus
from .events import transfer_changed, wallet_changed
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


def _wallets(sender_id: int, recipient_id: int, currency: str) -> tuple[int, int]:
    """The two wallets' ids in one read; a wallet that does not exist yet is created."""
    found = dict(
        _sql(
            "SELECT owner_id, id FROM payments_account WHERE kind = %s AND currency = %s "
            "AND owner_id IN (%s, %s)",
            [str(ledger.AccountKind.USER_WALLET), currency, sender_id, recipient_id],
        )
    )
    for uid in (sender_id, recipient_id):
        if uid not in found:
            found[uid] = ledger.user_wallet(user_id=uid, currency=currency).pk
    return found[sender_id], found[recipient_id]


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
    recipient = user_visible_to(viewer_id=sender.pk, user_id=to_user_id)
    if recipient is None:  # no such person, closed, or blocked either way: all look alike
        raise NotFound("No such person.", code="user_not_found")
    if not are_contacts(user_id=sender.pk, other_id=recipient.pk):
        raise TransferRefused("You can send money only to your contacts.", code="not_a_contact")
    # Before the money transaction: a wrong PIN must be counted even though we fail.
    payment_authorize(user=sender, amount=amount, currency=currency, pin=pin)
    with transaction.atomic():
        src, dst = _wallets(sender.pk, recipient.pk, currency)
        now = timezone.now()
        expires_at = now + dt.timedelta(seconds=settings.PAYMENTS_TRANSFER_EXPIRY_SECONDS)
        # The hold locks both wallets (id order) and keeps them locked to our commit, so
        # the daily-limit sum after it is race-free: every transfer of this sender queues
        # on the sender's wallet row. Past the limit we raise and the hold rolls back.
        hold = ledger.hold_create(
            kind="transfer", debit=src, credit=dst, amount=amount, expires_at=expires_at
        )
        limit = daily_limit(sender)
        if _sent_today(sender.pk, currency) + amount > limit:
            raise TransferRefused(
                "This would pass your daily transfer limit.",
                code="daily_limit_exceeded",
                limit=limit,
            )
        transfer = _insert_transfer(
            sender_id=sender.pk,
            recipient_id=recipient.pk,
            amount=amount,
            currency=currency,
            note=(note or "")[:200],
            conversation_id=conversation_id,
            hold_id=hold.pk,
            created_at=now,
            expires_at=expires_at,
        )
        transfer.sender, transfer.recipient, transfer.hold = sender, recipient, hold
        transfer_changed(transfer, "created")
        wallet_changed(user_ids=[sender.pk], currency=currency)
    return transfer


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
    with transaction.atomic():
        transfer = _lock_transfer(transfer_id, recipient=user)
        if transfer.status == TransferStatus.ACCEPTED:
            return transfer
        if transfer.status != TransferStatus.PENDING:
            raise _not_pending(transfer)
        if transfer.expires_at <= timezone.now():
            raise DomainError(
                "This transfer has expired and goes back to the sender.",
                code="transfer_expired",
            )
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
        wallet_changed(
            user_ids=[transfer.sender_id, transfer.recipient_id], currency=transfer.currency
        )
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
