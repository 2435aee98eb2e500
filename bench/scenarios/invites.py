"""Group invites through a real server: invite joins per second, and 500 people joining
through one invite with max_uses 300 at the same moment."""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.load import closed_loop
from bench.stats import median, pct, table
from tests.load.servers import start_servers

# Join attempts and invite look-ups are rate limited per person in production; every
# bench user joins once, so the limits never bind, but keep them out of the way.
EXTRA_ENV = {
    "CHAT_INVITE_JOIN_RATE": "100000/m",
    "CHAT_INVITE_LOOKUP_RATE": "100000/m",
    "CHAT_SEND_RATE_BURST": "100000",
}


async def _login_many(servers, phones: list[str], concurrency: int = 8) -> list[str]:
    """Log people in over HTTP as an app does (OTP, then token), a few at a time."""
    tokens: dict[str, str] = {}
    queue = list(phones)
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker():
            while queue:
                phone = queue.pop()
                r = await client.post(servers.url + "/api/v1/auth/otp", json={"phone": phone})
                r.raise_for_status()
                code = await asyncio.to_thread(servers.sms_code, phone)
                r = await client.post(
                    servers.url + "/api/v1/auth/token",
                    json={"phone": phone, "code": code, "device": "bench"},
                )
                r.raise_for_status()
                tokens[phone] = r.json()["token"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [tokens[p] for p in phones]


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _new_group_and_invite(servers, owner: str, max_uses: int | None) -> tuple[int, str]:
    r = httpx.post(
        servers.url + "/api/v1/conversations",
        json={"kind": "group", "title": "Bench poster", "member_ids": []},
        headers=_auth(owner),
        timeout=30,
    )
    r.raise_for_status()
    cid = r.json()["id"]
    body = {"expires_in": 3600}
    if max_uses is not None:
        body["max_uses"] = max_uses
    r = httpx.post(
        f"{servers.url}/api/v1/conversations/{cid}/invites",
        json=body,
        headers=_auth(owner),
        timeout=30,
    )
    r.raise_for_status()
    return cid, r.json()["token"]


def _join_rate(servers, token: str, people: list[str], concurrency: int) -> dict:
    it = iter(people)

    async def req(client: httpx.AsyncClient, _i: int):
        return await client.post(
            f"{servers.url}/api/v1/invites/{token}/join", headers=_auth(next(it))
        )

    return asyncio.run(
        closed_loop(req, concurrency=concurrency, duration=120, max_requests=len(people))
    )


def _stampede(servers, token: str, people: list[str]) -> dict:
    """Everyone at once: one connection per person, all requests in flight together."""

    async def go():
        limits = httpx.Limits(max_connections=len(people), max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=300) as client:
            start = asyncio.Event()
            latencies: list[float] = []

            async def one(person: str):
                await start.wait()
                t0 = time.perf_counter()
                first = None
                # An app retries a 503 server_busy after Retry-After (bounded here).
                for _attempt in range(60):
                    try:
                        r = await client.post(
                            f"{servers.url}/api/v1/invites/{token}/join", headers=_auth(person)
                        )
                        code = r.json().get("error", {}).get("code") or r.json().get("status")
                        status = r.status_code
                    except httpx.HTTPError as exc:
                        status, code = 0, type(exc).__name__
                    first = first or (status, code)
                    if status != 503:
                        break
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                latencies.append(time.perf_counter() - t0)
                return first, (status, code)

            tasks = [asyncio.create_task(one(p)) for p in people]
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            start.set()
            results = await asyncio.gather(*tasks)
            return results, time.perf_counter() - t0, latencies

    results, wall, latencies = asyncio.run(go())
    counts: dict[tuple[int, str], int] = {}
    firsts: dict[tuple[int, str], int] = {}
    for first, final in results:
        counts[final] = counts.get(final, 0) + 1
        firsts[first] = firsts.get(first, 0) + 1
    return {"counts": counts, "firsts": firsts, "wall": wall, "latencies": latencies}


def run(quick: bool) -> str:
    rate_people = 60 if quick else 200
    stampede_people, max_uses = 500, 300
    concurrency = 8
    servers = start_servers(1, extra_env=EXTRA_ENV)
    try:
        phones = [f"+1415557{i:04d}" for i in range(1 + rate_people + stampede_people)]
        t0 = time.perf_counter()
        tokens = asyncio.run(_login_many(servers, phones))
        login_s = time.perf_counter() - t0
        owner, rate_users, crowd = tokens[0], tokens[1 : 1 + rate_people], tokens[1 + rate_people :]

        _cid, token = _new_group_and_invite(servers, owner, None)
        rates = _join_rate(servers, token, rate_users, concurrency)

        cid, token = _new_group_and_invite(servers, owner, max_uses)
        run500 = _stampede(servers, token, crowd)
        settings = httpx.get(
            f"{servers.url}/api/v1/conversations/{cid}/group-settings",
            headers=_auth(owner),
            timeout=30,
        ).json()
        invites = httpx.get(
            f"{servers.url}/api/v1/conversations/{cid}/invites",
            headers=_auth(owner),
            timeout=30,
        ).json()["results"]
    finally:
        servers.stop()

    use_count = invites[0]["use_count"] if invites else None
    counts = run500["counts"]
    joined = counts.get((200, "joined"), 0)
    fivexx = sum(n for (status, _c), n in counts.items() if status >= 500 or status == 0)
    lat = run500["latencies"]
    firsts = run500["firsts"]
    first_500s = firsts.get((500, "server_error"), 0)
    keys = sorted(set(counts) | set(firsts))
    outcome_rows = [[str(s), c, firsts.get((s, c), 0), counts.get((s, c), 0)] for s, c in keys]
    out = [
        "One real uvicorn process on PostgreSQL + Redis (eager Celery); the async httpx load "
        "generator runs on the same 2 cores, which other work shares, so absolute numbers "
        f"are low and noisy. {len(phones)} people logged in over HTTP first "
        f"({login_s:.0f} s).",
        "",
        "**Invite joins per second** (one group, one unlimited invite, each person joins "
        f"once; the group grows from 1 to {rate_people + 1} members, and every join writes "
        "member.joined + a system message fanned out to all members):",
        "",
        table(
            ["people", "concurrency", "joins/s", "p50 ms", "p99 ms", "non-2xx"],
            [
                [
                    rates["requests"],
                    concurrency,
                    rates["rps"],
                    rates["p50_ms"],
                    rates["p99_ms"],
                    rates["errors"],
                ]
            ],
        ),
        "",
        f"**{stampede_people} people at once through one invite with max_uses {max_uses}** "
        f"(all {stampede_people} requests in flight together):",
        "",
        table(["HTTP status", "code", "first answers", "final answers"], outcome_rows),
        "",
        "A 503 `server_busy` (with Retry-After) is what a request gets when every pooled "
        "database connection stayed busy past the pool timeout; the client retries it. "
        "Final answers are after those retries.",
        "",
        f"Joined: {joined} (expected {max_uses}); invite use_count {use_count}; group "
        f"member_count {settings.get('member_count')} (owner + joiners, expected "
        f"{max_uses + 1}); 500s on any attempt: {first_500s}; unanswered or 5xx after retries: "
        f"{fivexx}. Wall time "
        f"{run500['wall']:.1f} s ({stampede_people / run500['wall']:.0f} answers/s, "
        f"{joined / run500['wall']:.0f} joins/s); latency p50 {median(lat) * 1000:,.0f} ms, "
        f"p99 {pct(lat, 99) * 1000:,.0f} ms.",
        "",
        "Joins into one group are serialised by the conversation row lock (that is what "
        "keeps the cap and max_uses exact), so one group's join rate is bounded by one "
        "transaction at a time; different groups join in parallel.",
    ]
    return "\n".join(out) + "\n"
