"""Small helpers shared by bench scenarios: percentiles, Markdown tables and CPU time
of processes (from /proc: CPU per operation moves much less than a rate on a shared
machine)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_by_pid(pids) -> dict[int, float]:
    """CPU seconds (user + system) each of these processes has used so far, from /proc;
    a process that is gone is left out."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `cpu_by_pid` snapshots; a process that started in
    between counts from 0 (one that ended in between is lost)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def pg_backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving `database_url`'s database now (same
    machine): their CPU is the database's share of an operation."""
    import psycopg

    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [r[0] for r in rows]
