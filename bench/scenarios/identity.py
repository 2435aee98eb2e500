"""Identity: OTP logins per second, and GET /me per second through 1 and 2 server processes."""

from __future__ import annotations

import asyncio

import httpx

from bench.load import closed_loop, measured, raw_closed_loop, run_loop
from bench.stats import median, table
from tests.load.servers import login, start_servers


def _logins(servers, count: int, offset: int) -> list[str]:
    return [login(servers, f"+1415555{offset + i:04d}")[0] for i in range(count)]


def _me_rate(servers, tokens: list[str], duration: float, concurrency: int) -> dict:
    """GET /me from the lean keep-alive client (httpx costs the shared cores more CPU per
    request than the server does), with the server processes' CPU per request."""
    counter = iter(range(10**9))

    def next_request():
        return "/api/v1/me", {"Authorization": f"Bearer {tokens[next(counter) % len(tokens)]}"}

    return measured(
        servers,
        lambda: run_loop(
            raw_closed_loop(servers.urls, next_request, concurrency=concurrency, duration=duration)
        ),
    )


def _login_rate(servers, count: int, offset: int, concurrency: int) -> dict:
    async def one(client: httpx.AsyncClient, i: int):
        phone = f"+1415556{offset + i:04d}"
        await client.post(servers.url + "/api/v1/auth/otp", json={"phone": phone})
        code = await asyncio.to_thread(servers.sms_code, phone)
        return await client.post(
            servers.url + "/api/v1/auth/token",
            json={"phone": phone, "code": code, "device": "bench"},
        )

    counter = iter(range(10**6))

    async def req(client, _i):
        return await one(client, next(counter))

    return asyncio.run(closed_loop(req, concurrency=concurrency, duration=10, max_requests=count))


def run(quick: bool) -> str:
    duration = 5.0 if quick else 15.0
    repeats = 1 if quick else 3
    concurrency = 16
    rows = []
    rates: dict[int, list[float]] = {1: [], 2: []}
    login_row = None
    for procs in (1, 2):
        servers = start_servers(procs)
        try:
            tokens = _logins(servers, 20, 0)
            if procs == 1:
                res = _login_rate(servers, 100 if quick else 400, 0, 8)
                login_row = [
                    "OTP request + login",
                    1,
                    8,
                    res["rps"],
                    res["p50_ms"],
                    res["p99_ms"],
                    res["errors"],
                    "",
                ]
            for _ in range(repeats):
                res = _me_rate(servers, tokens, duration, concurrency)
                rates[procs].append(res["rps"])
                rows.append(
                    [
                        "GET /api/v1/me",
                        procs,
                        concurrency,
                        res["rps"],
                        res["p50_ms"],
                        res["p99_ms"],
                        res["errors"],
                        f"{res['server_cpu_ms']:.2f}",
                    ]
                )
        finally:
            servers.stop()
    ratio = median(rates[2]) / median(rates[1]) if rates[1] else float("nan")
    out = [
        "Real uvicorn processes on PostgreSQL + Redis, on the same 2 cores as the load "
        "generator: httpx for the logins, the lean keep-alive client of bench/load.py for "
        "GET /me. Server CPU per request is read from /proc (load moves it much less "
        "than requests per second).",
        "",
        table(
            [
                "operation",
                "server processes",
                "concurrency",
                "req/s",
                "p50 ms",
                "p99 ms",
                "non-2xx",
                "server CPU ms/req",
            ],
            ([login_row] if login_row else []) + rows,
        ),
        "",
        f"Median GET /me: {median(rates[1]):,.0f} req/s on one process, "
        f"{median(rates[2]):,.0f} on two (ratio {ratio:.2f}).",
    ]
    return "\n".join(out) + "\n"
