"""CPU, statements and commits per P2P transfer through the service layer
(`transfer_create` + `transfer_accept`, what the REST views call): this process's CPU
(all threads) and its PostgreSQL backends' CPU over a fixed number of transfers.
Load-independent, unlike rates on a shared machine, so two versions of the code can be
compared by running this alternately from each checkout:

    cd <checkout> && BENCH_DATABASE_URL=... BENCH_REDIS_URL=... \
        .venv/bin/python -m bench.wallet_cpu [--threads 4] [--per-thread 100] [--fee-bps 0]
    ... -m bench.wallet_cpu --rest 600 [--concurrency 8]

Prints one line of JSON. With --rest N: N transfers through two real uvicorn servers
(create with an Idempotency-Key, then accept by the recipient, as bench/scenarios/wallet.py
does), and the CPU of the servers and of their PostgreSQL backends per transfer. Statements are those of one transfer in Django's query log;
commits are the transactions that reached COMMIT (atomic blocks) plus the statements run
outside any (each its own transaction), split into writing ones and reads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time


def _backend_ms(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def _people(n: int):
    from bench.scenarios.wallet import friend_ring

    # fresh people each run (a day's sums start at 0); +1417 is this harness's alone
    _, pairs = friend_ring(n, phone_prefix="+1417", first=random.randrange(10**7 - n))
    return pairs


def _one(rng, pairs):
    from payments.services.transfers import transfer_accept, transfer_create

    a, b = rng.choice(pairs)
    if rng.random() < 0.5:
        a, b = b, a
    # 100: the PIN-free limit, and enough for a 1% fee to be 1 (of 1 it rounds to 0).
    t = transfer_create(sender=a, to_user_id=b.pk, amount=100, currency="USD", pin=None)
    transfer_accept(user=b, transfer_id=t.pk)


class _Counter:
    """Statements and transactions of the calls it watches (one thread)."""

    def __init__(self):
        self.sql: list[str] = []
        self.autocommit = 0
        self.commits = 0

    def __call__(self, execute, sql, params, many, context):
        from django.db import connection

        self.sql.append(sql)
        if not connection.in_atomic_block:
            self.autocommit += 1
        return execute(sql, params, many, context)


def _count(pairs) -> dict:
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    counter = _Counter()
    real_commit = BaseDatabaseWrapper.commit

    def commit(self):
        counter.commits += 1
        return real_commit(self)

    BaseDatabaseWrapper.commit = commit
    try:
        rng = random.Random(7)
        n = 20
        with connection.execute_wrapper(counter):
            for _ in range(n):
                _one(rng, pairs)
                connection.close()
    finally:
        BaseDatabaseWrapper.commit = real_commit
    reads = sum(
        1
        for s in counter.sql
        if s.lstrip().upper().startswith("SELECT")
        and "payments_ledger" not in s
        and "payments_transfer_" not in s
    )
    return {
        "statements": len(counter.sql) / n,
        "commits_atomic": counter.commits / n,
        "autocommit_statements": counter.autocommit / n,
        "reads": reads / n,
        "sample": counter.sql[-len(counter.sql) // n :],
    }


def _proc_ms(pid: int) -> float:
    """User + system CPU of a process (all threads) so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _rest(n: int, concurrency: int) -> dict:
    import asyncio
    import logging

    import httpx
    import psycopg

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise

    from bench.scenarios.wallet import SEED, _one_transfer
    from tests.load.servers import start_servers

    servers = start_servers(2, extra_env={"PAYMENTS_PIN_ARGON2_MEMORY_KIB": "1024"})
    try:
        out = servers.manage("shell", "-c", SEED.format(n=60))
        people = json.loads(out.strip().splitlines()[-1])

        async def go(count: int) -> tuple[int, list]:
            lat, errors = [], 0
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(limits=limits, timeout=30) as client:
                left = [count]

                async def worker(k):
                    nonlocal errors
                    rng = random.Random(k)
                    while left[0] > 0:
                        left[0] -= 1
                        url = servers.urls[k % len(servers.urls)]
                        ok, took = await _one_transfer(client, url, people, rng)
                        lat.append(took)
                        errors += not ok

                await asyncio.gather(*(worker(k) for k in range(concurrency)))
            return errors, lat

        asyncio.run(go(100))  # warm: pools, plan caches
        with psycopg.connect(servers.env["DATABASE_URL"], autocommit=True) as conn:
            backends = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                ).fetchall()
            ]
        procs = [p.pid for p in servers.procs]
        p0 = sum(_proc_ms(p) for p in procs)
        b0 = {p: _backend_ms(p) for p in backends}
        c0, w0 = time.process_time(), time.perf_counter()
        errors, lat = asyncio.run(go(n))
        wall = time.perf_counter() - w0
        server = sum(_proc_ms(p) for p in procs) - p0
        db = sum(_backend_ms(p) - b0[p] for p in backends)
        lat.sort()
        return {
            "rest_transfers": n,
            "concurrency": concurrency,
            "errors": errors,
            "servers_ms": round(server / n, 3),
            "backends_ms": round(db / n, 3),
            "servers_plus_backends_ms": round((server + db) / n, 3),
            "loadgen_ms": round((time.process_time() - c0) * 1000 / n, 3),
            "rate": round(n / wall, 1),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1),
        }
    finally:
        servers.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--per-thread", type=int, default=100)
    ap.add_argument("--fee-bps", type=int, default=0)
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--show-sql", action="store_true")
    ap.add_argument("--rest", type=int, default=0, help="REST transfers instead")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    os.environ["DEBUG"] = "false"
    os.environ.pop("PLAZA_TESTING", None)
    import django

    django.setup()
    import payments

    if args.rest:
        res = _rest(args.rest, args.concurrency)
        code = os.path.dirname(os.path.dirname(payments.__file__))
        print(json.dumps({"code": code, **res, "load": os.getloadavg()[0]}))
        return
    from django.conf import settings
    from django.db import connection

    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 10**12}
    settings.PAYMENTS_TRANSFER_FEE_BPS = args.fee_bps
    pairs = _people(args.people)

    def loop(seed: int, count: int):
        rng = random.Random(seed)
        for _ in range(count):
            _one(rng, pairs)
            connection.close()  # back to the pool, as a request would

    def run(count: int):
        ts = [threading.Thread(target=loop, args=(k, count)) for k in range(args.threads)]
        [t.start() for t in ts]
        [t.join(600) for t in ts]

    run(5)  # warm: each thread's pool connection, plan caches
    counts = _count(pairs)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        pids = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_current_wal_insert_lsn()")
        (lsn0,) = cur.fetchone()
    connection.close()
    s0 = {p: _backend_ms(p) for p in pids}
    c0, w0 = time.process_time(), time.perf_counter()
    run(args.per_thread)
    wall = time.perf_counter() - w0
    client = (time.process_time() - c0) * 1000
    server = sum(_backend_ms(p) - s0[p] for p in pids)
    # WAL written per transfer: every row and index entry lands there, and unlike CPU it
    # does not depend on what else the machine is doing (the cluster's other databases
    # are assumed idle during the run).
    with connection.cursor() as cur:
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [lsn0])
        (wal,) = cur.fetchone()
    connection.close()
    n = args.threads * args.per_thread
    out = {
        "code": os.path.dirname(os.path.dirname(payments.__file__)),
        "threads": args.threads,
        "transfers": n,
        "fee_bps": args.fee_bps,
        "client_ms": round(client / n, 3),
        "server_ms": round(server / n, 3),
        "total_ms": round((client + server) / n, 3),
        "rate": round(n / wall, 1),
        "wal_bytes": round(float(wal) / n),
        "load": os.getloadavg()[0],
        **{k: v for k, v in counts.items() if k != "sample"},
    }
    print(json.dumps(out))
    if args.show_sql:
        for s in counts["sample"]:
            print("  ", " ".join(s.split())[:220])


if __name__ == "__main__":
    main()
