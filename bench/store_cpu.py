"""CPU per sticker purchase, old code against new, alternately in one harness.

    python -m bench.store_cpu --old /tmp/store-base [--rounds 4] [--duration 5]
        [--concurrency 32] [--procs 2]

Starts `--procs` uvicorn processes of this checkout and as many of the `--old` checkout
(a plain copy of another commit, e.g. `git archive <commit> | tar -x -C /tmp/store-base`)
on ONE PostgreSQL database (this checkout's migrations) and Redis, seeds it like
bench/scenarios/store.py, then runs purchase phases against old and new in turn (and a
GET /me phase for each, the stack's floor) and prints per phase: purchases/s, server CPU
and PostgreSQL backend CPU per request, from /proc. The buyers walk the catalogue as in
the scenario (at any moment the concurrent buyers buy the same pack: one creator), and
never buy a pack twice across phases. Run with BENCH_DATABASE_URL / BENCH_REDIS_URL set,
like `python -m bench.run`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.load import cpu_seconds
from bench.load import raw_closed_loop as _raw_closed_loop
from bench.load import run_loop as _run_loop
from bench.scenarios.store import _seed
from bench.stats import cpu_by_pid, cpu_used, pg_backend_pids
from tests.load.servers import start_servers, start_uvicorn, wait_healthy


def _start_old(servers, root: Path, count: int) -> tuple[list[subprocess.Popen], list[str]]:
    """`count` uvicorn processes of the checkout at `root` on `servers`' database and Redis,
    healthy when this returns."""
    env = {**servers.env, "PYTHONPATH": str(root)}
    procs, urls = [], []
    try:
        for _ in range(count):
            proc, url = start_uvicorn(root, env, servers.workdir, log_prefix="old")
            procs.append(proc)
            urls.append(url)
        for url in urls:
            wait_healthy(url, procs, servers.workdir)
    except BaseException:  # main() has not got them yet to stop
        for p in procs:
            p.terminate()
        raise
    return procs, urls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--packs", type=int, default=2000)
    ap.add_argument("--buyers", type=int, default=32)
    ap.add_argument("--no-me", action="store_true")
    ap.add_argument(
        "--spread",
        action="store_true",
        help="concurrent buyers buy consecutive packs (20 creators), not the same pack",
    )
    ap.add_argument("--spy", help="py-spy record (collapsed stacks) of one new server to this file")
    ap.add_argument("--spy-seconds", type=float, default=20.0)
    args = ap.parse_args()
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    os.environ["PLAZA_BENCH"] = "1"
    os.environ["DEBUG"] = "false"
    servers = start_servers(
        args.procs,
        extra_env={
            "STORE_PURCHASE_RATE": "100000/s",
            "STORE_CATALOGUE_BUILD_RATE": "100000/s",
            "DB_CONN_MAX_AGE": "60",
        },
    )
    old_procs, old_urls = [], []
    try:
        old_procs, old_urls = _start_old(servers, args.old, args.procs)
        seed = _seed(servers, args.packs, args.buyers)
        tokens, packs, prices = seed["tokens"], seed["packs"], seed["prices"]
        counter = itertools.count()
        stamp = int(time.time())
        db = servers.env["DATABASE_URL"]
        variants = {
            "old": (old_urls, [p.pid for p in old_procs]),
            "new": (servers.urls, [p.pid for p in servers.procs]),
        }

        def purchase():
            k = next(counter)
            buyer = k % len(tokens)
            idx = k % len(packs) if args.spread else (k // len(tokens)) % len(packs)
            return (
                f"/api/v1/store/packs/{packs[idx]}/purchase",
                {"Authorization": f"Bearer {tokens[buyer]}", "Idempotency-Key": f"ab-{stamp}-{k}"},
                {"expected_price": prices[idx]},
            )

        def me():
            return "/api/v1/me", {"Authorization": f"Bearer {tokens[0]}"}

        def phase(name, variant, make, ok):
            urls, pids = variants[variant]
            pg0, s0 = cpu_by_pid(pg_backend_pids(db)), cpu_seconds(pids)
            la = os.getloadavg()[0]
            res = _run_loop(
                _raw_closed_loop(
                    urls, make, concurrency=args.concurrency, duration=args.duration, ok=ok
                )
            )
            n = max(1, res["requests"])
            server = (cpu_seconds(pids) - s0) * 1000 / n
            pg = cpu_used(pg0, cpu_by_pid(pg_backend_pids(db))) * 1000 / n
            print(
                f"{name:9s} {variant}: {res['rps']:7.1f}/s  server {server:5.2f} ms  "
                f"pg {pg:5.2f} ms  total {server + pg:5.2f} ms  errors {res['errors']}  "
                f"p50 {res['p50_ms']:.0f} ms  load {la:.1f}",
                flush=True,
            )
            return server, pg

        # Warm both (imports, connections, plans).
        for v in variants:
            phase("warm", v, purchase, (201,))
        if args.spy:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--format",
                    "raw",
                    "-r",
                    "200",
                    "-d",
                    str(int(args.spy_seconds)),
                    "-p",
                    str(servers.procs[0].pid),
                    "-o",
                    args.spy,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            saved, args.duration = args.duration, args.spy_seconds
            phase("profiled", "new", purchase, (201,))
            args.duration = saved
            spy.wait()
        totals: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for r in range(args.rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for v in order:
                if not args.no_me:
                    phase("GET /me", v, me, (200,))
                totals[v].append(phase("purchase", v, purchase, (201,)))
        for v, rows in [(v, r) for v, r in totals.items() if r]:
            s = sorted(x for x, _ in rows)[len(rows) // 2]
            p = sorted(y for _, y in rows)[len(rows) // 2]
            print(f"median purchase {v}: server {s:.2f} ms + pg {p:.2f} ms = {s + p:.2f} ms")
        print(servers.manage("ledger_check").strip().splitlines()[-1])
    finally:
        for p in old_procs:
            p.terminate()
        for p in old_procs:
            p.wait(timeout=10)
        servers.stop()


if __name__ == "__main__":
    main()
