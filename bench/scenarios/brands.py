"""Brands: segment estimate over N people, campaign delivery to N followers, and an
exclusive sale (attempts > stock) — on PostgreSQL + Redis.

The people, their brand conversations and follows are bulk-generated with COPY (never in
tests). Each phase runs in its own process on a fresh database (created and dropped by
tests.load.servers), without the connection pool, so nothing here skews another scenario.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REGIONS = ["US", "FR", "DE", "GB", "JP", "BR", "IN", "CN", "ES", "IT"]
LANGS = ["en", "fr", "de", "en", "ja", "pt", "hi", "zh", "es", "it"]
GENDERS = ["female", "male", "other", ""]


# --- phases (run in a subprocess with DATABASE_URL set) ------------------------------------


def _copy(model, columns: list[str], rows) -> None:
    """COPY rows (tuples in `columns` order) into `model`'s table; every other column gets
    its field default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.column in columns]
    defaults = {}
    for f in fields:
        if f.column in columns:
            continue
        value = f.get_default()
        if isinstance(value, dict | list):
            value = json.dumps(value)
        defaults[f.column] = value
    cols = columns + list(defaults)
    tail = tuple(defaults.values())
    table = model._meta.db_table
    with connection.cursor() as cur:
        raw = cur.cursor
        with raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row + tail)


def _next_id(model, n: int) -> int:
    """Reserve n ids of model's sequence; returns the first."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        start = cur.fetchone()[0] + 1
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)",  # noqa: S608
            [start + n],
        )
    return start


def phase_populate(n: int) -> dict:
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import User
    from brands import services
    from brands.models import Follow
    from chat.models import Conversation, Membership

    t0 = time.time()
    now = timezone.now()
    owner = User.objects.create_user(phone="+19990000000", display_name="Bench owner")
    brand = services.brand_create(name="Bench Brand", owner=owner)
    with connection.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cur.fetchone()[0]
    with transaction.atomic():
        if superuser:
            # Generated data only: no per-row foreign-key triggers. With them, the COMMIT
            # checked (and row-locked) 5,000,000 references one by one — minutes at 1M,
            # over ten under load. The references are checked below, set-based.
            with connection.cursor() as cur:
                cur.execute("SET LOCAL session_replication_role = replica")
        u0 = _next_id(User, n)
        _copy(
            User,
            [
                "id",
                "phone",
                "password",
                "region",
                "language",
                "time_zone",
                "birth_year",
                "gender",
                "date_joined",
                "last_seen_at",
            ],
            (
                (
                    u0 + i,
                    f"+1888{i:010d}",
                    "!",
                    REGIONS[i % 10],
                    LANGS[(i // 10) % 10],
                    "UTC",
                    1950 + (i * 7919) % 56,
                    GENDERS[(i * 31) % 4],
                    now,
                    now - dt.timedelta(days=(i * 13) % 90),
                )
                for i in range(n)
            ),
        )
        c0 = _next_id(Conversation, n)
        _copy(
            Conversation,
            ["id", "kind", "title", "created_at"],
            ((c0 + i, "brand", brand.name, now) for i in range(n)),
        )
        _copy(
            Membership,
            ["conversation_id", "user_id", "role", "joined_at"],
            ((c0 + i, u0 + i, "member", now) for i in range(n)),
        )
        # 95% gave marketing consent; follow ages spread over a year.
        _copy(
            Follow,
            ["brand_id", "user_id", "created_at", "marketing_opt_in", "conversation_id"],
            (
                (brand.pk, u0 + i, now - dt.timedelta(days=(i * 17) % 365), i % 20 != 0, c0 + i)
                for i in range(n)
            ),
        )
    with connection.cursor() as cur:
        for table, column, target in (
            ("chat_membership", "conversation_id", "chat_conversation"),
            ("chat_membership", "user_id", "accounts_user"),
            ("brands_follow", "user_id", "accounts_user"),
            ("brands_follow", "conversation_id", "chat_conversation"),
            ("brands_follow", "brand_id", "brands_brand"),
        ):
            cur.execute(
                f"SELECT count(*) FROM {table} x LEFT JOIN {target} t ON t.id = x.{column}"  # noqa: S608
                f" WHERE x.{column} IS NOT NULL AND t.id IS NULL"
            )
            dangling = cur.fetchone()[0]
            if dangling:
                raise RuntimeError(f"{dangling} dangling {table}.{column}")
        cur.execute("ANALYZE")
    return {
        "brand_id": brand.pk,
        "owner_id": owner.pk,
        "first_user": u0,
        "seconds": time.time() - t0,
    }


TREES = {
    "one leaf (region in FR, DE)": {"rule": "region", "in": ["FR", "DE"]},
    "4 conditions (age AND region AND NOT gender AND active 30 d)": {
        "and": [
            {"rule": "age_band", "in": ["25-34", "35-44"]},
            {"rule": "region", "in": ["US", "FR", "DE", "JP"]},
            {"not": {"rule": "gender", "in": ["male"]}},
            {"rule": "last_active_days", "max": 30},
        ]
    },
    "OR of two groups + follow age + bucket": {
        "and": [
            {
                "or": [
                    {"and": [{"rule": "region", "in": ["US"]}, {"rule": "language", "in": ["en"]}]},
                    {"rule": "age_band", "in": ["18-24"]},
                ]
            },
            {"rule": "follow_age_days", "min": 30},
            {"rule": "bucket", "min": 0, "max": 79},
        ]
    },
}


def phase_estimate(brand_id: int, repeats: int) -> dict:
    from brands import segments
    from brands.models import Brand

    brand = Brand.objects.get(pk=brand_id)
    out = {}
    for name, tree in TREES.items():
        times, shown = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            try:
                shown = segments.estimate(brand, tree).display
            except segments.SegmentTooNarrow:
                shown = "refused"
            times.append(time.perf_counter() - t)
        out[name] = {"times": times, "shown": shown}
    return out


def phase_deliver(brand_id: int, owner_id: int, batch: int) -> dict:
    from django.conf import settings

    from accounts.models import User
    from brands import campaigns, services
    from brands.models import Campaign, Delivery

    settings.CELERY_TASK_ALWAYS_EAGER = False
    owner = User.objects.get(pk=owner_id)
    seg = services.segment_save(brand_id=brand_id, acting_user=owner, name="all", rules={})
    c = campaigns.campaign_create(
        brand_id=brand_id,
        acting_user=owner,
        name="Bench",
        kind="text",
        content={"text": "Hello from the bench"},
        segment_id=seg.pk,
        holdout_percent=5,
        respect_quiet_hours=False,
    )
    Campaign.objects.filter(pk=c.pk).update(
        status=Campaign.Status.SENDING, rules={}, scheduled_at=c.created_at, started_at=c.created_at
    )
    t = time.perf_counter()
    campaigns.campaign_run_to_end(campaign_id=c.pk, batch_size=batch)
    took = time.perf_counter() - t
    counts = dict(
        Delivery.objects.filter(campaign_id=c.pk)
        .values_list("status")
        .annotate(n=__import__("django.db.models", fromlist=["Count"]).Count("id"))
    )
    dupes = Delivery.objects.filter(campaign_id=c.pk).count() - len(
        set(Delivery.objects.filter(campaign_id=c.pk).values_list("user_id", flat=True))
    )
    return {
        "seconds": took,
        "counts": counts,
        "status": Campaign.objects.get(pk=c.pk).status,
        "dupes": dupes,
    }


def phase_fund(first_user: int, buyers: int) -> dict:
    from django.db import transaction

    from payments import ledger, ledger_batch
    from payments.models import Account

    t = time.perf_counter()
    Account.objects.bulk_create(
        [
            Account(
                kind="user_wallet", currency="USD", owner_id=first_user + i, allow_negative=False
            )
            for i in range(buyers)
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )
    ids = list(
        Account.objects.filter(
            kind="user_wallet",
            currency="USD",
            owner_id__gte=first_user,
            owner_id__lt=first_user + buyers,
        ).values_list("id", flat=True)
    )
    funding = ledger.system_account(code="funding", currency="USD")
    # One small entry per wallet, 2,000 per transaction (payments.ledger_batch). One entry
    # of 2,001 postings per 2,000 wallets made the deferred balance trigger (one SUM over
    # the entry's postings, per posting) quadratic: 4,000,000 rows read per entry at
    # COMMIT, minutes for 150,000 wallets.
    for i in range(0, len(ids), 2000):
        with transaction.atomic():
            ledger_batch.post_entries(
                kind="bench.funding",
                entries=[
                    ledger_batch.Entry(
                        key=f"bench.funding:{a}",
                        reference="bench",
                        lines={funding.pk: -5000, a: 5000},
                    )
                    for a in ids[i : i + 2000]
                ],
            )
    return {"seconds": time.perf_counter() - t, "wallets": len(ids)}


def phase_sale_create(brand_id: int, owner_id: int, stock: int) -> dict:
    import datetime as dt

    from django.utils import timezone

    from accounts.models import User
    from brands import sales

    owner = User.objects.get(pk=owner_id)
    sale = sales.sale_create(
        brand_id=brand_id,
        acting_user=owner,
        title="Bench phone",
        price_minor=1000,
        stock=stock,
        starts_at=timezone.now() - dt.timedelta(seconds=1),
    )
    return {"sale_id": sale.pk}


def phase_sale_buyers(brand_id: int, sale_id: int, user_ids: list[int], threads: int) -> dict:
    """Purchase attempts: admission (`sales.sale_reserve`), answered at once — reserved,
    already bought, or sold out. Settlement runs in the settler process meanwhile."""
    import threading

    from django.db import connection

    from accounts.models import User
    from brands import sales

    outcomes = {"reserved": 0, "sold_out": 0, "error": 0}
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def work(ids):
        local = {"reserved": 0, "sold_out": 0, "error": 0}
        lat = []
        try:
            for uid in ids:
                t = time.perf_counter()
                try:
                    sales.sale_reserve(brand_id=brand_id, sale_id=sale_id, user=User(pk=uid))
                    local["reserved"] += 1
                except sales.SoldOut:
                    local["sold_out"] += 1
                except Exception as exc:
                    local["error"] += 1
                    if len(errors) < 3:
                        errors.append(repr(exc))
                lat.append(time.perf_counter() - t)
        finally:
            connection.close()
            with lock:
                for k, v in local.items():
                    outcomes[k] += v
                latencies.extend(lat)

    parts = [user_ids[i::threads] for i in range(threads)]
    ts = [threading.Thread(target=work, args=(p,)) for p in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    latencies.sort()
    return {
        **outcomes,
        "errors": errors,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0,
    }


def phase_sale_settler(sale_id: int, done_path: str) -> dict:
    """Settle queued reservations in batches until the buyers are done and the queue is
    empty (in production: the API's waiting buyers lead it, or any worker)."""
    from brands import sales

    t0 = time.perf_counter()
    settled = batches = 0
    busy = 0.0
    while True:
        t = time.perf_counter()
        n = sales.sale_settle(sale_id=sale_id)
        if n:
            settled += n
            batches += 1
            busy += time.perf_counter() - t
            continue
        if os.path.exists(done_path) and not sales._gate().peek(sale_id, 1):
            break
        time.sleep(0.005)
    return {
        "settled": settled,
        "busy_seconds": busy,
        "seconds": time.perf_counter() - t0,
        "calls": batches,
    }


def phase_sale_check(sale_id: int) -> dict:
    from django.db.models import Count

    from brands.models import ExclusiveSale, SaleOrder
    from payments.ledger import ledger_check
    from payments.models import JournalEntry

    sale = ExclusiveSale.objects.get(pk=sale_id)
    entries = JournalEntry.objects.filter(kind="brands.sale")
    twice = entries.values("reference").annotate(n=Count("id")).filter(n__gt=1).count()
    return {
        "orders": SaleOrder.objects.filter(sale=sale).count(),
        "entries": entries.count(),
        "charged_twice": twice,
        "stock_left": sale.stock_left,
        "stock_total": sale.stock_total,
        "ledger_problems": ledger_check(),
    }


# --- driver --------------------------------------------------------------------------------


def _log(text: str) -> None:
    sys.stderr.write(f"[brands bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def _phase(env: dict, name: str, *args, timeout: int = 3600) -> dict:
    _log(f"phase {name} starts")
    code = (
        "import json, sys, django; django.setup(); "
        "from bench.scenarios import brands as b; "
        f"sys.stdout.write('\\n@@' + json.dumps(b.phase_{name}(*json.loads(sys.argv[1]))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(args))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.rsplit("\n@@", 1)[1])
    _log(f"phase {name} done: {json.dumps(result)[:300]}")
    return result


def _start_phase(env: dict, name: str, args: list) -> subprocess.Popen:
    code = (
        "import json, sys, django; django.setup(); "
        "from bench.scenarios import brands as b; "
        f"sys.stdout.write('\\n@@' + json.dumps(b.phase_{name}(*json.loads(sys.argv[1]))))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish_phase(proc: subprocess.Popen, name: str) -> dict:
    stdout, stderr = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.rsplit("\n@@", 1)[1])
    _log(f"phase {name} done: {json.dumps(result)[:300]}")
    return result


def _parallel_phases(env: dict, name: str, arg_lists: list[list]) -> list[dict]:
    """Run one phase in several processes at once (arguments through temporary files)."""
    import tempfile

    code = (
        "import json, sys, django; django.setup(); "
        "from bench.scenarios import brands as b; "
        "args = json.load(open(sys.argv[1])); "
        f"sys.stdout.write('\\n@@' + json.dumps(b.phase_{name}(*args)))"
    )
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, args in enumerate(arg_lists):
            path = Path(tmp) / f"args-{i}.json"
            path.write_text(json.dumps(args))
            p = subprocess.Popen(
                [sys.executable, "-c", code, str(path)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(p)
        out = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=3600)
            if p.returncode != 0:
                raise RuntimeError(f"phase {name} failed:\n{stderr[-3000:]}")
            out.append(json.loads(stdout.rsplit("\n@@", 1)[1]))
    return out


def run(quick: bool) -> str:
    from bench.stats import median, table
    from brands.sales import SETTLE_BATCH
    from tests.load.servers import start_servers

    people = 50_000 if quick else 1_000_000
    # BRANDS_BENCH_PARTS=deliver (or estimate, sale; comma-separated) runs only those parts
    # (at the chosen size) after the same population, to iterate on one figure.
    parts = set(
        (os.environ.get("BRANDS_BENCH_PARTS") or "estimate,deliver,sale")
        .replace(" ", "")
        .split(",")
    )
    attempts = 6_000 if quick else 150_000
    stock = 4_000 if quick else 100_000
    batch = 5000
    servers = start_servers(0)  # a fresh migrated database, no server processes
    try:
        # Own cache prefix: sale gates are keyed by sale id, and every fresh database
        # starts its ids at 1.
        env = {
            **servers.env,
            "DB_POOL": "0",
            "PLAZA_BENCH": "1",
            "CACHE_KEY_PREFIX": f"bench-brands-{servers.database_name or time.time_ns()}",
        }
        env.pop("PLAZA_TESTING", None)
        pop = _phase(env, "populate", people)
        est = deliver = None
        if "estimate" in parts:
            est = _phase(env, "estimate", pop["brand_id"], 3 if quick else 5)
        if "deliver" in parts:
            deliver = _phase(env, "deliver", pop["brand_id"], pop["owner_id"], batch)
        if "sale" in parts:
            fund = _phase(env, "fund", pop["first_user"], attempts)
            sale = _phase(env, "sale_create", pop["brand_id"], pop["owner_id"], stock)
            buyers = list(range(pop["first_user"], pop["first_user"] + attempts))
            procs, threads = 2, 16
            _log(f"sale: {attempts} attempts in {procs} processes, one settler")
            done = Path(tempfile.mkdtemp(prefix="brands-bench-")) / "buyers-done"
            t = time.perf_counter()
            settler = _start_phase(env, "sale_settler", [sale["sale_id"], str(done)])
            results = _parallel_phases(
                env,
                "sale_buyers",
                [
                    [pop["brand_id"], sale["sale_id"], buyers[i::procs], threads]
                    for i in range(procs)
                ],
            )
            attempts_seconds = time.perf_counter() - t
            done.write_text("done")
            settled = _finish_phase(settler, "sale_settler")
            sale_seconds = time.perf_counter() - t
            check = _phase(env, "sale_check", sale["sale_id"])
    finally:
        servers.stop()

    lines = [
        f"PostgreSQL + Redis, {'quick' if quick else 'full'} size: {people:,} people generated "
        f"with COPY in {pop['seconds']:.0f} s (each with a brand conversation and a follow, "
        "95% opted in). Service layer in separate processes, no server in the path.",
    ]
    if est is not None:
        est_rows = [
            [
                name,
                f"{median(r['times']) * 1000:,.0f}",
                f"{max(r['times']) * 1000:,.0f}",
                r["shown"],
            ]
            for name, r in est.items()
        ]
        lines += [
            "",
            "**Segment size estimate** (one SQL query counting the tree and every "
            "one-node-removed variant for the privacy rule; goal < 1 s at 1,000,000):",
            "",
            table(["segment", "median ms", "max ms", "shown"], est_rows),
        ]
    if deliver is not None:
        counts = deliver["counts"]
        sent = counts.get("sent", 0)
        lines += [
            "",
            f"**Campaign delivery** to {people:,} followers ({counts.get('holdout', 0):,} held "
            f"out, {counts.get('capped', 0):,} capped), batches of {batch:,}, one process: "
            f"{sent:,} messages in {deliver['seconds']:.1f} s = **"
            f"{sent / deliver['seconds']:,.0f} deliveries/s** (goal ≥ 20,000/s); duplicates: "
            f"{deliver['dupes']}; final status {deliver['status']}.",
        ]
    if "sale" in parts:
        ok = sum(r["reserved"] for r in results)
        sold_out = sum(r["sold_out"] for r in results)
        errors = sum(r["error"] for r in results)
        lines += [
            "",
            f"**Exclusive sale**: {attempts:,} attempts from {attempts:,} distinct buyers for "
            f"{stock:,} units, {procs} processes × {threads} threads calling "
            "`sales.sale_reserve` (admission: one Lua script in Redis) while one settler "
            f"process runs `sales.sale_settle` (batches of {SETTLE_BATCH:,}: one transaction "
            f"each) (wallets funded in {fund['seconds']:.0f} s beforehand): all attempts "
            f"answered in {attempts_seconds:.1f} s, everything **settled in "
            f"{sale_seconds:.1f} s** (goal ≤ 60 s for 150,000/100,000); reserved {ok:,}, sold "
            f"out {sold_out:,}, errors {errors}"
            f"{' ' + str(results[0]['errors'][:1]) if errors else ''}; settler busy "
            f"{settled['busy_seconds']:.1f} s over {settled['calls']:,} calls; orders in the "
            f"database {check['orders']:,}, sale entries {check['entries']:,}, buyers charged "
            f"twice {check['charged_twice']}, stock left {check['stock_left']}; admission p50 "
            f"{median([r['p50_ms'] for r in results]):.2f} ms, p99 "
            f"{max(r['p99_ms'] for r in results):.1f} ms; `ledger_check`: "
            f"{'clean' if not check['ledger_problems'] else check['ledger_problems'][:3]}.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m bench.scenarios.brands [--full]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    print(run(quick="--full" not in sys.argv))
