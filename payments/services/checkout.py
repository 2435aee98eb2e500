"""Merchant checkout: the buyer pays an order (dynamic QR), a till (static QR, the buyer
types the amount) or is charged through a pay code; the merchant refunds.

One payment is ONE journal entry: the buyer's wallet -(amount - discount), the merchant's
settlement account +(amount - fee), a platform revenue shard +fee, plus whatever order
adjusters (payments.hooks) add - all in the transaction that marks the order paid. The
fee is `fee_for()` (rate x amount rounded half up). A refund of r returns the fee pro
rata: after refunds totalling R the fee returned is round_half_up(fee x R / amount), so
partial refunds never drift and a full refund returns exactly the fee; the merchant gives
back r minus its share of the fee; adjuster postings are reversed by the same rule; the
buyer receives the rest (r when there was no discount).
"""

from __future__ import annotations

import hashlib
import json
import random

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.errors import Conflict, DomainError, InvalidInput, NotFound

from .. import hooks, ledger, sql_rows
from ..models import Merchant, Order, PayCode, Refund, WebhookDelivery
from .events import wallet_changed
from .orders import (
    DEFAULT_TTL,
    PAID_STATES,
    _check_amount,
    adjustments_for,
    effective_status,
    fee_for,
)
from .pin import payment_authorize
from .webhooks import send_after_commit, webhook_enqueue, webhook_payload, webhook_url


class OrderNotPayable(DomainError):
    code = "order_not_payable"


def merchant_account(merchant: Merchant, currency: str):
    return ledger.owner_account(
        kind="merchant_settlement", owner_ref=f"merchant:{merchant.id}", currency=currency
    )


# A merchant's settlement account never changes once made (ledger accounts are never
# deleted), so a payment need not look it up again: its id is remembered per process,
# keyed like the signing-key cache by (id, created_at) so a reused id is another key.
_settlement_ids: dict[tuple, int] = {}


def _merchant_account_id(merchant: Merchant, currency: str) -> int:
    ident = (merchant.id, merchant.created_at, currency)
    found = _settlement_ids.get(ident)
    if found is None:
        found = merchant_account(merchant, currency).pk

        def remember(found=found) -> None:
            if len(_settlement_ids) > 10000:
                _settlement_ids.clear()
            _settlement_ids[ident] = found

        # Only once committed: an account made by a payment that rolls back is gone.
        transaction.on_commit(remember)
    return found


# A QR payment's read, in ONE statement and no ORM compilation (the ORM's query
# building cost more CPU than the round trip, as on the transfer path): the order by its
# token, its merchant, and the ids of the three ledger accounts the payment posts to —
# the payer's wallet, a random platform revenue shard and the merchant's settlement
# account (NULL when not created yet). Portable SQL (PostgreSQL and SQLite).
_ORDER_COLUMNS = len(Order._meta.concrete_fields)
_MERCHANT_COLUMNS = len(Merchant._meta.concrete_fields)
_PAY_READ_SQL = f"""
SELECT {sql_rows.columns(Order, "o")}, {sql_rows.columns(Merchant, "m")},
       (SELECT a.id FROM payments_account a
         WHERE a.kind = %s AND a.currency = o.currency AND a.owner_id = %s),
       (SELECT a.id FROM payments_account a
         WHERE a.kind = %s AND a.currency = o.currency AND a.owner_id IS NULL
           AND a.owner_ref = %s),
       (SELECT a.id FROM payments_account a
         WHERE a.kind = 'merchant_settlement' AND a.currency = o.currency
           AND a.owner_id IS NULL AND a.owner_ref = 'merchant:' || o.merchant_id),
       p.pin_free_limit, p.locked_until, p.user_id
  FROM payments_order o JOIN payments_merchant m ON m.id = o.merchant_id
  LEFT JOIN payments_paymentpin p ON p.user_id = %s
 WHERE o.token = %s
"""  # noqa: S608 (column names from the models, no input)


def _pay_read(*, token: str, payer_id: int) -> Order | None:
    """The order with `token` and its merchant, plus `order.pay_accounts`: (wallet,
    revenue shard, settlement) account ids for `payer_id`, each None if not made yet, and
    `order.pin_row`: the payer's PIN record as payment_authorize reads it (None: none)."""
    shard = random.randrange(ledger.revenue_shards())
    with connection.cursor() as cursor:
        cursor.execute(
            _PAY_READ_SQL,
            [
                ledger.AccountKind.USER_WALLET,
                payer_id,
                ledger.AccountKind.PLATFORM_REVENUE,
                f"system:revenue:{shard}",
                payer_id,
                token,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    n, m = _ORDER_COLUMNS, _MERCHANT_COLUMNS
    order = sql_rows.from_row(Order, row[:n])
    order.merchant = sql_rows.from_row(Merchant, row[n : n + m])
    order.pay_accounts = row[n + m : n + m + 3]
    pin_free_limit, locked_until, pin_user = row[n + m + 3 :]
    # The PIN record in the same statement: one round trip fewer per payment.
    order.pin_row = None if pin_user is None else (pin_free_limit, locked_until)
    order.pay_shard = shard
    return order


class _PaidMeanwhile(Exception):
    """The order stopped being payable between our read and our write: roll back."""


def _round_half_up(numerator: int, denominator: int) -> int:
    """round(numerator / denominator), halves away from zero (sign-symmetric)."""
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


def pro_rata(value: int, *, before: int, after: int, total: int) -> int:
    """The share of `value` that a refund moving the refunded total from `before` to
    `after` (out of `total`) takes back, by cumulative rounding."""
    return _round_half_up(value * after, total) - _round_half_up(value * before, total)


def _check_payable(order: Order, payer) -> bool:
    """True when `payer` already paid it (a retry); raise when it cannot be paid."""
    if order.status in PAID_STATES:
        if order.payer_id == payer.id:
            return True
        raise Conflict("This order was already paid.", code="order_already_paid")
    status = effective_status(order)
    if status == Order.Status.CLOSED:
        raise OrderNotPayable("The merchant closed this order.", code="order_closed")
    if status == Order.Status.EXPIRED:
        raise OrderNotPayable("This order has expired.", code="order_expired")
    if order.merchant.status != Merchant.Status.ACTIVE:
        raise OrderNotPayable("This merchant cannot take payments now.", code="merchant_inactive")
    return False


def _payment_accounts(order: Order, payer) -> tuple[int, int, int]:
    """(payer's wallet, revenue shard, merchant settlement) account ids: as `_pay_read`
    found them, or looked up (made on first use) through the ledger."""
    wallet, revenue, settlement = getattr(order, "pay_accounts", None) or (None, None, None)
    return (
        wallet or ledger.user_wallet(user_id=payer.id, currency=order.currency).pk,
        revenue
        or ledger.revenue_account(
            currency=order.currency, shard=getattr(order, "pay_shard", None)
        ).pk,
        settlement or _merchant_account_id(order.merchant, order.currency),
    )


def _settle(order: Order, payer, *, locked: bool = True) -> Order:
    """Post the payment entry and mark the order paid. The caller holds the order row lock
    (a till or pay-code order it just inserted), or passes `locked=False` and the final
    UPDATE checks the order is still payable."""
    merchant = order.merchant
    applied = adjustments_for(order, payer, commit=True)
    discount = sum(a.buyer_discount for a in applied)
    fee = fee_for(amount=order.amount, fee_bps=merchant.fee_bps)
    wallet, revenue, settlement = _payment_accounts(order, payer)
    extra = [
        (a.source, acc if isinstance(acc, int) else acc.pk, amount)
        for a in applied
        for acc, amount in a.postings
        if amount
    ]
    postings = [
        (wallet, -(order.amount - discount)),
        (settlement, order.amount - fee),
        (revenue, fee),
        *[(acc, amount) for _src, acc, amount in extra],
    ]
    entry = {
        "kind": "merchant.payment",
        "postings": [(acc, amount) for acc, amount in postings if amount],
        "idempotency_key": f"order:{order.id}:pay",
        "reference": f"order:{order.id}",
        "metadata": {"merchant_id": merchant.id, "out_trade_no": order.out_trade_no},
    }
    now = timezone.now()
    fields = {
        "status": Order.Status.PAID,
        "payer": payer,
        "paid_at": now,
        "fee": fee,
        "discount": discount,
        "buyer_paid": order.amount - discount,
        # Kept to reverse pro rata on refunds: every posting besides buyer and merchant.
        "adjustments": [
            {"source": src, "account_id": acc, "amount": amount} for src, acc, amount in extra
        ]
        + ([{"source": "fee", "account_id": revenue, "amount": fee}] if fee else []),
    }
    if not locked and connection.vendor == "postgresql":
        _settle_postgres(order, entry=entry, fields=fields, now=now)
    else:
        fields["entry_id"] = ledger.post_entry(**entry).id
        if locked:
            Order.objects.filter(id=order.id).update(**fields)
        # Unlocked (a QR order read before the transaction): the write itself checks the
        # order is still pending and unexpired; if not, everything here rolls back.
        elif not (
            Order.objects.filter(
                id=order.id, status=Order.Status.PENDING, expires_at__gt=now
            ).update(**fields)
        ):
            raise _PaidMeanwhile()
        for name, value in fields.items():
            setattr(order, name, value)
        webhook_enqueue(order=order, event="order.paid")
    for listener in hooks.payment_listeners():
        listener(order, applied)
    # The balance read for wallet.updated waits for commit: inside, it would keep the
    # accounts locked (the merchant's and a revenue shard, shared by many payments) for
    # one more round trip.
    transaction.on_commit(
        lambda: wallet_changed(user_ids=[payer.id], currency=order.currency), robust=True
    )
    return order


# PostgreSQL, a QR order read before the transaction: the entry (ledger function), the
# order marked paid (only if still pending and unexpired) and its order.paid webhook row,
# in ONE statement. The accounts it locks (the merchant's settlement row, a revenue
# shard) are then held for this statement and the COMMIT only, and the payment is one
# round trip instead of three.
_PG_PAY = """
WITH e AS ({post}),
u AS (
    UPDATE payments_order o
       SET status = %s, payer_id = %s, paid_at = %s, fee = %s, discount = %s,
           buyer_paid = %s, adjustments = %s::jsonb, entry_id = e.o_entry_id
      FROM e
     WHERE o.id = %s AND o.status = %s AND o.expires_at > %s AND e.o_status = 'posted'
    RETURNING o.id
),
d AS (
    INSERT INTO payments_webhookdelivery
        (merchant_id, order_id, event, url, payload, status, attempts, next_attempt_at,
         last_error, created_at)
    SELECT %s, u.id, 'order.paid', %s, %s::jsonb, %s, 0, %s, '', %s FROM u WHERE %s
    RETURNING id
)
SELECT e.o_status, e.o_entry_id, e.o_detail, EXISTS (SELECT 1 FROM u), (SELECT id FROM d)
  FROM e
"""


def _settle_postgres(order: Order, *, entry: dict, fields: dict, now) -> None:
    for name, value in fields.items():
        setattr(order, name, value)
    url = webhook_url(order)
    payload = webhook_payload(order=order, event="order.paid", now=now) if url else None
    post_sql, post_params = ledger.post_entry_call(**entry, now=now)
    with connection.cursor() as cursor:
        cursor.execute(
            _PG_PAY.format(post=post_sql),
            [
                *post_params,
                Order.Status.PAID,
                order.payer_id,
                now,
                fields["fee"],
                fields["discount"],
                fields["buyer_paid"],
                json.dumps(fields["adjustments"]),
                order.id,
                Order.Status.PENDING,
                now,
                order.merchant_id,
                url,
                json.dumps(payload),
                WebhookDelivery.Status.PENDING,
                now,
                now,
                bool(url),
            ],
        )
        status, entry_id, detail, updated, delivery_id = cursor.fetchone()
    if status not in ("posted", "exists"):
        ledger.raise_for_post_status(status, detail)
    if not updated:  # paid, closed or expired meanwhile (or its entry already exists)
        raise _PaidMeanwhile()
    order.entry_id = entry_id
    if delivery_id is not None:
        send_after_commit(delivery_id)


def _lock_order(**lookup) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .filter(**lookup)
        .first()
    )


def order_pay(*, token: str, payer, pin: str | None = None, order: Order | None = None) -> Order:
    """The buyer pays a pending order. Paying it again answers with the paid order and
    charges nothing; a closed or expired order is a 422; someone else's payment a 409.
    `order` may be passed when the caller already read it by this token."""
    if order is None or order.token != token:
        order = _pay_read(token=token, payer_id=payer.id)
    if order is None or order.kind != Order.Kind.QR:
        raise NotFound("No such order.")
    if _check_payable(order, payer):
        return order
    payment_authorize(
        user=payer,
        amount=order.amount,
        currency=order.currency,
        pin=pin,
        **({"pin_record": order.pin_row} if hasattr(order, "pin_row") else {}),
    )
    # No row lock up front (one statement fewer on the 300/s path): the entry's
    # idempotency key admits one payment per order, and the order's UPDATE admits only a
    # still-pending order. A payment that loses the race rolls back entirely (its entry,
    # any offer it consumed) and answers as a retry would.
    try:
        with transaction.atomic():
            return _settle(order, payer, locked=False)
    except (_PaidMeanwhile, ledger.LedgerConflict):
        fresh = Order.objects.select_related("merchant").get(id=order.id)
        if _check_payable(fresh, payer):
            return fresh
        raise


def till_pay(
    *,
    till_token: str,
    payer,
    amount: int,
    pin: str | None = None,
    client_key: str | None = None,
    description: str = "",
) -> tuple[Order, bool]:
    """Pay a merchant's static till QR: an order is created and paid at once. With the
    same `client_key` (the Idempotency-Key) a retry returns the first payment."""
    _check_amount(amount)
    merchant = Merchant.objects.filter(till_token=till_token).first()
    if merchant is None:
        raise NotFound("No such merchant.")
    if merchant.status != Merchant.Status.ACTIVE:
        raise OrderNotPayable("This merchant cannot take payments now.", code="merchant_inactive")
    out_trade_no = "till-" + (
        hashlib.sha256(f"{payer.id}:{client_key}".encode()).hexdigest()[:40]
        if client_key
        else f"{payer.id}-{timezone.now().timestamp():.6f}"
    )
    existing = Order.objects.filter(merchant=merchant, out_trade_no=out_trade_no).first()
    if existing is not None:
        return _same_till_order(existing, payer, amount), False
    payment_authorize(user=payer, amount=amount, currency=merchant.currency, pin=pin)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                merchant=merchant,
                out_trade_no=out_trade_no,
                kind=Order.Kind.TILL,
                amount=amount,
                currency=merchant.currency,
                description=description,
                token=_till_order_token(),
                expires_at=timezone.now() + DEFAULT_TTL,
            )
            order.merchant = merchant
            return _settle(order, payer), True
    except IntegrityError:
        existing = Order.objects.get(merchant=merchant, out_trade_no=out_trade_no)
        return _same_till_order(existing, payer, amount), False


def _till_order_token() -> str:
    from .orders import new_order_token

    return new_order_token()


def _same_till_order(order: Order, payer, amount: int) -> Order:
    if order.payer_id != payer.id or order.amount != amount:
        raise Conflict(
            "This Idempotency-Key was already used for another payment.",
            code="idempotency_key_reused",
        )
    return order


def pay_code_charge(
    *, merchant: Merchant, pay_code: str, amount: int, out_trade_no: str
) -> tuple[Order, bool]:
    """The merchant's scanner charges a buyer's pay code. Idempotent on out_trade_no: a
    retry answers with the first charge (the code is single-use)."""
    _check_amount(amount)
    existing = Order.objects.filter(merchant=merchant, out_trade_no=out_trade_no).first()
    if existing is not None:
        return _same_charge(existing, amount), False
    if not (isinstance(pay_code, str) and len(pay_code) == 18 and pay_code.isdigit()):
        raise InvalidInput("A pay code is 18 digits.", fields={"pay_code": ["18 digits."]})
    from .paycodes import pay_code_consume

    try:
        with transaction.atomic():
            payer = pay_code_consume(code=pay_code)
            payment_authorize(user=payer, amount=amount, currency=merchant.currency, pin=None)
            order = Order.objects.create(
                merchant=merchant,
                out_trade_no=out_trade_no,
                kind=Order.Kind.PAY_CODE,
                amount=amount,
                currency=merchant.currency,
                token=_till_order_token(),
                expires_at=timezone.now() + DEFAULT_TTL,
            )
            order.merchant = merchant
            PayCode.objects.filter(code_digest=_digest(pay_code)).update(order=order)
            return _settle(order, payer), True
    except IntegrityError:
        existing = Order.objects.get(merchant=merchant, out_trade_no=out_trade_no)
        return _same_charge(existing, amount), False


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _same_charge(order: Order, amount: int) -> Order:
    if order.kind != Order.Kind.PAY_CODE or order.amount != amount:
        raise Conflict(
            "This out_trade_no was already used for another order.",
            code="out_trade_no_reused",
            order_id=order.id,
        )
    return order


def order_refund(
    *, merchant: Merchant, order_id: int, amount: int, out_refund_no: str
) -> tuple[Refund, bool]:
    """Refund part or all of a paid order; repeated refunds up to the amount paid.
    Idempotent on out_refund_no (same order and amount answers the first refund)."""
    _check_amount(amount)
    existing = Refund.objects.filter(merchant=merchant, out_refund_no=out_refund_no).first()
    if existing is not None:
        return _same_refund(existing, order_id, amount), False
    try:
        with transaction.atomic():
            order = _lock_order(id=order_id, merchant=merchant)
            if order is None:
                raise NotFound("No such order.")
            if order.status not in PAID_STATES:
                raise DomainError("Only a paid order can be refunded.", code="order_not_paid")
            if amount > order.amount - order.refunded_amount:
                raise DomainError(
                    "The refunds would exceed what was paid.",
                    code="refund_exceeds_paid",
                    refundable=order.amount - order.refunded_amount,
                )
            refund = _refund_locked(order, amount=amount, out_refund_no=out_refund_no)
            return refund, True
    except IntegrityError:
        existing = Refund.objects.get(merchant=merchant, out_refund_no=out_refund_no)
        return _same_refund(existing, order_id, amount), False


def _refund_locked(order: Order, *, amount: int, out_refund_no: str) -> Refund:
    before, after = order.refunded_amount, order.refunded_amount + amount
    reversals: list[tuple[int, int]] = []
    fee_returned = 0
    for line in order.adjustments:
        share = pro_rata(line["amount"], before=before, after=after, total=order.amount)
        if line["source"] == "fee":
            fee_returned = share
        if share:
            reversals.append((line["account_id"], -share))
    merchant_back = amount - fee_returned
    # The buyer gets whatever balances the entry: `amount` less the discount's share.
    buyer_gets = merchant_back - sum(a for _acc, a in reversals)
    refund = Refund.objects.create(
        merchant=order.merchant,
        order=order,
        out_refund_no=out_refund_no,
        amount=amount,
        fee_returned=fee_returned,
        buyer_received=buyer_gets,
    )
    wallet = ledger.user_wallet(user_id=order.payer_id, currency=order.currency)
    postings = [
        (merchant_account(order.merchant, order.currency), -merchant_back),
        (wallet, buyer_gets),
        *reversals,
    ]
    entry = ledger.post_entry(
        kind="merchant.refund",
        postings=[(acc, a) for acc, a in postings if a],
        idempotency_key=f"refund:{refund.id}",
        reference=f"order:{order.id}",
        metadata={"merchant_id": order.merchant_id, "out_refund_no": out_refund_no},
    )
    refund.entry_id = entry.id
    refund.save(update_fields=["entry_id"])
    order.refunded_amount = after
    order.status = (
        Order.Status.REFUNDED if after == order.amount else Order.Status.PARTIALLY_REFUNDED
    )
    order.save(update_fields=["refunded_amount", "status"])
    webhook_enqueue(order=order, event="order.refunded")
    wallet_changed(user_ids=[order.payer_id], currency=order.currency)
    return refund


def _same_refund(refund: Refund, order_id: int, amount: int) -> Refund:
    if refund.order_id != order_id or refund.amount != amount:
        raise Conflict(
            "This out_refund_no was already used for another refund.",
            code="out_refund_no_reused",
        )
    return refund
