"""Exclusive (flash) sales: a limited stock, one unit per person, paid from the wallet.

A purchase is two steps (docs/BRANDS.md "Exclusive sales"):

1. **Admission in Redis** (`sale_reserve`): one atomic Lua script per attempt — already a
   buyer? stock left? then take a unit, mark the buyer `reserved` and queue them. A sold-out
   attempt is answered from Redis alone, never touching PostgreSQL.
2. **Settlement in batches** (`sale_settle`): one settler at a time per sale (a Redis lock)
   takes the head of the queue and, in ONE transaction under the sale's row lock, posts
   every buyer's balanced entry (`payments.ledger_batch`: accounts locked in id order; a
   buyer without funds is refused alone), inserts the orders (unique per sale and buyer)
   and decrements `stock_left` (CHECK ≥ 0: the database can never oversell). After the
   commit one Lua script records each buyer's outcome, gives refused units back and trims
   the queue. A settler that dies before that leaves the queue as it was; the next one
   finds the committed orders and only records them (orders and ledger keys are unique
   per buyer: nobody is charged twice).

`sale_buy` (the API) reserves, then settles or waits for its batch for a moment, and
answers with the settled order — or, under a rush, with the reservation (202) that
`sale_order_status` later resolves. If Redis is lost, `sale_rebuild` restores the gate
from the database (stock = `stock_left`, buyers = the orders); reservations not yet
settled are forgotten (nobody was charged for them) and those people may try again.

The sale's revenue is credited to one of the brand's sharded sale accounts.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config.bulk import insert_rows, int_array
from config.errors import Conflict, DomainError, InvalidInput, NotFound

from . import audit
from .models import Brand, ExclusiveSale, Follow, PersonTag, SaleOrder
from .selectors import CAN_MARKET, brand_for_member

SALE_SHARDS = 8
SETTLE_BATCH = 2000
GATE_TTL = 30 * 86400
SOLDOUT_TTL = 7 * 86400
LOCK_MS = 30_000

log = logging.getLogger(__name__)


class SoldOut(Conflict):
    code = "sold_out"
    message = "Sold out."


def _gate_key(sale_id: int) -> str:
    return f"brands:sale:{sale_id}:gate"


def _soldout_key(sale_id: int) -> str:
    return f"brands:sale:{sale_id}:soldout"


_KEY_NAMES = ("gate", "buyers", "queue", "soldout", "fails", "terms", "settler")
_keys_memo: dict[int, list[str]] = {}


def _keys(sale_id: int) -> list[str]:
    """gate (units left), buyers (uid → r | o<order id>), queue (reserved, unsettled, in
    arrival order), sold-out flag, failures (uid → reason), the sale's terms, settler lock.
    Memoised per process: seven `make_key` calls were a tenth of an admission's CPU."""
    keys = _keys_memo.get(sale_id)
    if keys is None:
        if len(_keys_memo) > 1000:
            _keys_memo.clear()
        keys = [cache.make_key(f"brands:sale:{sale_id}:{n}") for n in _KEY_NAMES]
        _keys_memo[sale_id] = keys
    return keys


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
        # The gate exists before the first attempt (a rush would otherwise start with
        # everyone waiting for one of them to build it).
        transaction.on_commit(lambda: sale_rebuild(sale_id=sale.pk))
    return sale


def sale_stop(*, brand_id: int, acting_user, sale_id: int) -> ExclusiveSale:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    with transaction.atomic():
        if not ExclusiveSale.objects.filter(brand=brand, pk=sale_id).update(is_active=False):
            raise NotFound("No such sale.", code="sale_not_found")
        sale = ExclusiveSale.objects.get(pk=sale_id)
        audit.record(brand=brand, actor=acting_user, action=audit.Action.SALE_STOPPED, sale=sale)
    _gate().stop(sale_id)
    return sale


# --- the gate: admission in Redis ----------------------------------------------------------

# KEYS: gate, buyers, queue, soldout, fails, terms. ARGV: buyer, sold-out ttl, now (epoch
# seconds), brand id. The sale's terms live in Redis too, so an attempt is ONE round trip.
# Answers: "o<id>" bought earlier, "r" reserved earlier, "reserved" (taken now),
# "soldout", "notfound", "notstarted", "ended", "nogate" (build the gate from the database
# first). Whether the buyer follows the brand is settlement's question (one query per
# batch), like whether they can pay.
_RESERVE = """
local t = redis.call('HMGET', KEYS[6], 'brand', 'starts', 'ends', 'active')
if not t[1] then return 'nogate' end
if t[1] ~= ARGV[4] then return 'notfound' end
local st = redis.call('HGET', KEYS[2], ARGV[1])
if st then return st end
local now = tonumber(ARGV[3])
if t[4] ~= '1' or (t[3] ~= '' and now >= tonumber(t[3])) then return 'ended' end
if now < tonumber(t[2]) then return 'notstarted' end
local left = redis.call('GET', KEYS[1])
if not left then return 'nogate' end
if tonumber(left) <= 0 then
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[2])
  return 'soldout'
end
left = redis.call('DECR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], 'r')
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
if left <= 0 then redis.call('SET', KEYS[4], '1', 'EX', ARGV[2]) end
return 'reserved'
"""

# KEYS: gate, buyers, queue, soldout, fails. ARGV: how many to trim from the queue head,
# then (buyer, outcome) pairs: "o<id>" settled; "f<reason>" refused, unit back to stock;
# "x<reason>" refused, no unit to give back (the database had none left). Only a buyer
# still marked reserved is changed, so applying an outcome twice is harmless.
_FINISH = """
local back = 0
for i = 2, #ARGV, 2 do
  local uid, out = ARGV[i], ARGV[i + 1]
  local k = string.sub(out, 1, 1)
  if k == 'o' then
    redis.call('HSET', KEYS[2], uid, out)
  elseif redis.call('HGET', KEYS[2], uid) == 'r' then
    redis.call('HDEL', KEYS[2], uid)
    redis.call('HSET', KEYS[5], uid, string.sub(out, 2))
    if k == 'f' then back = back + 1 end
  end
end
redis.call('LTRIM', KEYS[3], ARGV[1], -1)
if back > 0 and redis.call('INCRBY', KEYS[1], back) > 0 then redis.call('DEL', KEYS[4]) end
return back
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _terms_of(sale: ExclusiveSale, brand_active: bool) -> dict:
    return {
        "brand": str(sale.brand_id),
        "starts": repr(sale.starts_at.timestamp()),
        "ends": repr(sale.ends_at.timestamp()) if sale.ends_at else "",
        "active": "1" if sale.is_active and brand_active else "0",
        "followers": "1" if sale.followers_only else "0",
    }


class _RedisGate:
    """The production gate: Lua scripts on the cache's Redis (atomic per attempt)."""

    def __init__(self, client):
        self.r = client
        self.reserve_script = client.register_script(_RESERVE)
        self.finish_script = client.register_script(_FINISH)
        self.unlock_script = client.register_script(_UNLOCK)

    def reserve(self, sale_id: int, uid: int, now: float, brand_id: int) -> str:
        out = self.reserve_script(keys=_keys(sale_id)[:6], args=[uid, SOLDOUT_TTL, now, brand_id])
        return out.decode() if isinstance(out, bytes) else out

    def finish(self, sale_id: int, trim: int, outcomes: list[tuple[int, str]]) -> None:
        args: list = [trim]
        for uid, out in outcomes:
            args += [uid, out]
        self.finish_script(keys=_keys(sale_id)[:5], args=args)

    def peek(self, sale_id: int, n: int) -> list[int]:
        return [int(x) for x in self.r.lrange(_keys(sale_id)[2], 0, n - 1)]

    def state(self, sale_id: int, uid: int) -> tuple[str | None, str | None]:
        k = _keys(sale_id)
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(k[1], uid)
        pipe.hget(k[4], uid)
        st, fail = pipe.execute()
        return (st.decode() if st else None), (fail.decode() if fail else None)

    def states(self, sale_id: int, uids: list[int]) -> dict[int, str]:
        got = self.r.hmget(_keys(sale_id)[1], uids)
        return {u: v.decode() for u, v in zip(uids, got, strict=True) if v is not None}

    def lock(self, sale_id: int) -> str | None:
        token = uuid.uuid4().hex
        return token if self.r.set(_keys(sale_id)[6], token, nx=True, px=LOCK_MS) else None

    def unlock(self, sale_id: int, token: str) -> None:
        self.unlock_script(keys=[_keys(sale_id)[6]], args=[token])

    def has_gate(self, sale_id: int) -> bool:
        k = _keys(sale_id)
        return self.r.exists(k[0], k[5]) == 2

    def stop(self, sale_id: int) -> None:
        k = _keys(sale_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(k[3], "1", ex=SOLDOUT_TTL)
        pipe.delete(k[5])  # the next attempt rebuilds the terms: inactive
        pipe.execute()

    def rebuild(self, sale_id: int, stock: int, orders: list, terms: dict) -> None:
        k = _keys(sale_id)
        pipe = self.r.pipeline(transaction=True)  # MULTI/EXEC: attempts see all or nothing
        pipe.delete(k[0], k[1], k[2], k[4], k[5])
        for start in range(0, len(orders), 5000):
            chunk = orders[start : start + 5000]
            pipe.hset(k[1], mapping={uid: f"o{oid}" for uid, oid in chunk})
        pipe.expire(k[1], GATE_TTL)
        if stock > 0:
            pipe.delete(k[3])
        else:
            pipe.set(k[3], "1", ex=SOLDOUT_TTL)
        pipe.set(k[0], stock, ex=GATE_TTL)
        pipe.hset(k[5], mapping=terms)
        pipe.expire(k[5], GATE_TTL)
        pipe.execute()


class _LocalGate:
    """The embedded shape (one process, a local-memory cache): the same semantics under a
    process lock. The sold-out flag still lives in the cache, for `is_sold_out`; the gate
    counts as present while its cache key does (tests clear the cache between cases)."""

    def __init__(self):
        self.mu = threading.Lock()
        self.sales: dict[int, dict] = {}

    def _s(self, sale_id: int) -> dict | None:
        return self.sales.get(sale_id) if cache.get(_gate_key(sale_id)) is not None else None

    def reserve(self, sale_id: int, uid: int, now: float, brand_id: int) -> str:
        with self.mu:
            s = self._s(sale_id)
            if s is None:
                return "nogate"
            t = s["terms"]
            if t["brand"] != str(brand_id):
                return "notfound"
            if uid in s["buyers"]:
                return s["buyers"][uid]
            if t["active"] != "1" or (t["ends"] and now >= float(t["ends"])):
                return "ended"
            if now < float(t["starts"]):
                return "notstarted"
            if s["left"] <= 0:
                cache.set(_soldout_key(sale_id), 1, timeout=SOLDOUT_TTL)
                return "soldout"
            s["left"] -= 1
            s["buyers"][uid] = "r"
            s["fails"].pop(uid, None)
            s["queue"].append(uid)
            if s["left"] <= 0:
                cache.set(_soldout_key(sale_id), 1, timeout=SOLDOUT_TTL)
            return "reserved"

    def finish(self, sale_id: int, trim: int, outcomes: list[tuple[int, str]]) -> None:
        with self.mu:
            s = self.sales[sale_id]
            for uid, out in outcomes:
                if out[0] == "o":
                    s["buyers"][uid] = out
                elif s["buyers"].get(uid) == "r":
                    del s["buyers"][uid]
                    s["fails"][uid] = out[1:]
                    if out[0] == "f":
                        s["left"] += 1
                        cache.delete(_soldout_key(sale_id))
            del s["queue"][:trim]

    def peek(self, sale_id: int, n: int) -> list[int]:
        with self.mu:
            return list(self.sales[sale_id]["queue"][:n]) if sale_id in self.sales else []

    def state(self, sale_id: int, uid: int) -> tuple[str | None, str | None]:
        with self.mu:
            s = self.sales.get(sale_id) or {"buyers": {}, "fails": {}}
            return s["buyers"].get(uid), s["fails"].get(uid)

    def states(self, sale_id: int, uids: list[int]) -> dict[int, str]:
        with self.mu:
            buyers = (self.sales.get(sale_id) or {"buyers": {}})["buyers"]
            return {u: buyers[u] for u in uids if u in buyers}

    def lock(self, sale_id: int) -> str | None:
        return "local" if cache.add(f"brands:sale:{sale_id}:settler", 1, timeout=30) else None

    def unlock(self, sale_id: int, token: str) -> None:
        cache.delete(f"brands:sale:{sale_id}:settler")

    def has_gate(self, sale_id: int) -> bool:
        return self._s(sale_id) is not None

    def stop(self, sale_id: int) -> None:
        cache.set(_soldout_key(sale_id), 1, timeout=SOLDOUT_TTL)
        cache.delete(_gate_key(sale_id))

    def rebuild(self, sale_id: int, stock: int, orders: list, terms: dict) -> None:
        with self.mu:
            buyers = {uid: f"o{oid}" for uid, oid in orders}
            self.sales[sale_id] = {
                "left": stock,
                "buyers": buyers,
                "fails": {},
                "queue": [],
                "terms": terms,
            }
            if stock > 0:
                cache.delete(_soldout_key(sale_id))
            else:
                cache.set(_soldout_key(sale_id), 1, timeout=SOLDOUT_TTL)
            cache.set(_gate_key(sale_id), stock, timeout=GATE_TTL)


_gate_obj = None
_gate_mu = threading.Lock()


def _gate():
    global _gate_obj
    with _gate_mu:
        if _gate_obj is None:
            client = getattr(getattr(cache, "_cache", None), "get_client", None)
            _gate_obj = _RedisGate(client(write=True)) if client else _LocalGate()
        return _gate_obj


def sale_rebuild(*, sale_id: int) -> dict:
    """Build the gate from the database (before the first attempt, or after a Redis loss):
    units left = `stock_left`, buyers = the orders, the sale's terms. Reservations not
    settled yet are forgotten — nobody was charged for them — and those people may try
    again."""
    sale = ExclusiveSale.objects.select_related("brand").get(pk=sale_id)
    orders = list(SaleOrder.objects.filter(sale=sale).values_list("user_id", "id"))
    stock = sale.stock_left if sale.is_active else 0
    _gate().rebuild(sale.pk, stock, orders, _terms_of(sale, sale.brand.is_active))
    return {"stock_left": sale.stock_left, "sold": len(orders)}


def sale_reconcile(*, sale_id: int) -> dict:
    """Operators: rebuild the gate from the database (see `sale_rebuild`)."""
    return sale_rebuild(sale_id=sale_id)


def is_sold_out(*, sale_id: int) -> bool:
    """The cache-only check the edge makes before anything touches the database."""
    return bool(cache.get(_soldout_key(sale_id)))


# --- admission --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    sale_id: int
    user_id: int
    status: str  # "reserved" (settlement pending) or "settled"
    order_id: int | None = None


class SalePending(Exception):
    """Reserved, not settled yet (a rush): the API answers 202 and the app polls."""

    def __init__(self, reservation: Reservation):
        super().__init__("Reserved; the purchase is being settled.")
        self.reservation = reservation


def sale_reserve(
    *, brand_id: int, sale_id: int, user, now: dt.datetime | None = None
) -> Reservation:
    """Admission: ONE Lua script in Redis takes a unit for this person, or answers at once
    (sold out, not started, ended, already bought → their order). No attempt touches
    PostgreSQL (unless the gate must be rebuilt): settlement checks follows and funds for
    its whole batch, and refuses a non-follower's or a poor buyer's unit back."""
    stamp = (now or timezone.now()).timestamp()
    gate = _gate()
    for _ in range(100):
        out = gate.reserve(sale_id, user.pk, stamp, brand_id)
        if out != "nogate":
            break
        _ensure_gate(sale_id)
    if out.startswith("o"):
        return Reservation(sale_id, user.pk, "settled", int(out[1:]))
    if out in ("r", "reserved"):
        return Reservation(sale_id, user.pk, "reserved")
    if out == "soldout":
        raise SoldOut()
    if out == "notstarted":
        starts = ExclusiveSale.objects.filter(pk=sale_id).values_list("starts_at", flat=True)
        raise DomainError(
            "This sale has not started yet.", code="sale_not_started", starts_at=starts.first()
        )
    if out == "ended":
        raise DomainError("This sale has ended.", code="sale_ended")
    if out == "notfound":
        raise NotFound("No such sale.", code="sale_not_found")
    raise Conflict("The sale is being prepared; try again.", code="sale_busy")


def _ensure_gate(sale_id: int) -> None:
    """First attempt of a sale, or Redis lost it: build it from the database, once."""
    if not ExclusiveSale.objects.filter(pk=sale_id).exists():
        raise NotFound("No such sale.", code="sale_not_found")
    gate = _gate()
    building = f"brands:sale:{sale_id}:building"
    if not cache.add(building, 1, timeout=10):
        time.sleep(0.01)  # someone else is building it
        return
    try:
        if not gate.has_gate(sale_id):
            sale_rebuild(sale_id=sale_id)
    finally:
        cache.delete(building)


# --- settlement -------------------------------------------------------------------------


def sale_settle(*, sale_id: int, batch: int = SETTLE_BATCH, max_batches: int = 1000) -> int:
    """Settle the queued reservations of a sale, batch after batch, until the queue is
    empty; returns how many buyers were settled or refused. Returns at once (0) if another
    settler holds the sale. Safe to run anywhere, any number of times."""
    gate = _gate()
    token = gate.lock(sale_id)
    if token is None:
        return 0
    done = 0
    try:
        for _ in range(max_batches):
            uids = gate.peek(sale_id, batch)
            if not uids:
                break
            outcomes = _settle_batch(sale_id, uids)
            gate.finish(sale_id, len(uids), outcomes)
            done += len(outcomes)
    finally:
        gate.unlock(sale_id, token)
    return done


def _settle_batch(sale_id: int, queued: list[int]) -> list[tuple[int, str]]:
    """One transaction: charge, order and count every reserved buyer of `queued`."""
    from payments import ledger_batch

    gate = _gate()
    uids = list(dict.fromkeys(queued))
    with transaction.atomic():
        sale = ExclusiveSale.objects.select_for_update().select_related("brand").get(pk=sale_id)
        existing, wallets, fans = _buyer_facts(sale, uids)
        outcomes = [(u, f"o{existing[u]}") for u in uids if u in existing]
        # Only buyers still holding a reservation (a sale that closed under them was
        # refused at admission).
        states = gate.states(sale_id, uids)
        todo = [u for u in uids if u not in existing and states.get(u) == "r"]
        if sale.followers_only:
            # Before the stock: a stranger's unit goes back, a follower behind them gets it.
            outcomes += [(u, "fnot_following") for u in todo if u not in fans]
            todo = [u for u in todo if u in fans]
        room = sale.stock_left
        outcomes += [(u, "xsold_out") for u in todo[room:]]
        todo = todo[:room]
        outcomes += [(u, "finsufficient_funds") for u in todo if u not in wallets]
        todo = [u for u in todo if u in wallets]
        if todo:
            shard = brand_sales_account(brand=sale.brand, currency=sale.currency)
            price = sale.price_minor
            entries = [
                ledger_batch.Entry(
                    key=f"brands.sale:{sale.pk}:{u}",
                    reference=f"sale:{sale.pk}:user:{u}",
                    lines={wallets[u]: -price, shard.pk: price},
                )
                for u in todo
            ]
            result = ledger_batch.post_entries(kind="brands.sale", entries=entries)
            paid = {**result.existing, **result.posted}
            refused = set(result.refused)
            outcomes += [
                (u, "finsufficient_funds")
                for u, e in zip(todo, entries, strict=True)
                if e.key in refused
            ]
            sold = [(u, paid[e.key]) for u, e in zip(todo, entries, strict=True) if e.key in paid]
            now = timezone.now()
            rows = insert_rows(
                SaleOrder,
                ["user_id", "journal_entry_id"],
                sold,
                returning=["id", "user_id"],
                constants={
                    "sale_id": sale.pk,
                    "amount_minor": price,
                    "currency": sale.currency,
                    "created_at": now,
                },
            )
            outcomes += [(u, f"o{oid}") for oid, u in rows]
            if sold:
                # CHECK (stock_left >= 0) backs this: the database itself cannot oversell.
                ExclusiveSale.objects.filter(pk=sale.pk).update(
                    stock_left=F("stock_left") - len(sold)
                )
                _tag_buyers(sale, [u for u, _ in sold])
    return outcomes


def _buyer_facts(
    sale: ExclusiveSale, uids: list[int]
) -> tuple[dict[int, int], dict[int, int], set[int]]:
    """For a batch's buyers: their order of this sale if any ({user: order id}), their
    wallet in the sale's currency ({user: account id}) and who follows the brand. On
    PostgreSQL one statement over a server-bound array (three IN-lists of 2,000 quoted
    ids cost more Python than the lookups cost PostgreSQL); elsewhere three queries.
    Scalar subqueries, not joins: each is an index probe per buyer whatever the
    statistics say (wallets created just before a sale are not analyzed yet, and a join
    planned on a stale estimate scanned every wallet per buyer)."""
    from payments.models import Account

    if connection.vendor != "postgresql":
        existing = dict(
            SaleOrder.objects.filter(sale=sale, user_id__in=uids).values_list("user_id", "id")
        )
        wallets = dict(
            Account.objects.filter(
                kind="user_wallet", currency=sale.currency, owner_id__in=uids
            ).values_list("owner_id", "id")
        )
        fans = set(
            Follow.objects.filter(brand_id=sale.brand_id, user_id__in=uids).values_list(
                "user_id", flat=True
            )
        )
        return existing, wallets, fans
    from config.bulk import execute_bound

    q = connection.ops.quote_name
    rows = execute_bound(
        f"""
        SELECT u.id,
               (SELECT o.id FROM {q(SaleOrder._meta.db_table)} o
                 WHERE o.sale_id = %s AND o.user_id = u.id),
               (SELECT a.id FROM {q(Account._meta.db_table)} a
                 WHERE a.kind = 'user_wallet' AND a.owner_id = u.id AND a.currency = %s),
               EXISTS (SELECT 1 FROM {q(Follow._meta.db_table)} f
                        WHERE f.brand_id = %s AND f.user_id = u.id)
          FROM unnest(%s::bigint[]) AS u(id)
        """,  # noqa: S608 (identifiers from the models; values bound)
        [sale.pk, sale.currency, sale.brand_id, int_array(uids)],
    )
    existing = {u: o for u, o, _a, _f in rows if o is not None}
    wallets = {u: a for u, _o, a, _f in rows if a is not None}
    fans = {u for u, _o, _a, f in rows if f}
    return existing, wallets, fans


def _tag_buyers(sale: ExclusiveSale, user_ids: list[int]) -> None:
    """`bought:sale:<id>` on every buyer (segments target it), one statement."""
    from config.bulk import execute_bound

    if connection.vendor != "postgresql":
        PersonTag.objects.bulk_create(
            [
                PersonTag(brand_id=sale.brand_id, user_id=u, tag=f"bought:sale:{sale.pk}")
                for u in user_ids
            ],
            ignore_conflicts=True,
        )
        return
    table = connection.ops.quote_name(PersonTag._meta.db_table)
    execute_bound(
        f"INSERT INTO {table} (brand_id, user_id, tag, created_at)"  # noqa: S608
        " SELECT %s, u, %s, %s FROM unnest(%s::bigint[]) AS u"
        " ON CONFLICT (brand_id, user_id, tag) DO NOTHING",
        [sale.brand_id, f"bought:sale:{sale.pk}", timezone.now(), int_array(user_ids)],
        fetch=False,
    )


# --- the API's purchase -----------------------------------------------------------------


def sale_order_status(*, sale_id: int, user) -> dict:
    """Where this person's purchase stands: settled (with the order), reserved (being
    settled), refused (with the reason) or none."""
    st, fail = _gate().state(sale_id, user.pk)
    if st and st.startswith("o"):
        return {"status": "settled", "order": SaleOrder.objects.get(pk=int(st[1:]))}
    if st == "r":
        return {"status": "reserved", "order": None}
    order = SaleOrder.objects.filter(sale_id=sale_id, user=user).first()
    if order is not None:
        return {"status": "settled", "order": order}
    if fail:
        return {"status": "refused", "reason": fail, "order": None}
    return {"status": "none", "order": None}


def sale_buy(
    *, brand_id: int, sale_id: int, user, now: dt.datetime | None = None, wait: float = 5.0
) -> SaleOrder:
    """Buy one unit (the API): reserve, then settle — leading the settlement if nobody
    is, else waiting for it — for up to `wait` seconds. Idempotent per person: buying
    again returns the first order. Raises `SalePending` when the rush outlasts `wait`."""
    from payments import ledger

    r = sale_reserve(brand_id=brand_id, sale_id=sale_id, user=user, now=now)
    if r.order_id:
        return SaleOrder.objects.select_related("sale").get(pk=r.order_id)
    gate = _gate()
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        st, fail = gate.state(sale_id, user.pk)
        if st and st.startswith("o"):
            return SaleOrder.objects.select_related("sale").get(pk=int(st[1:]))
        if st is None:
            if fail == "insufficient_funds":
                raise ledger.InsufficientFunds(currency=_currency(sale_id))
            if fail == "sold_out":
                raise SoldOut()
            if fail == "not_following":
                raise NotFound("No such sale.", code="sale_not_found")
            raise Conflict("The reservation was lost; try again.", code="sale_retry")
        if sale_settle(sale_id=sale_id):
            continue
        if time.monotonic() > deadline:
            raise SalePending(r)
        time.sleep(pause)
        pause = min(0.05, pause * 2)


def _currency(sale_id: int) -> str:
    return ExclusiveSale.objects.filter(pk=sale_id).values_list("currency", flat=True).first()
