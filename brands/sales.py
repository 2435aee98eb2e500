"""Exclusive (flash) sales: a limited stock, one unit per person, paid from the wallet.

Three layers, each sufficient for what it guards (docs/BRANDS.md "Exclusive sales"):

1. A sold-out flag and a stock gate in the shared cache (Redis in production). The gate
   is an atomic counter (`DECR`) initialised once from the database (`ADD` succeeds for
   one caller only). A buyer who decrements below zero sets the flag; from then on every
   attempt answers 409 `sold_out` from the cache alone — no query, no lock, no write.
   Units a failed purchase reserved (no money, already bought) are given back (`INCR`).
2. The database is the truth: `stock_left` has a CHECK (≥ 0) and is decremented by a
   conditional UPDATE (`… WHERE stock_left > 0`) as the *last* statement of the purchase,
   so the hot row's lock is held only for the commit. If the gate was lost (cache flush),
   it is rebuilt from the database and the UPDATE still refuses the 100,001st unit.
3. One order per person: a unique (sale, user) row, written in the same transaction as
   the ledger entry whose idempotency key is the (sale, user) pair — a retry or a double
   tap can never charge twice.

The sale's revenue is credited to one of the brand's sharded sale accounts (a hot
account would serialise every purchase on one row lock, as payments shards revenue).
"""

from __future__ import annotations

import datetime as dt
import random

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import Conflict, DomainError, InvalidInput, NotFound

from . import audit
from .models import Brand, ExclusiveSale, Follow, SaleOrder
from .selectors import CAN_MARKET, brand_for_member

SALE_SHARDS = 8


class SoldOut(Conflict):
    code = "sold_out"
    message = "Sold out."


def _gate_key(sale_id: int) -> str:
    return f"brands:sale:{sale_id}:gate"


def _soldout_key(sale_id: int) -> str:
    return f"brands:sale:{sale_id}:soldout"


def brand_wallet_account(*, brand: Brand, currency: str | None = None):
    """The brand's main wallet (campaign fees are charged here)."""
    from payments import ledger

    return ledger.owner_account(
        kind="brand_wallet", owner_ref=f"brand:{brand.pk}", currency=currency or brand.currency
    )


def brand_sales_account(*, brand: Brand, currency: str, shard: int | None = None):
    """One shard of the brand's sales revenue account (spread row locks)."""
    from payments import ledger

    shard = random.randrange(SALE_SHARDS) if shard is None else shard
    return ledger.owner_account(
        kind="brand_wallet", owner_ref=f"brand:{brand.pk}:sales:{shard}", currency=currency
    )


def sale_create(
    *,
    brand_id: int,
    acting_user,
    title: str,
    price_minor: int,
    stock: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    followers_only: bool = True,
) -> ExclusiveSale:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    fields = {}
    if not 0 < price_minor <= 10**12:
        fields["price_minor"] = ["A positive amount in minor units."]
    if not 0 < stock <= 10_000_000:
        fields["stock"] = ["1..10,000,000."]
    if ends_at is not None and ends_at <= starts_at:
        fields["ends_at"] = ["After starts_at."]
    if fields:
        raise InvalidInput(next(iter(fields.values()))[0], fields=fields)
    with transaction.atomic():
        sale = ExclusiveSale.objects.create(
            brand=brand,
            title=(title or "").strip()[:120] or "Exclusive sale",
            price_minor=price_minor,
            currency=brand.currency,
            stock_total=stock,
            stock_left=stock,
            starts_at=starts_at,
            ends_at=ends_at,
            followers_only=followers_only,
        )
        audit.record(brand=brand, actor=acting_user, action=audit.Action.SALE_CREATED, sale=sale)
    return sale


def sale_stop(*, brand_id: int, acting_user, sale_id: int) -> ExclusiveSale:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    with transaction.atomic():
        if not ExclusiveSale.objects.filter(brand=brand, pk=sale_id).update(is_active=False):
            raise NotFound("No such sale.", code="sale_not_found")
        sale = ExclusiveSale.objects.get(pk=sale_id)
        audit.record(brand=brand, actor=acting_user, action=audit.Action.SALE_STOPPED, sale=sale)
    cache.set(_soldout_key(sale_id), 1, timeout=7 * 86400)
    return sale


def _reserve(sale: ExclusiveSale) -> bool:
    """Take one unit from the gate; False when none are left."""
    key = _gate_key(sale.pk)
    for _ in range(3):
        try:
            left = cache.decr(key)
        except ValueError:  # no gate yet (or it was evicted): rebuild it from the truth
            fresh = ExclusiveSale.objects.filter(pk=sale.pk).values_list("stock_left", flat=True)
            cache.add(key, int(fresh.first() or 0), timeout=30 * 86400)
            continue
        if left < 0:
            cache.set(_soldout_key(sale.pk), 1, timeout=7 * 86400)
            return False
        return True
    return False


def _release(sale_id: int) -> None:
    """Give a reserved unit back (the purchase failed without taking it)."""
    try:
        if cache.incr(_gate_key(sale_id)) > 0:
            cache.delete(_soldout_key(sale_id))
    except ValueError:
        pass  # the gate is gone; it will be rebuilt from the database


def is_sold_out(*, sale_id: int) -> bool:
    """The cache-only check the edge makes before anything touches the database."""
    return bool(cache.get(_soldout_key(sale_id)))


def sale_buy(*, brand_id: int, sale_id: int, user, now: dt.datetime | None = None) -> SaleOrder:
    """Buy one unit. Idempotent per person: buying again returns the first order."""
    from payments import ledger

    if cache.get(_soldout_key(sale_id)):
        raise SoldOut()  # the fast path: not one query once the stock is gone
    now = now or timezone.now()
    sale = (
        ExclusiveSale.objects.filter(pk=sale_id, brand_id=brand_id).select_related("brand").first()
    )
    if sale is None or not sale.brand.is_active:
        raise NotFound("No such sale.", code="sale_not_found")
    if sale.followers_only and not Follow.objects.filter(brand_id=brand_id, user=user).exists():
        raise NotFound("No such sale.", code="sale_not_found")
    existing = SaleOrder.objects.filter(sale=sale, user=user).first()
    if existing is not None:
        return existing
    if not sale.is_active or (sale.ends_at and now >= sale.ends_at):
        raise DomainError("This sale has ended.", code="sale_ended")
    if now < sale.starts_at:
        raise DomainError(
            "This sale has not started yet.", code="sale_not_started", starts_at=sale.starts_at
        )
    if not _reserve(sale):
        raise SoldOut()
    try:
        with transaction.atomic():
            order = SaleOrder.objects.create(
                sale=sale,
                user=user,
                amount_minor=sale.price_minor,
                currency=sale.currency,
                created_at=now,
            )
            entry = ledger.post_entry(
                kind="brands.sale",
                postings=[
                    (
                        ledger.user_wallet(user_id=user.pk, currency=sale.currency),
                        -sale.price_minor,
                    ),
                    (
                        brand_sales_account(brand=sale.brand, currency=sale.currency),
                        sale.price_minor,
                    ),
                ],
                idempotency_key=f"brands.sale:{sale.pk}:{user.pk}",
                reference=f"sale_order:{order.pk}",
            )
            SaleOrder.objects.filter(pk=order.pk).update(journal_entry_id=entry.pk)
            order.journal_entry_id = entry.pk
            # Last: the hot row is locked only from here to the commit.
            if not ExclusiveSale.objects.filter(pk=sale.pk, stock_left__gt=0).update(
                stock_left=F("stock_left") - 1
            ):
                cache.set(_soldout_key(sale.pk), 1, timeout=7 * 86400)
                raise SoldOut()
    except IntegrityError:
        _release(sale.pk)
        first = SaleOrder.objects.filter(sale=sale, user=user).first()
        if first is None:
            raise
        return first  # a double tap raced this one and won
    except SoldOut:
        raise
    except Exception:
        _release(sale.pk)
        raise
    from .services import person_tag

    person_tag(brand=sale.brand, user_id=user.pk, tag=f"bought:sale:{sale.pk}")
    return order


def sale_reconcile(*, sale_id: int) -> dict:
    """Operators: reset the gate to the database's stock (after a cache loss or a stop).
    Orders in flight are covered by the conditional UPDATE either way."""
    sale = ExclusiveSale.objects.get(pk=sale_id)
    cache.set(_gate_key(sale.pk), sale.stock_left, timeout=30 * 86400)
    if sale.stock_left > 0 and sale.is_active:
        cache.delete(_soldout_key(sale.pk))
    else:
        cache.set(_soldout_key(sale.pk), 1, timeout=7 * 86400)
    return {"stock_left": sale.stock_left, "sold": sale.stock_total - sale.stock_left}
