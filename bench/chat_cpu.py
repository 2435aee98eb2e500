"""CPU time per 1:1 message, by process: the two servers, their PostgreSQL backends,
Redis, and the load generator itself. Load-independent, unlike latency on a shared
machine (a busy neighbour stretches wall time, not the CPU a message costs).

    BENCH_DATABASE_URL=... BENCH_REDIS_URL=... .venv/bin/python -m bench.chat_cpu \
        [--rate 400] [--seconds 10] [--pairs 20] [--profile DIR]

--profile records both servers with py-spy (raw collapsed stacks, idle frames dropped)
while the load runs. Redis's figure is the whole server's (other users of the same Redis
show up in it); its command counts are the whole server's too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.run import setup_django_for_bench

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """Seconds of user + system CPU of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _pg_pids(url: str, dbname: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
    return [r[0] for r in rows]


def _batch_size(url: str, dbname: str) -> float:
    """Messages per stored batch over the measured window: a batch stamps all its messages
    with one created_at. Per-message CPU falls as batches grow (fixed costs per batch), and
    batches grow with load, so compare runs at similar batch sizes."""
    import psycopg

    db_url = url.rsplit("/", 1)[0] + "/" + dbname
    with psycopg.connect(db_url, autocommit=True) as conn:
        n, batches = conn.execute(
            "SELECT count(*), count(DISTINCT created_at) FROM chat_message"
            " WHERE client_id LIKE 'm-%%'"
        ).fetchone()
    return n / batches if batches else float("nan")


def _redis_info(url: str) -> tuple[float, dict[str, int]]:
    import redis

    r = redis.Redis.from_url(url)
    cpu = r.info("cpu")
    stats = r.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"], calls


async def _load(servers, data, *, rate: float, seconds: float, measure, start):
    from bench.scenarios.chat import _login_many, _offered_rate

    pairs = data["pairs"]
    senders = await _login_many(servers.ws_url(0), [p[0] for p in pairs])
    receivers = await _login_many(servers.ws_url(1), [p[1] for p in pairs])
    convs = [p[2] for p in pairs]
    # Warm up: pools, connections, code paths.
    await _offered_rate(senders, receivers, convs, rate=rate, seconds=2, tag="warm")
    await asyncio.sleep(1)
    before = start()
    res = await _offered_rate(senders, receivers, convs, rate=rate, seconds=seconds, tag="m")
    after = measure()
    for s in senders + receivers:
        await s.close()
    return res, before, after


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=400)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()

    pg_url, redis_url = setup_django_for_bench()
    from bench.scenarios.chat import UVICORN_ARGS, _setup
    from tests.load.servers import start_servers

    env = {"CHAT_SEND_RATE_BURST": "1000000", "DB_CONN_MAX_AGE": "60", "LOG_LEVEL": "WARNING"}
    servers = start_servers(2, extra_env=env, uvicorn_args=UVICORN_ARGS)
    spies: list[subprocess.Popen] = []
    try:
        data = _setup(servers, pairs=args.pairs, group=2, idle=0)
        pids = [p.pid for p in servers.procs]
        dbname = servers.database_name

        def measure():
            pg = _pg_pids(pg_url, dbname)
            r_cpu, r_calls = _redis_info(redis_url)
            me = resource.getrusage(resource.RUSAGE_SELF)
            return {
                "servers": [_proc_cpu(p) for p in pids],
                "pg": {p: _proc_cpu(p) for p in pg},
                "redis": r_cpu,
                "calls": r_calls,
                "gen": me.ru_utime + me.ru_stime,
                "t": time.perf_counter(),
            }

        def profile():
            out = Path(args.profile)
            out.mkdir(parents=True, exist_ok=True)
            for i, pid in enumerate(pids):
                spies.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--pid",
                            str(pid),
                            "--format",
                            "raw",
                            "--rate",
                            "200",
                            "--gil",
                            "--duration",
                            str(int(args.seconds)),
                            "--output",
                            str(out / f"server{i}.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

        def start():
            if args.profile:
                profile()
            return measure()

        res, b, a = asyncio.run(
            _load(servers, data, rate=args.rate, seconds=args.seconds, measure=measure, start=start)
        )
        for s in spies:
            s.wait(timeout=60)
        batch = _batch_size(pg_url, dbname)
    finally:
        servers.stop()
    n = int(args.rate * args.seconds)
    srv = [x - y for x, y in zip(a["servers"], b["servers"], strict=True)]
    pg = sum(a["pg"].get(p, 0) - c for p, c in b["pg"].items())
    pg += sum(c for p, c in a["pg"].items() if p not in b["pg"])
    redis_cpu = a["redis"] - b["redis"]
    gen = a["gen"] - b["gen"]
    wall = a["t"] - b["t"]

    def ms(x):
        return f"{x * 1000 / n:.3f}"

    print(f"offered {args.rate:.0f} msg/s x {args.seconds:.0f} s = {n} messages; {wall:.1f} s wall")
    print(
        f"delivered {res['delivered'] * 100:.1f}%  p50 {res['p50_ms']:.1f} ms  "
        f"p99 {res['p99_ms']:.1f} ms  load {os.getloadavg()[0]:.2f}"
    )
    print(f"messages per stored batch: {batch:.1f}")
    print("CPU ms per message:")
    print(f"  server A (senders)   {ms(srv[0])}")
    print(f"  server B (receivers) {ms(srv[1])}")
    print(f"  postgres backends    {ms(pg)}  ({len(a['pg'])} backends)")
    print(f"  redis (whole server) {ms(redis_cpu)}")
    print(f"  servers + postgres   {ms(sum(srv) + pg)}")
    print(f"  load generator       {ms(gen)}")
    print(f"  total                {ms(sum(srv) + pg + redis_cpu + gen)}")
    calls = {k: v - b["calls"].get(k, 0) for k, v in a["calls"].items() if v - b["calls"].get(k, 0)}
    print(
        "redis commands per message: "
        + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1]))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
