"""Sticker store: catalogue reads/s and p99 with 10,000 packs, and purchases/s.

Real uvicorn processes on PostgreSQL + Redis. The catalogue is seeded in bulk (10,000
published packs, one sticker each, 12 categories, some featured); buyers are real users
with tokens, funded wallets and a PIN-free limit (so a purchase is the wallet path, not
an Argon2 PIN check, which payments benchmarks on its own).

Requests are sent by a lean keep-alive HTTP/1.1 client (`_raw_closed_loop`), not httpx:
the load generator shares the 2 cores with the servers, and httpx costs several
milliseconds of CPU per request here — more than the catalogue edge it would be
measuring, and CPU a purchase would otherwise not get. Every row also reports CPU per
request, of the server processes and of the load generator, read from /proc: figures
that a busy machine moves much less than requests per second.
"""

from __future__ import annotations

import itertools
import json
import time

import httpx

from bench.load import measured
from bench.load import raw_closed_loop as _raw_closed_loop
from bench.load import run_loop as _run_loop
from bench.stats import cpu_by_pid, cpu_used, median, pg_backend_pids, table
from tests.load.servers import start_servers

CATEGORIES = [
    "animals",
    "emotions",
    "work",
    "love",
    "food",
    "festivals",
    "sports",
    "memes",
    "anime",
    "travel",
    "music",
    "family",
]

# Runs inside `manage.py shell` of the servers' own database: bulk rows for the catalogue
# (10,000 packs through the upload API would take the whole bench), real services for
# people, tokens, wallets and PINs.
SEED = r"""
import json, random
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from accounts.models import User
from accounts.services import device_token_issue
from payments.services.funding import operator_credit
from payments.services.pin import pin_free_limit_set, pin_set
from store.images import demo_png, make_thumbnail
from store.models import CreatorProfile, Pack, Sticker
from store.services.review import pack_feature

N, BUYERS, CATS = {packs}, {buyers}, {categories}
rnd = random.Random(7)
creators = []
for i in range(20):
    u = User.objects.create_user(phone=f"+1415557{{i:04d}}", display_name=f"Creator {{i}}")
    creators.append(CreatorProfile.objects.create(user=u, display_name=f"Studio {{i}}"))
images = []
for i in range(8):
    png = demo_png(color=(30 * i, 120, 200), side=240)
    images.append((default_storage.save(f"stickers/images/bench{{i}}.png", ContentFile(png)),
                   default_storage.save(f"stickers/thumbs/bench{{i}}.png", ContentFile(make_thumbnail(png)))))
now = timezone.now()
words = ["cat", "dog", "happy", "sad", "party", "office", "dragon", "panda", "love", "boss"]
packs = [
    Pack(
        creator=creators[i % len(creators)],
        title=f"{{words[i % 10].title()}} pack {{i}}",
        category=CATS[i % len(CATS)],
        tags=[words[(i * 3) % 10]],
        search_text=f"{{words[i % 10]}} pack {{i}} {{words[(i * 3) % 10]}}",
        price_amount=100 * (1 + i % 5),
        currency="USD",
        status="published",
        popularity=rnd.randrange(100000),
        published_at=now - timezone.timedelta(minutes=i),
    )
    for i in range(N)
]
Pack.objects.bulk_create(packs, batch_size=2000)
packs = list(Pack.objects.order_by("id"))
Sticker.objects.bulk_create(
    [
        Sticker(pack=p, image=images[k % 8][0], thumbnail=images[k % 8][1], emoji="😀",
                position=1, format="PNG", width=240, height=240, size_bytes=2000)
        for k, p in enumerate(packs)
    ],
    batch_size=2000,
)
for p in packs[:12]:
    pack_feature(pack_id=p.pk)
buyers = []
for i in range(BUYERS):
    u = User.objects.create_user(phone=f"+1415558{{i:04d}}", display_name=f"Buyer {{i}}")
    operator_credit(user_id=u.pk, amount=10_000_000, currency="USD")
    pin_set(user=u, pin="135790")
    pin_free_limit_set(user=u, limit=20000)
    buyers.append(device_token_issue(user=u))
print("BENCH" + json.dumps({{"packs": [p.pk for p in packs], "prices": [p.price_amount for p in packs], "tokens": buyers}}))
"""


def _seed(servers, packs: int, buyers: int) -> dict:
    code = SEED.format(packs=packs, buyers=buyers, categories=repr(CATEGORIES))
    out = servers.manage("shell", "-c", code)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH"))
    return json.loads(line[5:])


def _catalogue_urls() -> list[str]:
    urls = ["/api/v1/store/packs"]  # the storefront: the most frequent read by far
    for sort in ("popular", "new", "price"):
        urls.append(f"/api/v1/store/packs?sort={sort}")
        for cat in CATEGORIES[:4]:
            urls.append(f"/api/v1/store/packs?sort={sort}&category={cat}")
    urls += [f"/api/v1/store/packs?q={w}" for w in ("cat", "panda", "boss", "party")]
    return urls


def _reads(servers, *, duration: float, concurrency: int, mode: str) -> dict:
    urls = servers.urls
    paths = _catalogue_urls()
    etags: dict[str, str] = {}
    # Second pages: cursors from each first page (keyset pagination under load).
    if mode == "mixed":
        for p in list(paths):
            nxt = httpx.get(urls[0] + p, timeout=30).json()["next"]
            if nxt:
                sep = "&" if "?" in p else "?"
                paths.append(f"{p}{sep}cursor={nxt}")
    if mode == "revalidate":
        for p in paths:
            etags[p] = httpx.get(urls[0] + p, timeout=30).headers["ETag"]
    counter = itertools.count()

    def next_request():
        k = next(counter)
        path = paths[0] if mode == "storefront" else paths[k % len(paths)]
        return path, ({"If-None-Match": etags[path]} if mode == "revalidate" else {})

    ok = (304,) if mode == "revalidate" else (200,)  # a 304 is the success answer there
    return _run_loop(
        _raw_closed_loop(urls, next_request, concurrency=concurrency, duration=duration, ok=ok)
    )


def _baseline(servers, token: str, *, duration: float, concurrency: int) -> dict:
    """GET /api/v1/me through the same servers and the same client: the stack's own floor
    for a request that enters Django."""

    def next_request():
        return "/api/v1/me", {"Authorization": f"Bearer {token}"}

    return _run_loop(
        _raw_closed_loop(servers.urls, next_request, concurrency=concurrency, duration=duration)
    )


def _purchases(servers, seed: dict, *, duration: float, concurrency: int) -> dict:
    tokens, packs, prices = seed["tokens"], seed["packs"], seed["prices"]
    counter = itertools.count()
    stamp = int(time.time())

    def next_request():
        k = next(counter)
        buyer = k % len(tokens)
        idx = (k // len(tokens)) % len(packs)  # each buyer walks the catalogue: never owned
        return (
            f"/api/v1/store/packs/{packs[idx]}/purchase",
            {"Authorization": f"Bearer {tokens[buyer]}", "Idempotency-Key": f"bench-{stamp}-{k}"},
            {"expected_price": prices[idx]},
        )

    return _run_loop(
        _raw_closed_loop(
            servers.urls, next_request, concurrency=concurrency, duration=duration, ok=(201,)
        )
    )


def _measured(servers, run) -> dict:
    """`bench.load.measured` plus the CPU of the PostgreSQL backends serving the servers,
    per request: with the servers' own, what one operation costs the machine."""
    db_url = servers.env["DATABASE_URL"]
    pg0 = cpu_by_pid(pg_backend_pids(db_url))
    res = measured(servers, run)
    res["pg_cpu_ms"] = (
        cpu_used(pg0, cpu_by_pid(pg_backend_pids(db_url))) * 1000 / max(1, res["requests"])
    )
    return res


def _ledger_check(servers) -> str:
    out = servers.manage("ledger_check")
    return out.strip().splitlines()[-1] if out.strip() else "ok"


def run(quick: bool) -> str:
    packs = 10_000
    buyers = 32 if quick else 64
    duration = 5.0 if quick else 15.0
    repeats = 1 if quick else 3
    procs = 2
    concurrency = 32
    servers = start_servers(
        procs,
        extra_env={
            "STORE_PURCHASE_RATE": "100000/s",
            "STORE_CATALOGUE_BUILD_RATE": "100000/s",
            "DB_CONN_MAX_AGE": "60",
        },
    )
    rows = []
    rates: dict[str, list[float]] = {}

    def record(key: str, label: str, run) -> None:
        res = _measured(servers, run)
        rates.setdefault(key, []).append(res["rps"])
        rows.append(
            [
                label,
                concurrency,
                res["rps"],
                res["p50_ms"],
                res["p99_ms"],
                res["errors"],
                res["server_cpu_ms"],
                res["pg_cpu_ms"],
                res["client_cpu_ms"],
            ]
        )

    try:
        t0 = time.perf_counter()
        seed = _seed(servers, packs, buyers)
        seed_s = time.perf_counter() - t0
        for _ in range(repeats):
            record(
                "baseline",
                "baseline: GET /api/v1/me (token lookup, no store code)",
                lambda: _baseline(
                    servers, seed["tokens"][0], duration=duration, concurrency=concurrency
                ),
            )
        for label, mode in (
            ("storefront first page (cached)", "storefront"),
            ("mixed: 3 sorts × categories × 2 pages + search", "mixed"),
            ("revalidate with If-None-Match → 304", "revalidate"),
        ):
            for _ in range(repeats):
                record(
                    label,
                    f"GET catalogue: {label}",
                    lambda mode=mode: _reads(
                        servers, duration=duration, concurrency=concurrency, mode=mode
                    ),
                )
        for _ in range(repeats):
            record(
                "purchase",
                "POST purchase (wallet, Idempotency-Key)",
                lambda: _purchases(servers, seed, duration=duration, concurrency=concurrency),
            )
        books = _ledger_check(servers)
    finally:
        servers.stop()
    read = median(rates["storefront first page (cached)"])
    mixed = median(rates["mixed: 3 sorts × categories × 2 pages + search"])
    buy = median(rates["purchase"])
    floor = median(rates["baseline"])
    out = [
        f"{procs} uvicorn processes on PostgreSQL + Redis, {packs:,} published packs, "
        f"{buyers} buyers; the load generator (a lean keep-alive HTTP/1.1 client) runs on "
        f"the same 2 cores "
        f"(seeded in {seed_s:.0f} s). Goals: ≥ 1,000 catalogue reads/s, ≥ 300 purchases/s.",
        "",
        table(
            [
                "operation",
                "concurrency",
                "req/s",
                "p50 ms",
                "p99 ms",
                "non-2xx",
                "server CPU ms/req",
                "PostgreSQL CPU ms/req",
                "load generator CPU ms/req",
            ],
            rows,
        ),
        "",
        f"Median: storefront {read:,.0f} reads/s, mixed catalogue {mixed:,.0f} reads/s, "
        f"{buy:,.0f} purchases/s; the same servers answer {floor:,.0f} GET /me per second, "
        f"so the cached storefront runs at {read / floor if floor else float('nan'):.2f}× the rate of a "
        f"trivial authenticated read. Ledger check after the run: {books}.",
    ]
    return "\n".join(out) + "\n"
