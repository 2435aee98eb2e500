"""CPU time per paid merchant order, by process, comparing code trees in one harness.

Each tree given with --roots gets its own servers (uvicorn processes, a Celery worker
with a Redis broker, a webhook receiver) on its own PostgreSQL database; the harness then
alternates short bursts of the merchant scenario's load (create an order with a signed
request, pay it as a buyer, the webhook goes out) between the trees, so a busy
neighbour on the shared machine weighs on both alike. After each burst it waits for the
webhooks to drain, then reads CPU from /proc (uvicorn, worker, PostgreSQL backends,
receiver) and PostgreSQL's commit count per paid order.

    BENCH_DATABASE_URL=... BENCH_REDIS_URL=... .venv/bin/python -m bench.merchant_cpu \
        --roots /work/wt/merchant /tmp/merchant-base [--rounds 3] [--seconds 6] \
        [--concurrency 8] [--profile DIR]

--profile records the first tree's uvicorn processes and worker with py-spy (raw
collapsed stacks) during its bursts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import setup_django_for_bench


def _pg(url: str, sql: str, params=()):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


class Tree:
    def __init__(self, root: Path, *, procs: int, threads: int, redis_db_url: str, n: int):
        from bench.scenarios.merchant import SEED, _receiver
        from tests.load.servers import start_servers

        self.root = root
        # Trees share one Redis database: each gets its own Celery queue and broker key
        # prefix (a settings module that extends the tree's own), or one tree's worker
        # would take the other's messages.
        self.settings_dir = Path(tempfile.mkdtemp(prefix="merchant-cpu-settings-"))
        module = f"bench_merchant_settings_{n}"
        (self.settings_dir / f"{module}.py").write_text(
            "from config.settings import *  # noqa: F403\n"
            f"CELERY_TASK_DEFAULT_QUEUE = 'merchant-cpu-{n}'\n"
            "CELERY_BROKER_TRANSPORT_OPTIONS = {\n"
            "    **globals().get('CELERY_BROKER_TRANSPORT_OPTIONS', {}),\n"
            f"    'global_keyprefix': 'merchant-cpu-{n}:',\n"
            "}\n"
        )
        self.port_q, self.out_q, self.stop = mp.Queue(), mp.Queue(), mp.Event()
        self.receiver = mp.Process(
            target=_receiver, args=(self.port_q, self.out_q, self.stop), daemon=True
        )
        self.receiver.start()
        notify_url = f"http://127.0.0.1:{self.port_q.get(timeout=10)}/plaza/webhook"
        self.servers = start_servers(
            procs,
            root=root,
            extra_env={
                "CELERY_TASK_ALWAYS_EAGER": "0",
                "CELERY_BROKER_URL": redis_db_url,
                "DB_CONN_MAX_AGE": "60",
                "LOG_LEVEL": "WARNING",
                "MERCHANT_API_RATE": "100000/s",
                "PYTHONPATH": f"{root}:{self.settings_dir}",
                "DJANGO_SETTINGS_MODULE": module,
            },
        )
        self.uvicorn = [p.pid for p in self.servers.procs]
        log = open(self.servers.workdir / "worker.log", "w")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning"]
            + ["-P", "threads", "--concurrency", str(threads)]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=root,
            env=self.servers.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.servers.procs.append(self.worker)
        out = self.servers.manage(
            "shell", "-c", SEED.format(merchants=32, buyers=64, notify_url=notify_url)
        )
        self.seed = json.loads(next(ln for ln in out.splitlines() if ln.startswith("BENCH"))[5:])
        self.db = self.servers.env["DATABASE_URL"]
        self.dbname = self.servers.database_name

    def pids(self) -> dict[str, list[int]]:
        from bench.stats import pg_backend_pids

        return {
            "uvicorn": self.uvicorn,
            "worker": [self.worker.pid],
            "postgres": pg_backend_pids(self.db),
            "receiver": [self.receiver.pid],
        }

    def commits(self) -> int:
        return _pg(
            self.db, "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", [self.dbname]
        )[0][0]

    def pending(self) -> int:
        return _pg(
            self.db, "SELECT count(*) FROM payments_webhookdelivery WHERE status = 'pending'"
        )[0][0]

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):  # best effort
            self.out_q.get(timeout=10)
        self.receiver.join(timeout=5)
        self.servers.stop()
        shutil.rmtree(self.settings_dir, ignore_errors=True)


def _spy(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
        + ["--format", "raw", "--gil", "--rate", "250", "--duration", str(int(seconds))]
        + ["--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def burst(tree: Tree, *, concurrency: int, seconds: float, stamp: str, profile: Path | None):
    from bench.scenarios.merchant import _sell_and_pay
    from bench.stats import cpu_by_pid, cpu_used

    groups = tree.pids()
    every = [p for ps in groups.values() for p in ps]
    spies = []
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        for name in ("uvicorn", "worker"):
            for pid in groups[name]:
                spies.append(_spy(pid, seconds + 2, profile / f"{name}-{pid}-{stamp}.txt"))
        time.sleep(0.5)
    cpu0, commits0 = cpu_by_pid(every), tree.commits()
    gen0 = time.process_time()
    res = asyncio.run(
        _sell_and_pay(
            tree.servers.urls, tree.seed, concurrency=concurrency, duration=seconds, stamp=stamp
        )
    )
    gen = time.process_time() - gen0
    started = time.time()
    while tree.pending() and time.time() - started < 60:
        time.sleep(0.25)
    # the last POST's record statement lands just after the row stops being pending
    time.sleep(0.3)
    after = cpu_by_pid(every)
    commits = tree.commits() - commits0
    for s in spies:
        s.wait(timeout=60)
    paid = max(1, len(res["pays"]))
    row = {
        name: cpu_used(cpu0, {p: after[p] for p in pids if p in after}) * 1000 / paid
        for name, pids in groups.items()
    }
    row["generator"] = gen * 1000 / paid
    row["total"] = sum(row.values())
    row["commits"] = commits / paid
    row["paid/s"] = len(res["pays"]) / res["elapsed"]
    row["errors"] = sum(res["errors"].values())
    row["load"] = os.getloadavg()[0]
    return row


async def _gets(urls, tokens, *, concurrency: int, seconds: float, path: str) -> int:
    """Closed-loop authenticated GETs of `path` (keep-alive, lean): how many answered 200."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def one(i: int):
        nonlocal done
        host, port = urls[i % len(urls)].removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        token = tokens[i % len(tokens)]
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done += head[9:12] == b"200"
        writer.close()

    await asyncio.gather(*(one(i) for i in range(concurrency)))
    return done


def floor(tree: Tree, *, concurrency: int, seconds: float, path: str = "/api/v1/me") -> dict:
    """The per-request floor: CPU of an authenticated GET that does almost nothing (token
    auth, middleware, DRF, a small JSON answer)."""
    from bench.stats import cpu_by_pid, cpu_used

    groups = tree.pids()
    pids = groups["uvicorn"] + groups["postgres"]
    cpu0 = cpu_by_pid(pids)
    n = asyncio.run(
        _gets(
            tree.servers.urls,
            tree.seed["buyers"],
            concurrency=concurrency,
            seconds=seconds,
            path=path,
        )
    )
    after = cpu_by_pid(pids)
    per = 1000 / max(1, n)
    return {
        "uvicorn": cpu_used(cpu0, {p: after[p] for p in groups["uvicorn"] if p in after}) * per,
        "postgres": cpu_used(cpu0, {p: after[p] for p in groups["postgres"] if p in after}) * per,
        "requests": n,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roots", nargs="+", default=[str(Path(__file__).resolve().parents[1])])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()

    _, redis_url = setup_django_for_bench()

    trees: list[Tree] = []
    rows: dict[str, list[dict]] = {}
    try:
        for root in args.roots:
            trees.append(
                Tree(
                    Path(root).resolve(),
                    procs=args.procs,
                    threads=8,
                    redis_db_url=redis_url,
                    n=len(trees),
                )
            )
        for tree in trees:  # warm every process at the measured concurrency
            burst(tree, concurrency=args.concurrency, seconds=3, stamp="w", profile=None)
        for r in range(args.rounds):
            order = trees if r % 2 == 0 else trees[::-1]
            for tree in order:
                prof = Path(args.profile) if args.profile and tree is trees[0] else None
                row = burst(
                    tree,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    stamp=f"r{r}",
                    profile=prof,
                )
                rows.setdefault(str(tree.root), []).append(row)
                print(tree.root, " ".join(f"{k}={v:.2f}" for k, v in row.items()), flush=True)
        for tree in trees:
            f = floor(tree, concurrency=args.concurrency, seconds=args.seconds)
            print(
                tree.root,
                "floor GET /api/v1/me per request:",
                " ".join(f"{k}={v:.2f}" for k, v in f.items()),
                flush=True,
            )
    finally:
        for tree in trees:
            tree.close()
    print("\nmedian per paid order (CPU ms, commits):")
    keys = [
        "uvicorn",
        "worker",
        "postgres",
        "receiver",
        "generator",
        "total",
        "commits",
        "paid/s",
        "load",
    ]
    print(f"{'tree':40}" + "".join(f"{k:>10}" for k in keys))
    for root, rs in rows.items():
        print(f"{root:40}" + "".join(f"{statistics.median(r[k] for r in rs):10.2f}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
