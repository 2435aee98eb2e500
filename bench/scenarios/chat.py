"""Chat: 1:1 latency at a fixed offered rate, the highest rate under p99 100 ms, fan-out
to a 500-member group, and memory per idle WebSocket. Two uvicorn processes on
PostgreSQL + Redis; the load generator (one asyncio process) shares the same cores.

Senders connect to server A and receivers to server B, so every message crosses
processes through the Redis channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from pathlib import Path

import websockets

from bench.stats import pct, table
from tests.load.servers import start_servers

SETUP = """
import json
from accounts.services import device_token_issue, user_get_or_create_by_phone
from chat.services.conversations import conversation_get_or_create_direct, group_create

def user(n):
    # valid NANP numbers: exchange 200-999, line 0000-9999
    return user_get_or_create_by_phone(phone=f"+1415{200 + n // 10000}{n % 10000:04d}")[0]

pairs, group_tokens, idle = [], [], []
for i in range(@PAIRS@):
    a, b = user(2 * i), user(2 * i + 1)
    conv, _ = conversation_get_or_create_direct(user=a, other_user_id=b.pk)
    pairs.append([device_token_issue(user=a), device_token_issue(user=b), conv.pk])
members = [user(200000 + i) for i in range(@GROUP@)]
g = group_create(creator=members[0], title="bench", member_ids=[m.pk for m in members[1:]])
group_tokens = [device_token_issue(user=m) for m in members]
owners = [user(300000 + i) for i in range(max(1, @IDLE@ // 10))]
idle = [device_token_issue(user=owners[i % len(owners)]) for i in range(@IDLE@)]
print("BENCH" + json.dumps({"pairs": pairs, "group": g.pk, "group_tokens": group_tokens,
                           "idle": idle}))
"""


def _setup(servers, *, pairs: int, group: int, idle: int) -> dict:
    code = (
        SETUP.replace("@PAIRS@", str(pairs))
        .replace("@GROUP@", str(group))
        .replace("@IDLE@", str(idle))
    )
    out = servers.manage("shell", "-c", code)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH"))
    return json.loads(line[5:])


async def _login(url: str, token: str):
    sock = await websockets.connect(url, max_queue=None, ping_interval=None)
    await sock.send(json.dumps({"type": "auth", "token": token}))
    while True:
        frame = json.loads(await asyncio.wait_for(sock.recv(), 30))
        if frame["type"] == "ready":
            return sock


async def _login_many(url: str, tokens: list[str], concurrency: int = 50):
    sem = asyncio.Semaphore(concurrency)

    async def one(t):
        async with sem:
            return await _login(url, t)

    return await asyncio.gather(*(one(t) for t in tokens))


class Receiver:
    """Reads message.new frames and records when each client_id arrived."""

    def __init__(self, socks):
        self.arrived: dict[str, float] = {}
        self.tasks = [asyncio.create_task(self._read(s)) for s in socks]

    async def _read(self, sock):
        try:
            async for raw in sock:
                if '"message.new"' in raw:
                    cid = json.loads(raw)["message"]["client_id"]
                    self.arrived.setdefault(cid, time.perf_counter())
        except websockets.ConnectionClosed:
            pass

    def stop(self):
        for t in self.tasks:
            t.cancel()


async def _drain_acks(sock):
    try:
        async for _raw in sock:
            pass
    except websockets.ConnectionClosed:
        pass


async def _offered_rate(senders, receivers, convs, *, rate: float, seconds: float, tag: str):
    """Open loop: send `rate` msg/s spread over the pairs for `seconds`; latency is
    send-frame to the recipient's message.new."""
    recv = Receiver(receivers)
    drains = [asyncio.create_task(_drain_acks(s)) for s in senders]
    sent: dict[str, float] = {}
    total = int(rate * seconds)
    start = time.perf_counter()
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        i = n % len(senders)
        cid = f"{tag}-{n}"
        frame = {
            "type": "message.send",
            "conversation_id": convs[i],
            "client_id": cid,
            "kind": "text",
            "text": "bench",
        }
        sent[cid] = time.perf_counter()
        await senders[i].send(json.dumps(frame))
    achieved = total / max(time.perf_counter() - start, 1e-9)
    deadline = time.perf_counter() + 10
    while len(recv.arrived) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    recv.stop()
    for d in drains:
        d.cancel()
    lat = [recv.arrived[c] - t for c, t in sent.items() if c in recv.arrived]
    return {
        "offered": rate,
        "achieved_send": achieved,
        "delivered": len(lat) / total if total else 0.0,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
    }


async def _closed_loop(senders, receivers, convs, *, seconds: float):
    """Each sender sends its next message as soon as the previous one is acked: the
    throughput the servers sustain, whatever the latency."""
    recv = Receiver(receivers)
    sent: dict[str, float] = {}
    deadline = time.perf_counter() + seconds

    async def sender(i, sock):
        n = 0
        while time.perf_counter() < deadline:
            cid = f"c{i}-{n}"
            n += 1
            frame = {
                "type": "message.send",
                "conversation_id": convs[i],
                "client_id": cid,
                "kind": "text",
                "text": "bench",
            }
            sent[cid] = time.perf_counter()
            await sock.send(json.dumps(frame))
            while '"message.ack"' not in await sock.recv():
                pass

    start = time.perf_counter()
    await asyncio.gather(*(sender(i, s) for i, s in enumerate(senders)))
    elapsed = time.perf_counter() - start
    wait_until = time.perf_counter() + 10
    while len(recv.arrived) < len(sent) and time.perf_counter() < wait_until:
        await asyncio.sleep(0.05)
    recv.stop()
    lat = [recv.arrived[c] - t for c, t in sent.items() if c in recv.arrived]
    return {
        "offered": 0,
        "achieved_send": len(sent) / elapsed,
        "delivered": len(lat) / len(sent) if sent else 0.0,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
    }


async def _ping_floor(senders, *, seconds: float) -> dict:
    """The stack's floor under the same load: WebSocket ping → pong, no database."""
    lat: list[float] = []
    deadline = time.perf_counter() + seconds

    async def pinger(sock):
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await sock.send('{"type":"ping"}')
            while '"pong"' not in await sock.recv():
                pass
            lat.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(pinger(s) for s in senders))
    elapsed = time.perf_counter() - start
    return {
        "rate": len(lat) / elapsed,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
    }


async def _one_to_one(servers, data, *, seconds: float, rates: list[int]):
    pairs = data["pairs"]
    senders = await _login_many(servers.ws_url(0), [p[0] for p in pairs])
    receivers = await _login_many(servers.ws_url(1), [p[1] for p in pairs])
    convs = [p[2] for p in pairs]
    floor = await _ping_floor(senders, seconds=seconds)
    closed = await _closed_loop(senders, receivers, convs, seconds=seconds)
    await asyncio.sleep(1)
    fixed = await _offered_rate(senders, receivers, convs, rate=200, seconds=seconds, tag="f")
    await asyncio.sleep(1)
    steps, best = [], None
    for r in rates:
        res = await _offered_rate(senders, receivers, convs, rate=r, seconds=seconds, tag=f"r{r}")
        steps.append(res)
        ok = res["p99_ms"] <= 100 and res["delivered"] >= 0.999 and res["achieved_send"] >= r * 0.95
        if ok:
            best = res
        else:
            break
        await asyncio.sleep(1)
    for s in senders + receivers:
        await s.close()
    return floor, closed, fixed, steps, best


async def _first_new(sock, arrived: list[float], done: asyncio.Event, expected: int):
    while True:
        raw = await sock.recv()
        if '"message.new"' in raw:
            arrived.append(time.perf_counter())
            if len(arrived) == expected:
                done.set()
            return


async def _fanout(servers, data, *, repeats: int):
    tokens = data["group_tokens"]
    # Members spread over both processes; the sender (the owner) on A.
    half = len(tokens) // 2
    socks_a = await _login_many(servers.ws_url(0), tokens[1:half])
    socks_b = await _login_many(servers.ws_url(1), tokens[half:])
    sender = await _login(servers.ws_url(0), tokens[0])
    members = socks_a + socks_b
    drain = asyncio.create_task(_drain_acks(sender))
    results = []
    for rep in range(repeats):
        arrived: list[float] = []
        done = asyncio.Event()
        waiters = [asyncio.create_task(_first_new(s, arrived, done, len(members))) for s in members]
        t0 = time.perf_counter()
        frame = {
            "type": "message.send",
            "conversation_id": data["group"],
            "client_id": f"fan-{rep}",
            "kind": "text",
            "text": "all",
        }
        await sender.send(json.dumps(frame))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 15)
        for w in waiters:
            w.cancel()
        if len(arrived) == len(members):
            results.append((max(arrived) - t0) * 1000)
        await asyncio.sleep(0.3)
    drain.cancel()
    for s in members + [sender]:
        await s.close()
    return results, len(members)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _idle(servers, data):
    pid = servers.procs[0].pid
    tokens = data["idle"]
    warm = await _login_many(servers.ws_url(0), tokens[:50])  # warm caches and pools
    for s in warm:
        await s.close()
    await asyncio.sleep(1)
    before = _rss_kib(pid)
    socks = await _login_many(servers.ws_url(0), tokens, concurrency=100)
    await asyncio.sleep(2)
    after = _rss_kib(pid)
    for s in socks:
        await s.close()
    return len(socks), before, after


# How production runs uvicorn (docs/OPERATIONS.md): no permessage-deflate — for chat's
# few-hundred-byte frames it costs ~40 KiB of zlib state per socket and CPU per frame.
UVICORN_ARGS = ["--ws-per-message-deflate", "false"]


def run(quick: bool) -> str:
    seconds = 3.0 if quick else 8.0
    # 100 people sending, quick or not: at every step up to 2,000 msg/s each stays within
    # the product's own send limit (CHAT_SEND_RATE_BURST, 20 msg/s a person). A socket
    # handles its sends in order, one at a time (that is what keeps a device's messages in
    # order), so with 20 senders the 800 msg/s step offered each 40 msg/s — twice what a
    # person may send — and measured a sender queueing behind itself, not the server.
    # (Up to 2,000 msg/s: 20 msg/s each, the limit itself.)
    pairs = 100
    group = 500  # the goal's size, quick or not
    idle = 5000
    rates = (
        [100, 200, 400, 600, 800, 1000, 1200, 1500, 2000]
        if quick
        else [50, 100, 200, 400, 600, 800, 1000, 1200, 1500, 2000]
    )
    # 5,000 sockets on each side of the loopback: make sure the fd limit allows them (the
    # servers inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    env = {"CHAT_SEND_RATE_BURST": "1000000", "DB_CONN_MAX_AGE": "60", "LOG_LEVEL": "WARNING"}
    servers = start_servers(2, extra_env=env, uvicorn_args=UVICORN_ARGS)
    try:
        data = _setup(servers, pairs=pairs, group=group, idle=idle)
        floor, closed, fixed, steps, best = asyncio.run(
            _one_to_one(servers, data, seconds=seconds, rates=rates)
        )
        fan, members = asyncio.run(_fanout(servers, data, repeats=10 if quick else 20))
        n_idle, before, after = asyncio.run(_idle(servers, data))
    finally:
        servers.stop()
    rows = [
        [
            f"floor: ping → pong closed loop ({pairs} sockets, no database)",
            floor["rate"],
            100.0,
            floor["p50_ms"],
            floor["p99_ms"],
        ],
        [
            f"closed loop ({pairs} senders, one in flight each)",
            closed["achieved_send"],
            closed["delivered"] * 100,
            closed["p50_ms"],
            closed["p99_ms"],
        ],
        [
            "200 msg/s fixed",
            fixed["achieved_send"],
            fixed["delivered"] * 100,
            fixed["p50_ms"],
            fixed["p99_ms"],
        ],
    ]
    rows += [
        [
            f"step {int(s['offered'])} msg/s",
            s["achieved_send"],
            s["delivered"] * 100,
            s["p50_ms"],
            s["p99_ms"],
        ]
        for s in steps
    ]
    per_conn = (after - before) / n_idle if n_idle else float("nan")
    out = [
        f"Two uvicorn processes, PostgreSQL + Redis (pub/sub channel layer); {pairs} sender/"
        f"receiver pairs, senders on process A, receivers on B; {seconds:.0f} s per step; the "
        "load generator shares the 2 cores. Latency = send frame to the recipient's "
        "`message.new`, which includes the row lock, insert and commit. Each sender stays "
        "within the product's send limit of 20 msg/s a person at every step (a socket "
        "handles its sends in order, one at a time, so a sender offered more than that "
        "queues behind itself).",
        "",
        table(["1:1 load", "sent msg/s", "delivered %", "p50 ms", "p99 ms"], rows),
        "",
        "Highest sustained rate with p99 ≤ 100 ms and everything delivered: "
        + (f"**{int(best['offered'])} msg/s**" if best else f"**below {rates[0]} msg/s**")
        + (" (the step above it failed)" if best and steps and steps[-1] is not best else "")
        + ".",
        "",
        f"Fan-out: one message to a {members + 1}-member group, every member connected "
        f"(half on each process); time until the last member has it, over {len(fan)} sends: "
        f"p50 {pct(fan, 50):,.0f} ms, p99 {pct(fan, 99):,.0f} ms, max "
        f"{max(fan) if fan else float('nan'):,.0f} ms.",
        "",
        f"Idle connections: {n_idle:,} authenticated sockets (10 devices per person) on one "
        "process (uvicorn without permessage-deflate, as in production) raised its RSS "
        f"from {before / 1024:,.1f} MiB to {after / 1024:,.1f} MiB: "
        f"**{per_conn:,.1f} KiB per connection**.",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(run(quick=True))
