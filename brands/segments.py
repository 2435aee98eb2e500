"""Segment rule trees: validate, compile to one SQL query, estimate privately.

A rule tree is JSON:

    {"and": [node, ...]}   {"or": [node, ...]}   {"not": node}
    {"rule": "<name>", ...}                      a leaf, see LEAVES below

Every tree compiles to a `Q` over the brand's `Follow` rows (joined to the person), so
a segment is always evaluated by the database — never by loading people into Python.
Leaves that need other apps (sticker purchases, merchant spend, chat read receipts) use
those apps' selectors, which hand back querysets to correlate with `OuterRef("user_id")`.

Privacy (docs/BRANDS.md): `estimate()` hides audiences below PRIVACY_MIN_AUDIENCE,
rounds down to a coarse granularity, and refuses a tree in which any single node changes
the audience by fewer than the floor (the "difference" attack: S versus S AND NOT x).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone

from config.errors import InvalidInput

from .models import Brand, Delivery, Follow, OfferClaim, PersonTag

MAX_DEPTH = 5
MAX_NODES = 16
MAX_LIST = 50

AGE_BANDS = {
    "13-17": (13, 17),
    "18-24": (18, 24),
    "25-34": (25, 34),
    "35-44": (35, 44),
    "45-54": (45, 54),
    "55-64": (55, 64),
    "65+": (65, 130),
}
GENDERS = {"female", "male", "other", "unknown"}

LEAVES = {
    "age_band": "in: list of " + ", ".join(AGE_BANDS),
    "gender": "in: list of female, male, other, unknown",
    "region": "in: list of ISO 3166-1 alpha-2 codes",
    "language": "in: list of language tags",
    "follow_age_days": "min/max: days since the person followed the brand",
    "last_active_days": "max (and/or min): days since the person was last seen",
    "sticker_category": "in: sticker-pack categories the person bought",
    "spent": "days, min (and/or max): minor units paid at the brand's merchant in the last N days",
    "offer": "state: claimed|redeemed, optional offer_id",
    "read_rate": "min (and/or max): share 0..1 of this brand's campaign messages read",
    "tag": "in: tags applied by the brand's own events",
    "bucket": "min/max 0..99: a stable random bucket (hash of person and brand)",
}


def _bad(message: str, path: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_segment", fields={"rules": [f"{path}: {message}"]})


# --- validation ---------------------------------------------------------------------------


def validate(tree: Any) -> dict:
    """Check a rule tree's shape and bounds; return it unchanged. Raise InvalidInput."""
    if tree == {}:
        return tree  # no rules: every eligible follower
    count = [0]
    _validate(tree, "$", 0, count)
    return tree


def _validate(node: Any, path: str, depth: int, count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _bad(f"at most {MAX_NODES} nodes", path)
    if depth > MAX_DEPTH:
        raise _bad(f"at most {MAX_DEPTH} levels deep", path)
    if not isinstance(node, dict) or len(node) == 0:
        raise _bad("a node is a non-empty object", path)
    if "and" in node or "or" in node:
        op = "and" if "and" in node else "or"
        if len(node) != 1 or not isinstance(node[op], list) or not node[op]:
            raise _bad(f"'{op}' takes a non-empty list and nothing else", path)
        for i, child in enumerate(node[op]):
            _validate(child, f"{path}.{op}[{i}]", depth + 1, count)
        return
    if "not" in node:
        if len(node) != 1:
            raise _bad("'not' takes one node and nothing else", path)
        _validate(node["not"], f"{path}.not", depth + 1, count)
        return
    rule = node.get("rule")
    if rule not in LEAVES:
        raise _bad(f"unknown rule {rule!r}; known: {', '.join(sorted(LEAVES))}", path)
    allowed = {"rule"} | _LEAF_KEYS[rule]
    extra = set(node) - allowed
    if extra:
        raise _bad(f"unexpected keys {sorted(extra)} for rule {rule}", path)
    _LEAF_CHECKS[rule](node, path)


def _check_list(node: dict, path: str, allowed: set[str] | None = None, maxlen: int = 64) -> None:
    values = node.get("in")
    if not isinstance(values, list) or not values or len(values) > MAX_LIST:
        raise _bad(f"'in' is a list of 1..{MAX_LIST} strings", path)
    for v in values:
        if not isinstance(v, str) or not v or len(v) > maxlen:
            raise _bad("'in' holds short non-empty strings", path)
        if allowed is not None and v not in allowed:
            raise _bad(f"{v!r} is not one of {sorted(allowed)}", path)


def _check_range(node: dict, path: str, lo: float, hi: float, *, integer: bool = True) -> None:
    if "min" not in node and "max" not in node:
        raise _bad("give 'min' and/or 'max'", path)
    for key in ("min", "max"):
        if key in node:
            v = node[key]
            ok_type = isinstance(v, int) if integer else isinstance(v, int | float)
            if isinstance(v, bool) or not ok_type or not (lo <= v <= hi):
                raise _bad(f"'{key}' must be a number in {lo}..{hi}", path)
    if "min" in node and "max" in node and node["min"] > node["max"]:
        raise _bad("'min' is above 'max'", path)


def _check_spent(node: dict, path: str) -> None:
    days = node.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 730:
        raise _bad("'days' must be a whole number in 1..730", path)
    _check_range(node, path, 0, 10**15)


def _check_offer(node: dict, path: str) -> None:
    if node.get("state") not in ("claimed", "redeemed"):
        raise _bad("'state' must be claimed or redeemed", path)
    oid = node.get("offer_id")
    if oid is not None and (
        isinstance(oid, bool) or not isinstance(oid, int) or oid < 1 or oid > 2**62
    ):
        raise _bad("'offer_id' must be an offer id", path)


_LEAF_KEYS: dict[str, set[str]] = {
    "age_band": {"in"},
    "gender": {"in"},
    "region": {"in"},
    "language": {"in"},
    "follow_age_days": {"min", "max"},
    "last_active_days": {"min", "max"},
    "sticker_category": {"in"},
    "spent": {"days", "min", "max"},
    "offer": {"state", "offer_id"},
    "read_rate": {"min", "max"},
    "tag": {"in"},
    "bucket": {"min", "max"},
}
_LEAF_CHECKS = {
    "age_band": lambda n, p: _check_list(n, p, set(AGE_BANDS)),
    "gender": lambda n, p: _check_list(n, p, GENDERS),
    "region": lambda n, p: _check_list(n, p, maxlen=2),
    "language": lambda n, p: _check_list(n, p, maxlen=16),
    "follow_age_days": lambda n, p: _check_range(n, p, 0, 36500),
    "last_active_days": lambda n, p: _check_range(n, p, 0, 36500),
    "sticker_category": lambda n, p: _check_list(n, p),
    "spent": _check_spent,
    "offer": _check_offer,
    "read_rate": lambda n, p: _check_range(n, p, 0, 1, integer=False),
    "tag": lambda n, p: _check_list(n, p),
    "bucket": lambda n, p: _check_range(n, p, 0, 99),
}


# --- compilation --------------------------------------------------------------------------

# Two rounds of a multiplicative hash modulo the Mersenne prime 2^31-1, the second with a
# salt-derived multiplier: cheap in SQL, identical on SQLite and PostgreSQL (64-bit
# integer arithmetic that never overflows), and an unrelated bucket order per salt.
_P = 2147483647
_A = 1103515245


def _salt_params(salt: int) -> tuple[int, int, int]:
    salt = abs(int(salt))
    return salt % _P, (salt * 48271) % (_P - 2) + 2, (salt * 31 + 7) % _P


def bucket_expr(salt: int, user_field: str = "user_id") -> ExpressionWrapper:
    """A stable pseudo-random bucket 0..99 of a person, salted (brand, campaign)."""
    s1, mult, s2 = _salt_params(salt)
    x1 = ((F(user_field) % Value(_P)) * Value(_A) + Value(s1)) % Value(_P)
    x2 = (x1 * Value(mult) + Value(s2)) % Value(_P)
    return ExpressionWrapper(x2 % Value(100), output_field=BigIntegerField())


def bucket_of(user_id: int, salt: int) -> int:
    """The same hash in Python (for tests and for explaining one person's bucket)."""
    return bucketer(salt)(user_id)


def bucketer(salt: int):
    """`bucket_of` for one salt, its parameters derived once (a campaign batch buckets
    thousands of people with the same salt)."""
    s1, mult, s2 = _salt_params(salt)

    def bucket(user_id: int) -> int:
        return ((((user_id % _P) * _A + s1) % _P * mult + s2) % _P) % 100

    return bucket


def brand_bucket_salt(brand: Brand) -> int:
    return brand.pk * 7919 + brand.bucket_salt


@dataclass
class Context:
    brand: Brand
    now: dt.datetime


def compile_tree(tree: dict, *, brand: Brand, now: dt.datetime | None = None) -> Q:
    """The Q (over Follow) that selects the tree's people. Validates first."""
    validate(tree)
    return _compile(tree, Context(brand=brand, now=now or timezone.now()))


def _compile(node: dict, ctx: Context) -> Q:
    if "and" in node:
        q = Q()
        for child in node["and"]:
            q &= _compile(child, ctx)
        return q
    if "or" in node:
        q = _compile(node["or"][0], ctx)
        for child in node["or"][1:]:
            q |= _compile(child, ctx)
        return q
    if "not" in node:
        return ~_compile(node["not"], ctx)
    return _LEAF_COMPILERS[node["rule"]](node, ctx)


def _range_q(field: str, node: dict, convert=lambda v: v) -> Q:
    q = Q()
    if "min" in node:
        q &= Q(**{f"{field}__gte": convert(node["min"])})
    if "max" in node:
        q &= Q(**{f"{field}__lte": convert(node["max"])})
    return q


def _age_band(node: dict, ctx: Context) -> Q:
    year = ctx.now.year
    q = Q(pk__in=[])
    for band in node["in"]:
        lo, hi = AGE_BANDS[band]
        q |= Q(user__birth_year__gte=year - hi, user__birth_year__lte=year - lo)
    return q


def _gender(node: dict, ctx: Context) -> Q:
    values = set(node["in"])
    q = Q(user__gender__in=sorted(values - {"unknown"}))
    if "unknown" in values:
        q |= Q(user__gender="")
    return q


def _days_ago_range(field: str, node: dict, ctx: Context) -> Q:
    # "at least N days ago" is an upper bound on the timestamp and vice versa.
    q = Q()
    if "min" in node:
        q &= Q(**{f"{field}__lte": ctx.now - dt.timedelta(days=node["min"])})
    if "max" in node:
        q &= Q(**{f"{field}__gte": ctx.now - dt.timedelta(days=node["max"])})
    return q


def _sticker_category(node: dict, ctx: Context) -> Q:
    from store import selectors as store_selectors

    return Q(
        Exists(
            store_selectors.pack_purchases_in_categories(
                categories=node["in"], buyer_id=OuterRef("user_id")
            )
        )
    )


def _spent(node: dict, ctx: Context) -> Q:
    from payments import selectors as pay_selectors

    if ctx.brand.merchant_id is None:
        return Q(pk__in=[]) if node.get("min", 0) > 0 else Q()
    since = ctx.now - dt.timedelta(days=node["days"])
    totals = pay_selectors.merchant_spend_by_user(merchant_id=ctx.brand.merchant_id, since=since)
    # totals: rows of (user_id, total) — correlate on the person.
    q = Q()
    if "min" in node and node["min"] > 0:
        q &= Q(Exists(totals.filter(user_id=OuterRef("user_id"), total__gte=node["min"])))
    if "max" in node:
        q &= ~Q(Exists(totals.filter(user_id=OuterRef("user_id"), total__gt=node["max"])))
    return q


def _offer(node: dict, ctx: Context) -> Q:
    claims = OfferClaim.objects.filter(brand=ctx.brand, user_id=OuterRef("user_id"))
    if node.get("offer_id"):
        claims = claims.filter(offer_id=node["offer_id"])
    if node["state"] == "redeemed":
        claims = claims.filter(redeemed_at__isnull=False)
    return Q(Exists(claims))


def _read_rate(node: dict, ctx: Context) -> Q:
    """Share of this brand's campaign messages the person has read. A message is read
    when the person's read marker in the brand conversation (chat's Membership) has
    reached its seq. People who were never sent one have no rate and never match."""
    from django.db.models import Subquery
    from django.db.models.functions import Coalesce
    from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThanOrEqual

    from chat.services import brand_delivery

    sent = Delivery.objects.filter(
        brand=ctx.brand, user_id=OuterRef("user_id"), status=Delivery.Status.SENT
    )
    read = sent.filter(
        Exists(
            brand_delivery.read_through(
                conversation_id=OuterRef("conversation_id"),
                user_id=OuterRef("user_id"),
                seq=OuterRef("seq"),
            )
        )
    )

    def count_of(qs):
        counted = qs.order_by().values("user_id").annotate(c=Count("id")).values("c")[:1]
        return Coalesce(Subquery(counted, output_field=BigIntegerField()), Value(0))

    n_sent, n_read = count_of(sent), count_of(read)
    # Integer percent arithmetic: read * 100 >= min% * sent.
    q = Q(GreaterThan(n_sent, Value(0)))
    if "min" in node:
        pct = round(node["min"] * 100)
        q &= Q(GreaterThanOrEqual(n_read * Value(100), n_sent * Value(pct)))
    if "max" in node:
        pct = round(node["max"] * 100)
        q &= Q(LessThanOrEqual(n_read * Value(100), n_sent * Value(pct)))
    return q


def _tag(node: dict, ctx: Context) -> Q:
    return Q(
        Exists(
            PersonTag.objects.filter(
                brand=ctx.brand, user_id=OuterRef("user_id"), tag__in=node["in"]
            )
        )
    )


def _bucket(node: dict, ctx: Context) -> Q:
    # Evaluated against an annotation `_bucket` that audience() adds.
    return _range_q("_bucket", node)


_LEAF_COMPILERS = {
    "age_band": _age_band,
    "gender": _gender,
    "region": lambda n, c: Q(user__region__in=n["in"]),
    "language": lambda n, c: Q(user__language__in=n["in"]),
    "follow_age_days": lambda n, c: _days_ago_range("created_at", n, c),
    "last_active_days": lambda n, c: _days_ago_range("user__last_seen_at", n, c),
    "sticker_category": _sticker_category,
    "spent": _spent,
    "offer": _offer,
    "read_rate": _read_rate,
    "tag": _tag,
    "bucket": _bucket,
}


# --- audiences ----------------------------------------------------------------------------


def _uses_bucket(tree: dict) -> bool:
    if not isinstance(tree, dict):
        return False
    if tree.get("rule") == "bucket":
        return True
    children = tree.get("and") or tree.get("or") or ([tree["not"]] if "not" in tree else [])
    return any(_uses_bucket(c) for c in children if isinstance(children, list))


def eligible_follows(brand: Brand, *, with_bucket: bool = True) -> QuerySet[Follow]:
    """Everyone a campaign may reach: following, opted in, active, not erased.
    (Blocking a brand deletes the follow, so blocked people are never here.) The random
    bucket is an annotation, added only when a tree needs it (it costs a hash per row)."""
    qs = Follow.objects.filter(
        brand=brand,
        marketing_opt_in=True,
        user__is_active=True,
        user__erased_at__isnull=True,
    )
    return qs.annotate(_bucket=bucket_expr(brand_bucket_salt(brand))) if with_bucket else qs


def audience(brand: Brand, tree: dict, *, now: dt.datetime | None = None) -> QuerySet[Follow]:
    """The follows a tree selects, as one lazy queryset (one SQL query when evaluated)."""
    if not tree:
        return eligible_follows(brand, with_bucket=False)
    base = eligible_follows(brand, with_bucket=_uses_bucket(tree))
    return base.filter(compile_tree(tree, brand=brand, now=now))


# --- private estimates --------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """What a console may show. `value` is None when the audience is below the floor."""

    value: int | None
    floor: int
    granularity: int

    @property
    def display(self) -> str:
        if self.value is None:
            return f"< {self.floor}"
        return f"≈ {self.value:,}"

    def as_dict(self) -> dict:
        return {
            "estimate": self.value,
            "display": self.display,
            "below_floor": self.value is None,
            "granularity": self.granularity,
            "floor": self.floor,
        }


def privacy_floor() -> int:
    return max(1, int(settings.PRIVACY_MIN_AUDIENCE))


def granularity_for(n: int, floor: int) -> int:
    """Coarse steps: the floor below 10,000 people, then two significant figures."""
    g = floor
    if n >= 10_000:
        g = max(g, 10 ** (len(str(n)) - 2))
    return g


def blur(n: int, *, floor: int | None = None) -> Estimate:
    """Round an exact count down to its granularity; hide it below the floor."""
    floor = privacy_floor() if floor is None else floor
    if n < floor:
        return Estimate(value=None, floor=floor, granularity=floor)
    g = granularity_for(n, floor)
    return Estimate(value=(n // g) * g, floor=floor, granularity=g)


class SegmentTooNarrow(InvalidInput):
    code = "segment_too_narrow"
    status = 422


def _variants(tree: dict) -> list[dict | None]:
    """The tree with each node removed in turn (None = the whole audience). Comparing the
    tree's count with each variant's tells how many people each node alone adds/removes."""
    out: list[dict | None] = [None]  # the root's effect: tree versus everyone eligible

    def walk(node: dict, rebuild) -> None:
        if "and" in node or "or" in node:
            op = "and" if "and" in node else "or"
            children = node[op]
            for i, child in enumerate(children):
                rest = children[:i] + children[i + 1 :]
                if rest:
                    out.append(rebuild({op: rest}))
                elif op == "and":
                    out.append(rebuild(None))
                walk(child, lambda sub, i=i: rebuild(_replace(node, op, i, sub)))
        elif "not" in node:
            walk(node["not"], lambda sub: rebuild({"not": sub} if sub is not None else None))

    walk(tree, lambda sub: sub)
    return out


def _replace(node: dict, op: str, i: int, sub: dict | None) -> dict | None:
    children = list(node[op])
    if sub is None:
        del children[i]
    else:
        children[i] = sub
    return {op: children} if children else None


def estimate(brand: Brand, tree: dict, *, now: dt.datetime | None = None) -> Estimate:
    """The privacy-safe size of a tree's audience, in ONE SQL query.

    The query counts the tree and every one-node-removed variant side by side
    (`COUNT(*) FILTER (WHERE ...)`). If any node changes the audience by between 1 and
    floor-1 people, the estimate is refused: that node isolates a group too small to
    show, and comparing two estimates would reveal it.
    """
    floor = privacy_floor()
    now = now or timezone.now()
    base = eligible_follows(brand, with_bucket=_uses_bucket(tree))
    if not tree:
        return blur(base.count(), floor=floor)
    q_tree = compile_tree(tree, brand=brand, now=now)
    aggregates: dict[str, Any] = {"n": Count("id", filter=q_tree)}
    variants = _variants(tree)
    for i, variant in enumerate(variants):
        q = Q() if variant is None else _compile(variant, Context(brand=brand, now=now))
        aggregates[f"v{i}"] = Count("id", filter=q) if variant is not None else Count("id")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                # One pass over every follower joined to the person. PostgreSQL would
                # otherwise JIT-compile the many FILTER expressions (~0.6 s of the 1M
                # estimate went to compiling) and, in the default 4 MB, spill the
                # join's hash table to disk in batches. Both last for this transaction.
                cur.execute("SET LOCAL jit = off")
                cur.execute("SET LOCAL work_mem = '64MB'")
        row = base.aggregate(**aggregates)
    n = row["n"]
    if n < floor:
        return blur(n, floor=floor)
    # Zero counts as "too small" too: otherwise a refusal would tell "1..floor-1 people
    # have x" apart from "nobody has x".
    for i in range(len(variants)):
        if abs(row[f"v{i}"] - n) < floor:
            raise SegmentTooNarrow(
                f"Each condition must change the audience by at least {floor} people; "
                "one of these changes it by fewer (possibly none). Broaden or remove it.",
            )
    return blur(n, floor=floor)


def exact_size(brand: Brand, tree: dict, *, now: dt.datetime | None = None) -> int:
    """The exact audience size, for the engine's own checks. Never shown to a brand."""
    return audience(brand, tree, now=now).count()
