"""Getting a pack: claim a free one, buy one from the wallet, gift one to a contact, and
the operator's refund.

A paid purchase is one transaction and one balanced ledger entry: the buyer's wallet is
debited the price, the creator's earnings account is credited their share (their
`revenue_share_bps`, 70% by default) and a shard of platform revenue the rest; the
Purchase row records the split and the entry, and the entitlement is granted. Any
failure (not enough money, already owned) rolls all of it back.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import selectors as people
from config.errors import Conflict, DomainError, InvalidInput, NotFound
from config.realtime import push_to_user
from payments import idempotency, ledger
from payments.selectors import wallet_balances_from_rows
from payments.services.events import wallet_changed, wallet_updated_now
from payments.services.pin import payment_authorize

from ..models import Entitlement, Pack, Purchase

CREATOR_ACCOUNT_KIND = "creator_earnings"


# One statement and no ORM compilation: building these reads with the ORM (as three
# queries, or as one with an EXISTS and three subqueries) cost ~5 ms of CPU per purchase
# on the bench machine, this ~0.5 ms. Portable SQL (PostgreSQL and SQLite).
#
# The pack is found by its primary key alone and its status checked in Python: with
# `AND p.status = 'published'` in the WHERE, a planner without statistics (a freshly
# loaded table, autovacuum not yet run) may pick the status index and filter every
# published pack by id — ~1 ms of PostgreSQL CPU per purchase with 10,000 packs. The
# buyer's PIN record is joined in (one round trip fewer than payments reading it). On
# PostgreSQL the same query runs inside `store_checkout` (migration 0003), where its plan
# is cached per connection instead of planned on every purchase (~0.3 ms).
_CHECKOUT_PG = "SELECT * FROM store_checkout(%s, %s, %s, %s, %s, %s, %s, %s)"
_CHECKOUT_SQL = """
SELECT p.id, p.creator_id, p.title, p.price_amount, p.currency, p.status,
       c.revenue_share_bps,
       EXISTS (SELECT 1 FROM store_entitlement e WHERE e.user_id = %s AND e.pack_id = p.id),
       (SELECT a.id FROM payments_account a
         WHERE a.currency = p.currency AND a.kind = %s AND a.owner_id = %s LIMIT 1),
       (SELECT a.id FROM payments_account a
         WHERE a.currency = p.currency AND a.kind = %s AND a.owner_id IS NULL
           AND a.owner_ref = 'creator:' || p.creator_id || %s LIMIT 1),
       (SELECT a.id FROM payments_account a
         WHERE a.currency = p.currency AND a.kind = %s AND a.owner_id IS NULL
           AND a.owner_ref = %s LIMIT 1),
       pin.user_id, pin.pin_free_limit, pin.locked_until
  FROM store_pack p JOIN store_creatorprofile c ON c.id = p.creator_id
  LEFT JOIN payments_paymentpin pin ON pin.user_id = %s
 WHERE p.id = %s
"""
_CHECKOUT_FIELDS = ["id", "creator_id", "title", "price_amount", "currency", "status"]


def _shard_suffix(shard: int) -> str:
    # Shard 0 keeps the unsharded name, so the accounts of creators who sold before the
    # sharding are their shard 0.
    return f":{shard}" if shard else ""


def _checkout_read(*, pack_id: int, buyer_id: int, recipient_id: int) -> Pack:
    """Everything a purchase needs to know before the money moves, in one query: the
    published pack (its other fields load lazily if ever touched), the creator's share
    (`creator_share_bps`), whether the recipient already owns it (`owned`), the ids of
    the ledger accounts a paid purchase posts to (`wallet_account_id`,
    `creator_account_id`, `revenue_account_id`: None when not created yet) for a random
    shard of the creator's earnings (`creator_shard`) and of platform revenue
    (`revenue_shard`), and the buyer's PIN record (`pin_row`: `(pin_free_limit,
    locked_until)`, None without a PIN) for `payment_authorize`."""
    shards = ledger.revenue_shards()
    shard = random.randrange(shards)
    creator_shard = random.randrange(shards)
    wallet_kind, revenue_kind = ledger.AccountKind.USER_WALLET, ledger.AccountKind.PLATFORM_REVENUE
    suffix, revenue_ref = _shard_suffix(creator_shard), f"system:revenue:{shard}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _CHECKOUT_PG,
                [
                    pack_id,
                    buyer_id,
                    recipient_id,
                    wallet_kind,
                    CREATOR_ACCOUNT_KIND,
                    suffix,
                    revenue_kind,
                    revenue_ref,
                ],
            )
        else:
            cursor.execute(
                _CHECKOUT_SQL,
                [
                    recipient_id,
                    wallet_kind,
                    buyer_id,
                    CREATOR_ACCOUNT_KIND,
                    suffix,
                    revenue_kind,
                    revenue_ref,
                    buyer_id,
                    pack_id,
                ],
            )
        row = cursor.fetchone()
    if row is None or row[5] != Pack.Status.PUBLISHED:
        raise NotFound("No such pack.")
    pack = Pack.from_db(connection.alias, _CHECKOUT_FIELDS, row[:6])
    (
        pack.creator_share_bps,
        owned,
        pack.wallet_account_id,
        pack.creator_account_id,
        pack.revenue_account_id,
        pin_user,
        pin_free_limit,
        locked_until,
    ) = row[6:]
    pack.owned = bool(owned)
    pack.creator_shard = creator_shard
    pack.revenue_shard = shard
    pack.pin_row = None if pin_user is None else (pin_free_limit, locked_until)
    return pack


def _already_owned() -> Conflict:
    return Conflict("This pack is already owned.", code="already_owned")


# --- popularity -----------------------------------------------------------------------
# A ranking hint, not money: each process counts purchases in memory after they commit and
# adds them to the packs in one UPDATE at most every STORE_POPULARITY_FLUSH_SECONDS (1 s;
# 0 = at every purchase), instead of a statement and a commit of its own per purchase.
# Counts a process holds when it dies are lost; the popularity recount beat job heals
# them, as it heals any drift.
_popularity_pending: Counter[int] = Counter()
_popularity_lock = threading.Lock()
_popularity_flushed_at = 0.0


def _count_popularity(pack_id: int) -> None:
    # After commit and outside the purchase's transaction: keeping the pack's row lock out
    # of the purchase keeps a best-seller from serialising its buyers.
    transaction.on_commit(lambda: _popularity_add(pack_id))


def _popularity_add(pack_id: int) -> None:
    with _popularity_lock:
        _popularity_pending[pack_id] += 1
        every = float(getattr(settings, "STORE_POPULARITY_FLUSH_SECONDS", 1.0))
        due = time.monotonic() - _popularity_flushed_at >= every
    if due:
        popularity_flush()


def popularity_flush() -> int:
    """Add this process's pending purchase counts to the packs (one statement). Returns
    the number of packs updated."""
    global _popularity_flushed_at
    with _popularity_lock:
        pending = dict(_popularity_pending)
        _popularity_pending.clear()
        _popularity_flushed_at = time.monotonic()
    if not pending:
        return 0
    added = Case(
        *[When(pk=pk, then=Value(n)) for pk, n in sorted(pending.items())],
        default=Value(0),
        output_field=IntegerField(),
    )
    try:
        return Pack.objects.filter(pk__in=sorted(pending)).update(
            popularity=F("popularity") + added
        )
    except DatabaseError:
        # A deadlock or a lost connection: keep the counts for the next flush.
        with _popularity_lock:
            _popularity_pending.update(pending)
        return 0


def creator_account(*, creator_id: int, currency: str, shard: int = 0):
    """One shard of a creator's earnings account (get-or-create). Every purchase of the
    creator's packs credits a random shard (`LEDGER_HOT_ACCOUNT_SHARDS`, as the platform
    revenue account): a best-seller's buyers would otherwise all queue on one row lock,
    held until each COMMIT is on disk. What the creator earned is `creator_earnings`."""
    return ledger.owner_account(
        kind=CREATOR_ACCOUNT_KIND,
        owner_ref=f"creator:{creator_id}{_shard_suffix(shard)}",
        currency=currency,
    )


def creator_earnings(*, creator_id: int, currency: str) -> int:
    """A creator's earnings balance: the sum over the shards of their earnings account."""
    return ledger.Account.objects.filter(
        Q(owner_ref=f"creator:{creator_id}") | Q(owner_ref__startswith=f"creator:{creator_id}:"),
        kind=CREATOR_ACCOUNT_KIND,
        currency=currency,
        owner__isnull=True,
    ).aggregate(s=Coalesce(Sum("balance"), 0))["s"]


def split(*, amount: int, share_bps: int) -> tuple[int, int]:
    """(creator, platform): the creator's share rounds down, the platform takes the rest."""
    creator = amount * share_bps // 10000
    return creator, amount - creator


def _check_price(pack: Pack, expected_price: int | None, expected_currency: str | None) -> None:
    if expected_price is None:
        if pack.is_free:
            return
        raise InvalidInput(
            "Send the price you were shown as expected_price.",
            fields={"expected_price": ["This field is required for a paid pack."]},
        )
    currency_changed = expected_currency is not None and expected_currency.upper() != pack.currency
    if expected_price != pack.price_amount or currency_changed:
        raise Conflict(
            "The price of this pack has changed; nothing was charged.",
            code="price_changed",
            price=pack.price_amount,
            currency=pack.currency,
        )


def pack_purchase(
    *,
    buyer,
    pack_id: int,
    expected_price: int | None,
    expected_currency: str | None = None,
    recipient_id: int | None = None,
    pin: str | None = None,
    answer: tuple[int, Callable[[Purchase], dict]] | None = None,
) -> Purchase:
    """Buy (or claim, when free) a pack for `buyer`, or as a gift for `recipient_id`.

    `answer`: the view's (status, body of a purchase) for a success. With an
    Idempotency-Key pending (`payments.idempotency.pending`), a paid purchase on
    PostgreSQL stores that answer in its own statement, with the money.

    Checks come first and cheapest (the pack, the contact, the price the client showed,
    ownership), then the payment PIN (payments' `payment_authorize`, outside the money
    transaction so a wrong PIN is counted), then one transaction moves the money and
    grants the pack."""
    recipient_id = recipient_id or buyer.pk
    gift = recipient_id != buyer.pk
    pack = _checkout_read(pack_id=pack_id, buyer_id=buyer.pk, recipient_id=recipient_id)
    if gift:
        recipient = people.user_get(user_id=recipient_id)
        # Not a contact, blocked, closed or unknown: one answer, so ids cannot be probed.
        if recipient is None or not people.are_contacts(user_id=buyer.pk, other_id=recipient_id):
            raise NotFound("You can only give packs to your contacts.", code="not_a_contact")
    _check_price(pack, expected_price, expected_currency)
    if pack.owned:
        raise _already_owned()
    if pack.price_amount:
        payment_authorize(
            user=buyer,
            amount=pack.price_amount,
            currency=pack.currency,
            pin=pin,
            pin_record=pack.pin_row,
        )
    return _purchase_commit(buyer=buyer, pack=pack, recipient_id=recipient_id, answer=answer)


def _purchase_accounts(pack: Pack, *, buyer_id: int) -> tuple[int, int, int]:
    """(buyer's wallet, creator's earnings, platform revenue shard) account ids, as read by
    `_checkout_read`; one that does not exist yet (a creator's first sale) is created
    through the ledger."""
    wallet = (
        pack.wallet_account_id or ledger.user_wallet(user_id=buyer_id, currency=pack.currency).pk
    )
    creator = (
        pack.creator_account_id
        or creator_account(
            creator_id=pack.creator_id, currency=pack.currency, shard=pack.creator_shard
        ).pk
    )
    revenue = (
        pack.revenue_account_id
        or ledger.revenue_account(currency=pack.currency, shard=pack.revenue_shard).pk
    )
    return wallet, creator, revenue


@ledger.retry_on_conflict
def _purchase_commit(*, buyer, pack: Pack, recipient_id: int, answer=None) -> Purchase:
    """The money transaction: one balanced entry, the purchase row, the entitlement. The
    amount is the price the client confirmed (checked above against the same read)."""
    gift = recipient_id != buyer.pk
    amount = pack.price_amount
    creator_amount, platform_amount = split(amount=amount, share_bps=pack.creator_share_bps)
    if amount and connection.vendor == "postgresql":
        # No savepoint (two round trips): an "already owned" raises out of the caller's
        # transaction (the Idempotency-Key's, when there is one), which rolls the money
        # back with it; a refusal of the ledger's wrote nothing and is raised after the
        # block, so the caller may still record that answer.
        with transaction.atomic(savepoint=False):
            refused, purchase = _purchase_write_postgres(
                buyer=buyer,
                pack=pack,
                recipient_id=recipient_id,
                amounts=(amount, creator_amount, platform_amount),
                answer=answer,
            )
            if purchase is not None:
                _purchase_after(buyer=buyer, pack=pack, purchase=purchase, gift=gift)
        if purchase is None:
            ledger.raise_for_post_status(*refused)
        return purchase
    try:
        with transaction.atomic():
            entry_id = None
            if amount:
                wallet, creator, revenue = _purchase_accounts(pack, buyer_id=buyer.pk)
                entry = ledger.post_entry(
                    kind="store.gift" if gift else "store.purchase",
                    postings=[
                        (wallet, -amount),
                        (creator, creator_amount),
                        (revenue, platform_amount),
                    ],
                    reference=f"store.pack:{pack.pk}",
                    metadata={
                        "pack_id": pack.pk,
                        "buyer_id": buyer.pk,
                        "recipient_id": recipient_id,
                    },
                )
                entry_id = entry.pk
                wallet_changed(user_ids=[buyer.pk], currency=pack.currency)
            purchase = Purchase.objects.create(
                buyer_id=buyer.pk,
                recipient_id=recipient_id,
                pack=pack,
                amount=amount,
                currency=pack.currency,
                creator_amount=creator_amount,
                platform_amount=platform_amount,
                entry_id=entry_id,
            )
            # The unique (user, pack) constraint is the last word on a concurrent second
            # purchase: its IntegrityError rolls this whole block back, money included.
            Entitlement.objects.create(user_id=recipient_id, pack=pack, purchase=purchase)
            _purchase_after(buyer=buyer, pack=pack, purchase=purchase, gift=gift)
    except IntegrityError:
        if Entitlement.objects.filter(user_id=recipient_id, pack=pack).exists():
            raise _already_owned()
        raise
    return purchase


def _purchase_after(*, buyer, pack: Pack, purchase: Purchase, gift: bool) -> None:
    """What a committed purchase sets off: the popularity count and the gift push."""
    _count_popularity(pack.pk)
    if gift:
        push_to_user(
            purchase.recipient_id,
            {
                "type": "store.gift_received",
                "purchase_id": purchase.pk,
                "pack": {"id": pack.pk, "title": pack.title},
                "from": people.public_profile(buyer),
            },
        )


# PostgreSQL, a paid pack: the ledger entry, the purchase row and the entitlement in ONE
# statement (one round trip instead of three plus a savepoint's two, and no ORM insert
# compiled: ~1.5 ms of CPU on the bench machine). The entitlement's unique (user, pack)
# decides a concurrent second purchase: ON CONFLICT DO NOTHING (it waits for the other
# to commit) leaves no row, and the caller's transaction rolls the money back. With an
# Idempotency-Key pending, the stored answer is one more insert of the same statement
# (`{record}`: its body is the view's, with the new purchase's id merged in).
_PG_PURCHASE = """
WITH e AS ({post}),
p AS (
    INSERT INTO store_purchase
        (buyer_id, recipient_id, pack_id, amount, currency, creator_amount, platform_amount,
         entry_id, status, created_at, refund_reason)
    SELECT %s, %s, %s, %s, %s, %s, %s, e.o_entry_id, %s, %s, '' FROM e
     WHERE e.o_status = 'posted'
    RETURNING id
),
n AS (
    INSERT INTO store_entitlement (user_id, pack_id, purchase_id, position, hidden, created_at)
    SELECT %s, %s, p.id, %s, false, %s FROM p
    ON CONFLICT (user_id, pack_id) DO NOTHING
    RETURNING id
){record}
SELECT e.o_status, e.o_entry_id, e.o_detail, (SELECT id FROM p), (SELECT id FROM n),
       w.currencies, w.balances, w.pendings, {recorded}
  FROM e CROSS JOIN LATERAL (
    -- The buyer's wallets for `wallet.updated`: the one just debited with the values the
    -- post wrote under its lock, any other currency as this statement sees it. No read
    -- after the commit, and the event is recorded in this transaction, not one of its own.
    SELECT array_agg(a.currency ORDER BY a.currency) AS currencies,
           array_agg(coalesce(e.o_balances[array_position(e.o_ids, a.id)], a.balance)
                     ORDER BY a.currency) AS balances,
           array_agg(coalesce(e.o_pendings[array_position(e.o_ids, a.id)], a.pending_debits)
                     ORDER BY a.currency) AS pendings
      FROM payments_account a
     WHERE a.kind = %s AND a.owner_id = %s
  ) w
"""
_PG_RECORD = f""",
r AS (
    {idempotency.RECORD_INSERT}
    SELECT %s, %s, %s, %s, %s::jsonb || jsonb_build_object('id', p.id), %s FROM p
    RETURNING id
)"""  # noqa: S608 (constant text)


def _purchase_write_postgres(
    *, buyer, pack: Pack, recipient_id: int, amounts: tuple[int, int, int], answer=None
) -> tuple[tuple[str, str | None], Purchase | None]:
    """((ledger status, detail), the purchase, or None when the ledger refused it and
    nothing was written). Raises `already_owned` (with the entry and purchase written:
    the caller's transaction must roll back). A posted purchase also records the buyer's
    `wallet.updated` in this transaction (published after its commit), with the balances
    the statement returns, and stores the Idempotency-Key's answer when one is pending."""
    amount, creator_amount, platform_amount = amounts
    wallet, creator, revenue = _purchase_accounts(pack, buyer_id=buyer.pk)
    now = timezone.now()
    purchase = Purchase(
        buyer_id=buyer.pk,
        recipient_id=recipient_id,
        pack_id=pack.pk,
        amount=amount,
        currency=pack.currency,
        creator_amount=creator_amount,
        platform_amount=platform_amount,
        status=Purchase.Status.COMPLETED,
        created_at=now,
    )
    post_sql, post_params = ledger.post_entry_call(
        kind="store.gift" if recipient_id != buyer.pk else "store.purchase",
        postings=[(wallet, -amount), (creator, creator_amount), (revenue, platform_amount)],
        reference=f"store.pack:{pack.pk}",
        metadata={"pack_id": pack.pk, "buyer_id": buyer.pk, "recipient_id": recipient_id},
        now=now,
    )
    params = [
        *post_params,
        buyer.pk,
        recipient_id,
        pack.pk,
        amount,
        pack.currency,
        creator_amount,
        platform_amount,
        Purchase.Status.COMPLETED,
        now,
        recipient_id,
        pack.pk,
        Entitlement._meta.get_field("position").get_default(),
        now,
    ]
    pending = idempotency.pending() if answer is not None else None
    if pending is not None:
        status_code, body_of = answer
        body = body_of(purchase)
        body.pop("id")
        sql = _PG_PURCHASE.format(post=post_sql, record=_PG_RECORD, recorded="(SELECT id FROM r)")
        params += [
            pending.user_id,
            pending.key,
            pending.fingerprint,
            status_code,
            json.dumps(body, cls=DjangoJSONEncoder),
            now,
        ]
    else:
        sql = _PG_PURCHASE.format(post=post_sql, record="", recorded="NULL")
    params += [ledger.AccountKind.USER_WALLET, buyer.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (
            status,
            entry_id,
            detail,
            purchase_id,
            entitlement_id,
            currencies,
            balances,
            pendings,
            record_id,
        ) = cursor.fetchone()
    if status != "posted":
        return (status, detail), None
    if entitlement_id is None:
        raise _already_owned()
    if record_id is not None:
        pending.stored(status_code)
    rows = [(buyer.pk, *r) for r in zip(currencies, balances, pendings, strict=True)]
    wallet_updated_now(balances=wallet_balances_from_rows([buyer.pk], rows), currency=pack.currency)
    purchase.id, purchase.entry_id = purchase_id, entry_id
    purchase._state.adding = False
    purchase._state.db = connection.alias
    return (status, detail), purchase


def pack_claim_free(*, user, pack_id: int) -> Purchase:
    """Add a free published pack to the person's packs; no money moves."""
    return pack_purchase(buyer=user, pack_id=pack_id, expected_price=0)


class RefundFailed(DomainError):
    code = "refund_failed"


@ledger.retry_on_conflict
def purchase_refund(*, purchase_id: int, reason: str = "", acting_user=None) -> Purchase:
    """Undo a purchase: a new ledger entry reverses every posting of the original one, and
    the recipient loses the pack. Refunding twice is refused (409 `already_refunded`)."""
    with transaction.atomic():
        purchase = Purchase.objects.select_for_update().filter(pk=purchase_id).first()
        if purchase is None:
            raise NotFound("No such purchase.")
        if purchase.status == Purchase.Status.REFUNDED:
            raise Conflict("This purchase was already refunded.", code="already_refunded")
        if purchase.entry_id is not None:
            original = list(
                ledger.Posting.objects.filter(entry_id=purchase.entry_id)
                .order_by("id")
                .values_list("account_id", "amount")
            )
            try:
                refund = ledger.post_entry(
                    kind="store.refund",
                    postings=[(account_id, -amount) for account_id, amount in original],
                    idempotency_key=f"store.refund:{purchase.pk}",
                    reference=f"store.purchase:{purchase.pk}",
                    metadata={"purchase_id": purchase.pk, "reversal_of": purchase.entry_id},
                )
            except ledger.InsufficientFunds:
                raise RefundFailed(
                    "The creator's or platform's account no longer holds this money; "
                    "settle it by hand."
                )
            purchase.refund_entry_id = refund.pk
        Entitlement.objects.filter(purchase=purchase).delete()
        purchase.status = Purchase.Status.REFUNDED
        purchase.refunded_at = timezone.now()
        purchase.refund_reason = (reason or "").strip()[:500]
        purchase.save(update_fields=["status", "refunded_at", "refund_reason", "refund_entry_id"])
        Pack.objects.filter(pk=purchase.pack_id, popularity__gt=0).update(
            popularity=F("popularity") - 1
        )
        if purchase.amount:
            wallet_changed(user_ids=[purchase.buyer_id], currency=purchase.currency)
            push_to_user(
                purchase.buyer_id,
                {
                    "type": "store.purchase_refunded",
                    "purchase_id": purchase.pk,
                    "pack_id": purchase.pack_id,
                    "amount": purchase.amount,
                    "currency": purchase.currency,
                },
            )
    return purchase


def pack_popularity_recount() -> int:
    """Set every pack's popularity to its number of owners (a beat job). The per-purchase
    increment runs after commit and could be lost with its process; this heals it."""
    owners = (
        Entitlement.objects.filter(pack_id=OuterRef("pk"))
        .order_by()
        .values("pack_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    counted = Coalesce(Subquery(owners), 0)
    return (
        Pack.objects.annotate(owners=counted)
        .exclude(popularity=F("owners"))
        .update(popularity=counted)
    )
