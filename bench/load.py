"""A bounded async HTTP load generator for bench scenarios (loopback only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx


async def closed_loop(
    make_request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 1_000_000,
) -> dict:
    """`concurrency` workers send back-to-back requests for `duration` seconds.

    Returns throughput, latency percentiles and the count of non-2xx answers."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(i: int):
            nonlocal errors, sent
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    resp = await make_request(client, i)
                    ok = resp.status_code < 300
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                if not ok:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    from .stats import pct

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }
