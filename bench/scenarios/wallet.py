"""Wallet: transfers per second through the service layer and through REST, with and
without a hot fee account, and p99 latency at half the measured REST rate.

Service layer: worker processes, each with threads, call `payments.ledger.post_entry`
(the entry an accepted transfer writes) and the full `transfer_create` +
`transfer_accept` use case on the bench database. Several processes because that is how
production runs Plaza (several uvicorn / Celery worker processes), and because threads in
ONE Python process share one GIL: the old single-process figure measured the GIL as much
as the ledger (a one-process row is kept for comparison). "Hot fee" adds a third posting
to the platform revenue account: once with 1 shard (every entry locks the same row) and
once with 8 shards (the default). A floor row measures this machine's ceiling for the
same number of concurrent durable commits with no ledger work at all (PostgreSQL must
flush its WAL at every COMMIT; concurrent commits share a flush).

REST: real uvicorn processes on their own PostgreSQL database; each transfer is two
requests, `POST /api/v1/transfers` by the sender (with an Idempotency-Key) and
`POST /api/v1/transfers/{id}/accept` by the recipient. Senders have a PIN-free limit, so
the figure is the wallet path, not Argon2 (which is deliberately slow).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import sys
import threading
import time
import uuid

import httpx

from bench.stats import pct, table
from tests.load.servers import start_servers

PEOPLE = 60  # wallets in play (REST)
PROCS = int(os.environ.get("BENCH_WALLET_PROCS", "4"))  # service-layer worker processes
THREADS = int(os.environ.get("BENCH_WALLET_THREADS", "8"))  # threads in each
ACCOUNTS = 10_000  # accounts the service-layer entries move money between
ERRORS: list[str] = []  # the first few exceptions a service-layer run saw
CPU_ROWS: list[list] = []  # CPU per entry, group commit off and on


# --- service layer --------------------------------------------------------------------


def _service_accounts(n: int):
    from payments import ledger
    from payments.models import Account, AccountKind

    tag = uuid.uuid4().hex[:8]
    Account.objects.bulk_create(
        Account(kind=AccountKind.CREATOR_EARNINGS, owner_ref=f"bench:{tag}:{i}", currency="USD")
        for i in range(n)
    )
    accounts = list(Account.objects.filter(owner_ref__startswith=f"bench:{tag}:"))
    funding = ledger.system_account(code="funding", currency="USD")
    for k in range(0, n, 1000):  # funded by a few big entries, not n small ones
        chunk = accounts[k : k + 1000]
        ledger.post_entry(
            kind="bench.fund",
            postings=[(funding, -(10**9) * len(chunk)), *((acc, 10**9) for acc in chunk)],
        )
    return accounts


def _threads(fn, *, threads: int, seconds: float, seed: int = 0) -> tuple[int, list, int, float]:
    """Run `fn(rng)` in `threads` threads for `seconds`: (calls, latencies, errors, s)."""
    from django.db import connection

    deadline = time.monotonic() + seconds
    counts, latencies, errors = [0] * threads, [], [0]
    lock = threading.Lock()

    def worker(i):
        rng = random.Random(seed * 1000 + i)
        mine = []
        try:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    fn(rng)
                    counts[i] += 1
                except Exception as exc:
                    errors[0] += 1
                    if len(ERRORS) < 5:
                        ERRORS.append(repr(exc)[:300])
                mine.append(time.perf_counter() - t0)
                connection.close()  # back to the pool after each use case, as a request
        finally:
            with lock:
                latencies.extend(mine)
            connection.close()

    started = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    [t.start() for t in ts]
    [t.join(seconds + 120) for t in ts]
    return sum(counts), latencies, errors[0], time.monotonic() - started


def _workload(name: str, payload: dict):
    """The function each thread calls in a loop, in whichever process runs it."""
    from django.conf import settings
    from django.db import connection

    from payments import ledger

    if name == "floor":
        # One durable commit and nothing else: a one-row insert into a bench-only table
        # (its COMMIT must flush the WAL, as a ledger entry's does).
        def floor(rng):
            with connection.cursor() as cur:
                cur.execute("INSERT INTO bench_wallet_floor (at) VALUES (now())")

        return floor
    if name in ("plain", "fee"):
        accounts = payload["accounts"]
        settings.LEDGER_HOT_ACCOUNT_SHARDS = payload.get("shards", 8)
        settings.LEDGER_GROUP_COMMIT = payload.get("grouped", True)
        if name == "plain":

            def plain(rng):
                a, b = rng.sample(accounts, 2)
                ledger.post_entry(kind="bench.move", postings=[(a, -1), (b, 1)])

            return plain

        def with_fee(rng):
            a, b = rng.sample(accounts, 2)
            fee = ledger.revenue_account(currency="USD")
            ledger.post_entry(kind="bench.move", postings=[(a, -3), (b, 2), (fee, 1)])

        return with_fee
    if name == "usecase":
        from accounts.models import User
        from payments.services.transfers import transfer_accept, transfer_create

        settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 10**12}
        users = User.objects.in_bulk(payload["users"])
        pairs = [(users[a], users[b]) for a, b in payload["pairs"]]

        def one(rng):
            a, b = rng.choice(pairs)
            if rng.random() < 0.5:
                a, b = b, a
            t = transfer_create(sender=a, to_user_id=b.pk, amount=1, currency="USD", pin=None)
            transfer_accept(user=b, transfer_id=t.pk)

        return one
    raise ValueError(name)


def _child(name, payload, threads, seconds, seed, barrier, queue):  # pragma: no cover
    import django

    django.setup()
    fn = _workload(name, payload)
    fn(random.Random(-seed))  # warm: imports, the pool, plan caches
    barrier.wait(timeout=120)
    n, lat, errors, took = _threads(fn, threads=threads, seconds=seconds, seed=seed)
    queue.put((n, lat, errors, took, ERRORS[:3]))


def _measure(name: str, payload: dict, *, procs: int, threads: int, seconds: float):
    """(calls/s, latencies, errors) of `name` run by `threads` threads in each of `procs`
    fresh worker processes (procs=0: threads in this process)."""
    if procs == 0:
        fn = _workload(name, payload)
        n, lat, errors, took = _threads(fn, threads=threads, seconds=seconds)
        return n / took, lat, errors
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked pool
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(name, payload, threads, seconds, k + 1, barrier, queue))
        for k in range(procs)
    ]
    [c.start() for c in children]
    results = [queue.get(timeout=seconds + 300) for _ in children]
    [c.join(30) for c in children]
    lat = [x for r in results for x in r[1]]
    for r in results:
        ERRORS.extend(r[4][: max(0, 5 - len(ERRORS))])
    return sum(r[0] for r in results) / max(r[3] for r in results), lat, sum(r[2] for r in results)


def _row(label, shape, measured) -> list:
    rate, lat, errors = measured
    row = [label, shape, int(rate), pct(lat, 50) * 1000, pct(lat, 99) * 1000, errors]
    print("wallet bench:", row, file=sys.stderr, flush=True)
    return row


def _service_rows(seconds: float) -> list[list]:
    from django.conf import settings
    from django.db import connection

    from payments import ledger

    # Many wallets, as in production: with a handful, entries queue on each other's row
    # locks (held until the commit is on disk), which measures contention, not the ledger.
    accounts = [a.pk for a in _service_accounts(ACCOUNTS)]
    for shard in range(8):  # every shard exists before the timed loops
        ledger.revenue_account(currency="USD", shard=shard)
    with connection.cursor() as cur:  # the floor's table, in the bench database only
        cur.execute(
            "CREATE TABLE IF NOT EXISTS bench_wallet_floor (id bigserial PRIMARY KEY, at timestamptz)"
        )
    shape = f"{PROCS} × {THREADS}"
    global CPU_ROWS
    CPU_ROWS = _cpu_rows(accounts)
    rows = [
        _row(
            "floor: one durable COMMIT, no ledger work",
            shape,
            _measure("floor", {}, procs=PROCS, threads=THREADS, seconds=seconds),
        )
    ]
    plain = {"accounts": accounts}
    rows.append(
        _row(
            "post_entry, 2 postings (no fee), ONE process",
            f"1 × {THREADS}",
            _measure("plain", plain, procs=0, threads=THREADS, seconds=seconds),
        )
    )
    for label, name, shards, grouped in (
        ("post_entry, 2 postings (no fee), group commit off", "plain", 8, False),
        ("post_entry, 2 postings (no fee)", "plain", settings.LEDGER_HOT_ACCOUNT_SHARDS, True),
        ("post_entry + fee, revenue 1 shard (hot row), group commit off", "fee", 1, False),
        ("post_entry + fee, revenue 1 shard (hot row)", "fee", 1, True),
        ("post_entry + fee, revenue 8 shards", "fee", 8, True),
    ):
        payload = {"accounts": accounts, "shards": shards, "grouped": grouped}
        rows.append(
            _row(
                label, shape, _measure(name, payload, procs=PROCS, threads=THREADS, seconds=seconds)
            )
        )
    return rows


def _backend_cpu_ms(pid: int) -> float:
    """CPU time PostgreSQL backend `pid` has run so far (Linux schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def _cpu_row(label: str, payload: dict, *, name: str, threads: int, per_thread: int, grouped: bool):
    """CPU per entry, which unlike wall-clock rates hardly moves with the machine's load:
    this process's CPU (all threads) and its PostgreSQL backends' CPU over a fixed number
    of entries posted by `threads` threads, divided by the entries."""
    from django.conf import settings
    from django.db import connection

    from payments import ledger_group

    fn = _workload(name, {**payload, "grouped": grouped})

    def loop(seed: int, count: int):
        rng = random.Random(seed)
        for _ in range(count):
            fn(rng)
            connection.close()  # back to the pool, as a request would

    def run(count: int):
        ts = [threading.Thread(target=loop, args=(k, count)) for k in range(threads)]
        [t.start() for t in ts]
        [t.join(300) for t in ts]

    run(5)  # warm: every thread's pool connection, plan caches
    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [r[0] for r in cur.fetchall()]
    connection.close()
    group = ledger_group.group()
    b0, e0 = group.batches, group.entries
    s0 = {p: _backend_cpu_ms(p) for p in pids}
    c0, w0 = time.process_time(), time.perf_counter()
    run(per_thread)
    wall = time.perf_counter() - w0
    client = (time.process_time() - c0) * 1000
    server = sum(_backend_cpu_ms(p) - s0[p] for p in pids)
    settings.LEDGER_GROUP_COMMIT = True
    n = threads * per_thread
    batches = group.batches - b0
    row = [
        label,
        f"1 × {threads}",
        "on" if grouped else "off",
        f"{(group.entries - e0) / batches:.1f}" if batches else "-",
        client / n,
        server / n,
        (client + server) / n,
        int(n / wall),
    ]
    print("wallet bench:", row, file=sys.stderr, flush=True)
    return row


def _cpu_rows(accounts: list[int]) -> list[list]:
    rows = []
    for label, name, shards in (
        ("post_entry, 2 postings", "plain", 8),
        ("post_entry + fee, revenue 8 shards", "fee", 8),
        ("post_entry + fee, revenue 1 shard", "fee", 1),
    ):
        payload = {"accounts": accounts, "shards": shards}
        for grouped in (False, True):
            rows.append(
                _cpu_row(
                    label, payload, name=name, threads=THREADS, per_thread=150, grouped=grouped
                )
            )
    return rows


def _people(n: int):
    """`n` funded people with PIN-free limits, contacts on a ring: (users, pairs)."""
    from django.conf import settings

    from accounts.friends import friend_request_send
    from accounts.models import User
    from payments.services.funding import operator_credit
    from payments.services.pin import pin_free_limit_set, pin_set

    settings.PAYMENTS_PIN_ARGON2_MEMORY_KIB = 1024  # seeding only; PIN-free below
    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 10**12}
    base = random.randrange(10**6)
    users = [User.objects.create_user(phone=f"+1416{(base + i) % 10**7:07d}") for i in range(n)]
    pairs = [(users[i], users[(i + k) % n]) for i in range(n) for k in (1, 2)]
    for a, b in pairs:
        friend_request_send(from_user=a, to_user=b)
        friend_request_send(from_user=b, to_user=a)
    for u in users:
        operator_credit(user_id=u.pk, amount=10_000, currency="USD")
        pin_set(user=u, pin="123456")
        pin_free_limit_set(user=u, limit=5000)
    return users, pairs


def _soak_row(seconds: float) -> list:
    """The issue's proof at full length: 32 threads of random transfers (accepted or
    returned) among 20 wallets; then totals must be conserved and ledger_check clean."""
    from config.errors import DomainError
    from payments.ledger import ledger_check
    from payments.models import Account
    from payments.services.transfers import transfer_accept, transfer_create, transfer_return

    users, pairs = _people(20)
    ids = [u.pk for u in users]

    def total() -> int:
        rows = Account.objects.filter(owner_id__in=ids, kind="user_wallet")
        return sum(rows.values_list("balance", flat=True))

    before = total()

    def one(rng):
        a, b = rng.choice(pairs)
        if rng.random() < 0.5:
            a, b = b, a
        try:
            t = transfer_create(
                sender=a, to_user_id=b.pk, amount=rng.randint(1, 3000), currency="USD", pin=None
            )
        except DomainError as exc:
            if exc.code != "insufficient_funds":
                raise
            return
        if rng.random() < 0.8:
            transfer_accept(user=b, transfer_id=t.pk)
        else:
            transfer_return(user=b, transfer_id=t.pk)

    n, lat, errors, took = _threads(one, threads=32, seconds=seconds)
    rate = int(n / took)
    conserved = total() == before
    problems = ledger_check()
    return [
        f"soak: 32 threads x {seconds:.0f} s, 20 wallets (create + accept/return)",
        "1 × 32",
        rate,
        pct(lat, 50) * 1000,
        pct(lat, 99) * 1000,
        f"{errors} (conserved: {'yes' if conserved else 'NO'}, ledger_check: "
        f"{'clean' if not problems else len(problems)})",
    ]


def friend_ring(n: int, *, phone_prefix: str, first: int):
    """`n` new people, each a contact of the next on a ring, credited 10**7 in USD,
    with a PIN and a PIN-free limit of 100 (so transfers of 100 skip Argon2): (users,
    pairs), pairs[i] = (users[i], users[i + 1]). Phones are `phone_prefix` + 7 digits
    from `first` on: callers pick a random `first` so each run seeds fresh people (a
    day's transfer sums start at 0) within a range no other seed uses."""
    from django.conf import settings

    from accounts.friends import friend_request_send
    from accounts.models import User
    from payments.services.funding import operator_credit
    from payments.services.pin import pin_free_limit_set, pin_set

    settings.PAYMENTS_PIN_ARGON2_MEMORY_KIB = 1024  # seeding only; transfers are PIN-free
    users = [
        User.objects.create_user(phone=f"{phone_prefix}{(first + i) % 10**7:07d}") for i in range(n)
    ]
    pairs = [(users[i], users[(i + 1) % n]) for i in range(n)]
    for a, b in pairs:
        friend_request_send(from_user=a, to_user=b)
        friend_request_send(from_user=b, to_user=a)
    for u in users:
        operator_credit(user_id=u.pk, amount=10**7, currency="USD")
        pin_set(user=u, pin="123456")
        pin_free_limit_set(user=u, limit=100)
    return users, pairs


def _service_usecase_rows(seconds: float) -> list[list]:
    """transfer_create + transfer_accept: the whole use case (contacts, PIN-free check,
    daily limit, hold, post, pushes), between 200 people who are contacts on a ring."""
    # +1415 0000000-1000199: clear of the other scenarios' +1415 2xxxxxx and 555xxxx.
    users, pairs = friend_ring(200, phone_prefix="+1415", first=random.randrange(10**6))
    payload = {"users": [u.pk for u in users], "pairs": [(a.pk, b.pk) for a, b in pairs]}
    label = "transfer_create + transfer_accept (use case)"
    # CPU per transfer (this process + its PostgreSQL backends), as for the entries above:
    # what the rates below cost, independent of the machine's load.
    CPU_ROWS.append(
        _cpu_row(label, payload, name="usecase", threads=THREADS, per_thread=40, grouped=True)
    )
    return [
        _row(
            label + ", ONE process",
            f"1 × {THREADS}",
            _measure("usecase", payload, procs=0, threads=THREADS, seconds=seconds),
        ),
        _row(
            label,
            f"{PROCS} × {THREADS}",
            _measure("usecase", payload, procs=PROCS, threads=THREADS, seconds=seconds),
        ),
    ]


# --- REST -----------------------------------------------------------------------------

SEED = r"""
import json
from accounts.friends import friend_request_send
from accounts.models import User
from accounts.services import device_token_issue
from payments.services.funding import operator_credit
from payments.services.pin import pin_free_limit_set, pin_set
users = [User.objects.create_user(phone=f"+1415558{{i:04d}}") for i in range({n})]
for i, u in enumerate(users):
    v = users[(i + 1) % len(users)]
    friend_request_send(from_user=u, to_user=v)
    friend_request_send(from_user=v, to_user=u)
    operator_credit(user_id=u.pk, amount=10**8, currency="USD")
    pin_set(user=u, pin="123456")
    pin_free_limit_set(user=u, limit=100)
print(json.dumps([[u.pk, device_token_issue(user=u)] for u in users]))
"""


async def _one_transfer(client, base, people, rng) -> tuple[bool, float]:
    i = rng.randrange(len(people))
    j = (i + 1) % len(people)
    if rng.random() < 0.5:
        i, j = j, i
    (_sid, stoken), (rid, rtoken) = people[i], people[j]
    t0 = time.perf_counter()
    r = await client.post(
        base + "/api/v1/transfers",
        # 100 (the PIN-free limit): a 1% fee of it is 1; of 1 it rounded to 0, so the
        # "fee" rows took no fee and never touched the revenue account.
        json={"to_user_id": rid, "amount": 100, "currency": "USD"},
        headers={"Authorization": f"Bearer {stoken}", "Idempotency-Key": uuid.uuid4().hex},
    )
    if r.status_code != 201:
        return False, time.perf_counter() - t0
    r = await client.post(
        base + f"/api/v1/transfers/{r.json()['id']}/accept",
        headers={"Authorization": f"Bearer {rtoken}"},
    )
    return r.status_code == 200, time.perf_counter() - t0


async def _closed(servers, people, concurrency: int, seconds: float) -> dict:
    deadline = time.perf_counter() + seconds
    lat, errors = [], 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(k):
            nonlocal errors
            rng = random.Random(k)
            while time.perf_counter() < deadline:
                ok, took = await _one_transfer(
                    client, servers.urls[k % len(servers.urls)], people, rng
                )
                lat.append(took)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rps": len(lat) / elapsed, "lat": lat, "errors": errors}


async def _open(servers, people, rate: float, seconds: float) -> dict:
    """Open loop: start a transfer every 1/rate s regardless of answers (p99 at a rate)."""
    lat, errors, tasks = [], 0, []
    async with httpx.AsyncClient(timeout=30) as client:
        rng = random.Random(1)

        async def one(k):
            nonlocal errors
            ok, took = await _one_transfer(client, servers.urls[k % len(servers.urls)], people, rng)
            lat.append(took)
            errors += not ok

        start = time.perf_counter()
        n = int(rate * seconds)
        for k in range(n):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k)))
        await asyncio.gather(*tasks)
    return {"lat": lat, "errors": errors, "sent": len(tasks)}


REST_PROCS = int(os.environ.get("BENCH_WALLET_REST_PROCS", "2"))  # uvicorn processes


def _rest_rows(seconds: float, concurrency: int) -> tuple[list[list], list[list]]:
    import json

    rows, half_rows = [], []
    for label, env in (
        ("no fee", {"PAYMENTS_TRANSFER_FEE_BPS": "0"}),
        (
            "1% fee, revenue 1 shard (hot row)",
            {"PAYMENTS_TRANSFER_FEE_BPS": "100", "LEDGER_HOT_ACCOUNT_SHARDS": "1"},
        ),
        (
            "1% fee, revenue 8 shards",
            {"PAYMENTS_TRANSFER_FEE_BPS": "100", "LEDGER_HOT_ACCOUNT_SHARDS": "8"},
        ),
    ):
        # Seeding sets a PIN per person; the transfers use the PIN-free limit, so a cheap
        # Argon2 cost here only shortens the seeding, not what is measured.
        servers = start_servers(
            REST_PROCS, extra_env={**env, "PAYMENTS_PIN_ARGON2_MEMORY_KIB": "1024"}
        )
        try:
            out = servers.manage("shell", "-c", SEED.format(n=PEOPLE))
            people = json.loads(out.strip().splitlines()[-1])
            res = asyncio.run(_closed(servers, people, concurrency, seconds))
            rows.append(
                [
                    label,
                    concurrency,
                    res["rps"],
                    pct(res["lat"], 50) * 1000,
                    pct(res["lat"], 99) * 1000,
                    res["errors"],
                ]
            )
            print("wallet bench:", rows[-1], file=sys.stderr, flush=True)
            half = max(1.0, res["rps"] / 2)
            o = asyncio.run(_open(servers, people, half, seconds))
            half_rows.append(
                [
                    label,
                    half,
                    o["sent"],
                    pct(o["lat"], 50) * 1000,
                    pct(o["lat"], 99) * 1000,
                    o["errors"],
                ]
            )
        finally:
            servers.stop()
    return rows, half_rows


def run(quick: bool) -> str:
    import django
    from django.db import connection

    django.setup()
    seconds = 4.0 if quick else 15.0
    service = _service_rows(seconds)
    service.extend(_service_usecase_rows(seconds))
    service.append(_soak_row(5.0 if quick else 20.0))
    connection.close()
    headers = [
        "operation",
        "processes × threads",
        "entries or transfers/s",
        "p50 ms",
        "p99 ms",
        "errors",
    ]
    out = [
        "PostgreSQL + Redis on the same shared 2 cores as the load generator (synchronous "
        "commit on: every entry is on disk when post_entry returns). Service layer: "
        f"{PROCS} worker processes × {THREADS} threads for {seconds:.0f} s each, as "
        "production runs several worker processes; the ONE-process rows show what the GIL "
        "costs. The floor row is the same number of concurrent durable commits with no "
        "ledger work: no ledger row can beat it on this machine. REST: "
        f"{REST_PROCS} uvicorn processes; a transfer is two requests (create with "
        f"Idempotency-Key, then accept by the recipient), between {PEOPLE} wallets that "
        "are contacts on a ring.",
        "",
        "### Service layer",
        "",
        table(headers, service),
        "",
        "### CPU per entry and per transfer (one process, group commit off and on)",
        "",
        "Client CPU is this process (all threads), server CPU its PostgreSQL backends, "
        "over 1,200 entries (320 transfers): unlike the rates above, these hardly move "
        "with the machine's load. Group commit (payments/ledger_group.py) posts the "
        "entries queued by concurrent callers in one statement and one COMMIT; a "
        "transfer's steps run in transactions of their own, so it does not apply to them "
        "(bench/wallet_cpu.py also counts a transfer's statements and commits).",
        "",
        table(
            [
                "operation",
                "processes × threads",
                "group commit",
                "entries per batch",
                "client CPU ms",
                "server CPU ms",
                "total CPU ms",
                "entries or transfers/s",
            ],
            CPU_ROWS,
        ),
    ]
    if os.environ.get("BENCH_WALLET_REST", "1") != "0":
        rest, half = _rest_rows(seconds, 16)
        out += [
            "",
            "### REST (closed loop, 16 concurrent clients)",
            "",
            table(
                ["fee account", "concurrency", "transfers/s", "p50 ms", "p99 ms", "errors"], rest
            ),
            "",
            "### REST at half the measured rate (open loop)",
            "",
            table(["fee account", "rate /s", "transfers", "p50 ms", "p99 ms", "errors"], half),
        ]
    if ERRORS:
        out += ["", "First errors: " + "; ".join(ERRORS[:3])]
    return "\n".join(out) + "\n"
