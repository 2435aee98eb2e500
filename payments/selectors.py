"""Reads of money, scoped to their owner."""

from __future__ import annotations

from django.db import connection

from .models import Account, AccountKind


def wallet_balances(user_id: int) -> list[dict]:
    """`[{"currency", "balance", "available", "pending"}]` of a person's wallets.
    `balance` is posted money; `pending` is promised away by transfers not yet accepted;
    `available` is what can be spent."""
    return wallet_balances_of([user_id])[user_id]


def wallet_balances_of(user_ids: list[int]) -> dict[int, list[dict]]:
    """`wallet_balances` of several people in one query: {user_id: [...]}."""
    out: dict[int, list[dict]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return out
    # Plain SQL: every money movement pushes these balances, and building the query
    # through the ORM cost several times the round trip (docs/LEDGER.md, "Transfers").
    with connection.cursor() as cur:
        cur.execute(
            "SELECT owner_id, currency, balance, pending_debits FROM payments_account "  # noqa: S608
            f"WHERE kind = %s AND owner_id IN ({', '.join(['%s'] * len(user_ids))}) "
            "ORDER BY owner_id, currency",
            [str(AccountKind.USER_WALLET), *user_ids],
        )
        rows = cur.fetchall()
    return wallet_balances_from_rows(user_ids, rows)


def wallet_balances_from_rows(user_ids, rows) -> dict[int, list[dict]]:
    """`wallet_balances_of` from rows `(owner_id, currency, balance, pending_debits)` in
    owner, currency order that a caller already has (the transfer functions return them)."""
    out: dict[int, list[dict]] = {uid: [] for uid in user_ids}
    for owner_id, currency, balance, pending in rows:
        out[owner_id].append(
            {
                "currency": currency,
                "balance": balance,
                "available": balance - pending,
                "pending": pending,
            }
        )
    return out


def wallet_balance(*, user_id: int, currency: str) -> int:
    row = (
        Account.objects.filter(owner_id=user_id, kind=AccountKind.USER_WALLET, currency=currency)
        .values_list("balance", flat=True)
        .first()
    )
    return row or 0


def wallet_statement(*, user_id: int, currency: str | None = None, before_id: int | None = None):
    """The person's wallet postings, newest first (running balance on each line)."""
    from .models import Posting

    qs = Posting.objects.filter(
        account__owner_id=user_id, account__kind=AccountKind.USER_WALLET
    ).select_related("entry")
    if currency:
        qs = qs.filter(currency=currency)
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    return qs.order_by("-pk")


def merchant_spend_by_user(*, merchant_id: int, since):
    """Per payer, what they paid (after discounts, less refunds) at one merchant since a
    time: rows `{"user_id", "total"}`. Lazy, for `Exists`/`Subquery` in brands' segments
    (e.g. `.filter(user_id=OuterRef("user_id"), total__gte=5000)`)."""
    from django.db.models import F, Sum

    from .models import Order

    return (
        Order.objects.filter(
            merchant_id=merchant_id,
            status__in=(Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED),
            paid_at__gte=since,
        )
        .values(user_id=F("payer_id"))
        .annotate(total=Sum(F("buyer_paid") - F("refunded_amount")))
    )


def order_refund_shares(*, order_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{order_id: (amount, refunded_amount)} — how much of each order was refunded."""
    from .models import Order

    ids = [int(i) for i in order_ids]
    return {
        row[0]: (row[1], row[2])
        for row in Order.objects.filter(id__in=ids).values_list("id", "amount", "refunded_amount")
    }


def red_packet_get(*, packet_id: int):
    from .models import RedPacket

    return RedPacket.objects.filter(pk=packet_id).first()


def red_packet_claimed_shares(*, packet_id: int) -> list:
    """Claimed shares in claim order, with their claimers loaded."""
    from .models import RedPacketShare

    return list(
        RedPacketShare.objects.filter(packet_id=packet_id, claimer__isnull=False)
        .select_related("claimer")
        .order_by("claimed_at", "position")
    )
