"""Catalogue reads (selectors): search, filter, sort, keyset pages, and their cached bytes.

The catalogue is the same for everyone, so a page is rendered to JSON bytes once per
catalogue version and served from the cache with its ETag (see catalogue_cache); a client
holding that ETag gets a 304 with no database work at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from config.errors import InvalidInput
from config.pagination import decode_cursor, encode_cursor

from .catalogue_cache import cached
from .models import Pack, Sticker
from .selectors import file_url, sticker_public

SORTS = ("popular", "new", "price")
MAX_Q = 64


@dataclass(frozen=True)
class CataloguePage:
    etag: str
    body: bytes
    # Wall-clock time of rendering: no copy (shared, process, edge) serves it past
    # built_at + STORE_CATALOGUE_CACHE_SECONDS, which bounds how stale popularity gets.
    built_at: float = 0.0


@dataclass(frozen=True)
class ServedPage:
    """A page and the catalogue version it was built under."""

    version: str
    page: CataloguePage


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def render(value) -> CataloguePage:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return CataloguePage(etag=_etag(body), body=body, built_at=time.time())


def _first_sticker(field: str):
    return Subquery(
        Sticker.objects.filter(pack_id=OuterRef("pk")).order_by("position", "id").values(field)[:1]
    )


def _card_queryset(*, published: bool = True) -> QuerySet[Pack]:
    qs = Pack.objects.filter(status=Pack.Status.PUBLISHED) if published else Pack.objects.all()
    return qs.select_related("creator")


def with_sticker_facts(packs: list[Pack]) -> list[Pack]:
    """Fill in each pack's sticker count and first sticker (its cover fallback) with one
    query over just these packs: sorting and limiting come first, on the catalogue
    indexes, and the per-pack aggregates never run over the whole catalogue."""
    if not packs:
        return packs
    facts = (
        Pack.objects.filter(pk__in=[p.pk for p in packs])
        .annotate(
            n=Count("stickers"),
            first_thumb=_first_sticker("thumbnail"),
            first_image=_first_sticker("image"),
        )
        .values_list("pk", "n", "first_thumb", "first_image")
    )
    by_id = {pk: (n, thumb, image) for pk, n, thumb, image in facts}
    for p in packs:
        p.sticker_count, p.first_thumb, p.first_image = by_id.get(p.pk, (0, "", ""))
    return packs


def pack_card(pack: Pack) -> dict:
    cover = (
        file_url(pack.cover.name)
        or file_url(getattr(pack, "first_thumb", "") or "")
        or file_url(getattr(pack, "first_image", "") or "")
    )
    return {
        "id": pack.pk,
        "title": pack.title,
        "creator": {"id": pack.creator_id, "display_name": pack.creator.display_name},
        "description": pack.description,
        "cover_url": cover,
        "category": pack.category,
        "tags": pack.tags,
        "price": pack.price_amount,
        "currency": pack.currency,
        "is_free": pack.is_free,
        "animated": pack.animated,
        "featured": pack.featured,
        "popularity": pack.popularity,
        "sticker_count": getattr(pack, "sticker_count", None),
        "published_at": pack.published_at.isoformat().replace("+00:00", "Z")
        if pack.published_at
        else None,
    }


# --- keyset pagination ------------------------------------------------------------------
# Order: featured first, then the sort key, then id as the tie-breaker.
_ORDER = {
    "popular": ("-featured", "-popularity", "-id"),
    "new": ("-featured", "-published_at", "-id"),
    "price": ("-featured", "price_amount", "id"),
}


def _key_of(pack: Pack, sort: str):
    if sort == "popular":
        return pack.popularity
    if sort == "new":
        return pack.published_at.isoformat()
    return pack.price_amount


def _after(sort: str, cursor: dict) -> Q:
    bad = InvalidInput("The cursor is not valid.", code="invalid_cursor")
    try:
        featured = bool(cursor["f"])
        pk = int(cursor["i"])
        key = cursor["k"]
        if cursor.get("s") != sort:
            raise bad
        key = dt.datetime.fromisoformat(key) if sort == "new" else int(key)
    except (KeyError, TypeError, ValueError):
        raise bad
    if not (0 <= pk < 2**63) or (sort != "new" and not (0 <= key < 2**63)):
        raise bad
    field = {"popular": "popularity", "new": "published_at", "price": "price_amount"}[sort]
    descending = sort != "price"
    cmp = "lt" if descending else "gt"
    same_featured = Q(featured=featured) & (
        Q(**{f"{field}__{cmp}": key}) | Q(**{field: key, f"pk__{cmp}": pk})
    )
    if featured:
        return Q(featured=False) | same_featured
    return same_featured


def parse_query(params) -> dict:
    q = (params.get("q") or "").strip()
    if len(q) > MAX_Q:
        raise InvalidInput(
            f"q is at most {MAX_Q} characters.", fields={"q": [f"At most {MAX_Q} characters."]}
        )
    if any(ord(ch) < 32 for ch in q):
        raise InvalidInput("q has control characters.", fields={"q": ["Control characters."]})
    category = (params.get("category") or "").strip().lower()
    if len(category) > 32:
        raise InvalidInput("Unknown category.", fields={"category": ["Too long."]})
    sort = params.get("sort") or "popular"
    if sort not in SORTS:
        raise InvalidInput(
            "sort is one of popular, new, price.", fields={"sort": ["popular, new or price."]}
        )
    from config.pagination import parse_limit

    limit = parse_limit(params.get("limit"), default=20, maximum=100)
    cursor = params.get("cursor") or ""
    if len(cursor) > 512:
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    return {"q": q.lower(), "category": category, "sort": sort, "limit": limit, "cursor": cursor}


def catalogue_page_build(*, q: str, category: str, sort: str, limit: int, cursor: str) -> dict:
    qs = _card_queryset()
    if q:
        qs = qs.filter(search_text__contains=q)
    if category:
        qs = qs.filter(category=category)
    decoded = decode_cursor(cursor)
    if decoded is not None:
        qs = qs.filter(_after(sort, decoded))
    rows = list(qs.order_by(*_ORDER[sort])[: limit + 1])
    more = len(rows) > limit
    rows = with_sticker_facts(rows[:limit])
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            {"s": sort, "f": int(last.featured), "k": _key_of(last, sort), "i": last.pk}
        )
    return {"results": [pack_card(p) for p in rows], "next": next_cursor}


def catalogue_page(params, *, on_build=None) -> ServedPage:
    """The rendered page for these query parameters, from the cache when it can.
    `on_build` runs first when the page has to be built (the edge's rate limit)."""
    query = parse_query(params)
    digest = hashlib.blake2b(json.dumps(query, sort_keys=True).encode(), digest_size=16)

    def build() -> CataloguePage:
        if on_build is not None:
            on_build()
        return render(catalogue_page_build(**query))

    version, page = cached(f"store:cat:{digest.hexdigest()}", build)
    return ServedPage(version, page)


def pack_with_stickers(pack: Pack) -> dict:
    """The card plus every sticker (Sticker's default order is the pack order, so a
    prefetch of `stickers` is used as is)."""
    stickers = list(pack.stickers.all())
    first = stickers[0] if stickers else None
    pack.sticker_count = len(stickers)
    pack.first_thumb = first.thumbnail.name if first else ""
    pack.first_image = first.image.name if first else ""
    data = pack_card(pack)
    data["stickers"] = [sticker_public(s) for s in stickers]
    return data


def pack_detail_build(pack_id: int) -> dict | None:
    pack = _card_queryset().filter(pk=pack_id).first()
    return pack_with_stickers(pack) if pack is not None else None


def creator_packs(*, creator_id: int) -> QuerySet[Pack]:
    """A creator's own packs in every status, newest first."""
    return (
        _card_queryset(published=False)
        .filter(creator_id=creator_id)
        .order_by("-id")
        .prefetch_related("stickers")
    )


def creator_pack_data(pack: Pack) -> dict:
    data = pack_with_stickers(pack)
    data["status"] = pack.status
    data["rejection_reason"] = pack.rejection_reason
    return data


def pack_detail_page(pack_id: int, *, on_build=None) -> ServedPage | None:
    """The rendered pack, or None for no such published pack. `on_build` as above: an
    unknown id is never cached, so every miss counts against the caller."""

    def build() -> CataloguePage | None:
        if on_build is not None:
            on_build()
        data = pack_detail_build(pack_id)
        return render(data) if data is not None else None

    version, page = cached(f"store:pack:{pack_id}", build)
    return ServedPage(version, page) if page is not None else None
