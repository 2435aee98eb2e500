"""`make bench`: run every scenario under bench/scenarios/ against PostgreSQL + Redis.

Each scenario is a module with `run(quick: bool) -> str` returning Markdown. It runs in
its own process (so one scenario's servers and connections never skew the next), its
result goes to bench/results/<name>.md, and docs/benchmarks.md is assembled from all of
them with a description of the machine and the command.

    python -m bench.run                 # every scenario, full size
    python -m bench.run --quick chat    # one scenario, small sizes
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "bench" / "scenarios"
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plaza_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.py") if not p.stem.startswith("_"))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pg = "psql not found"
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}; {platform.platform()}; Python "
        f"{platform.python_version()}; {pg}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def bench_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The variables a bench process runs Django with (on top of its own environment)."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PLAZA_BENCH": "1",
        # Like production: no query log (DEBUG keeps every SQL statement in memory).
        "DEBUG": "false",
    }


def setup_django_for_bench() -> tuple[str, str]:
    """Set Django up in this process as `run_one` does for a scenario's, for the harnesses
    run on their own (bench/chat_cpu.py, bench/merchant_cpu.py): on BENCH_DATABASE_URL and
    BENCH_REDIS_URL, by default the local `plaza` database (they make their own databases
    on its server). Returns (database URL, Redis URL)."""
    import django

    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plaza")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    os.environ.update(bench_env(database_url, redis_url))
    os.environ.pop("PLAZA_TESTING", None)
    django.setup()
    return database_url, redis_url


def run_one(name: str, quick: bool) -> str:
    env = {**os.environ, **bench_env(PG_URL, REDIS_URL)}
    env.pop("PLAZA_TESTING", None)
    code = (
        "import sys, django; django.setup(); "
        f"from bench.scenarios import {name} as s; "
        f"sys.stdout.write(s.run(quick={quick!r}))"
    )
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    took = time.time() - started
    if proc.returncode != 0:
        body = f"**failed** (exit {proc.returncode}):\n\n```\n{proc.stderr[-3000:]}\n```\n"
    else:
        body = proc.stdout
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick" if quick else "full"
    return (
        f"## {name}\n\n_Run {stamp}, {mode} size, {took:.0f} s wall; load average after: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}._\n\n{body.strip()}\n"
    )


def ensure_database() -> None:
    import psycopg

    name = PG_URL.rsplit("/", 1)[1]
    admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL},
        capture_output=True,
    )


def assemble() -> None:
    parts = []
    for name in scenario_names():
        path = RESULTS / f"{name}.md"
        if path.exists():
            parts.append(path.read_text().strip())
    header = f"""# Benchmarks

Written by `make bench` (`python -m bench.run`), which runs every scenario under
`bench/scenarios/` against PostgreSQL (127.0.0.1:5432) + Redis (127.0.0.1:6379), each in
its own process, through real uvicorn servers where the scenario says so.

Machine: {machine()}.

Read the figures as medians and ratios: on a shared 2-core machine one run's absolute
time is noise, and the load generator runs on the same two cores as the servers and the
database, so every throughput figure here is a floor for what the code does on a machine
with separate load generators.
"""
    DOC.write_text(header + "\n" + "\n\n".join(parts) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    names = args.names or scenario_names()
    unknown = set(names) - set(scenario_names())
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}")
        return 2
    ensure_database()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        print(f"== {name}", flush=True)
        text = run_one(name, args.quick)
        (RESULTS / f"{name}.md").write_text(text)
        print(text, flush=True)
    assemble()
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
