"""A bounded async HTTP load generator for bench scenarios (loopback only)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

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


async def raw_closed_loop(
    urls: list[str], next_request, *, concurrency: int, duration: float, ok=(200,)
) -> dict:
    """`concurrency` keep-alive HTTP/1.1 connections sending requests back to back.
    `next_request()` gives (path, headers) for a GET, or (path, headers, json body) for a
    POST.

    A lean client on purpose: it shares the 2 cores with the servers, and httpx spends
    several times more CPU per request than the edge it would be measuring. It still does
    what any client must — writes the request, reads the status line and headers, reads
    the whole body by its Content-Length — and counts every answer whose status is not
    in `ok` (or any broken connection) as an error."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker(i: int):
        nonlocal errors
        host, port = urls[i % len(urls)].removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = f"Host: {host}:{port}\r\nAccept-Encoding: gzip, deflate\r\n"
        try:
            while time.perf_counter() < deadline:
                path, headers, *body = next_request()
                extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                if body:
                    data = json.dumps(body[0]).encode()
                    extra += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                    request = f"POST {path} HTTP/1.1\r\n{head}{extra}\r\n".encode() + data
                else:
                    request = f"GET {path} HTTP/1.1\r\n{head}{extra}\r\n".encode("latin-1")
                t0 = time.perf_counter()
                writer.write(request)
                raw = await reader.readuntil(b"\r\n\r\n")
                status = int(raw[9:12])
                length = 0
                for line in raw.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status not in ok:
                    errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    from bench.stats import pct

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


def run_loop(coro) -> dict:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coro)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) these processes have used so far, from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measured(servers, run) -> dict:
    """Run one load phase and add CPU per request: the server processes' (what the figure
    is about, and what load on a shared machine does not change much) and the load
    generator's own (it shares the cores)."""
    pids = [p.pid for p in servers.procs]
    server0, client0 = cpu_seconds(pids), time.process_time()
    res = run()
    n = max(1, res["requests"])
    res["server_cpu_ms"] = (cpu_seconds(pids) - server0) * 1000 / n
    res["client_cpu_ms"] = (time.process_time() - client0) * 1000 / n
    return res
