"""Merchant QR checkout: orders created and paid per second end to end, webhook
deliveries per second to a local receiver, and the time from pay to webhook received.

Real uvicorn processes on PostgreSQL + Redis, a real Celery worker (Redis broker, thread
pool) sending the webhooks, and a webhook receiver in its own process on 127.0.0.1.
Each simulated vending machine (a lean keep-alive HTTP/1.1 client, see `_Conn`) loops:
create an order with a signed request, then a buyer pays it (password-free, so the
wallet path is measured and not an Argon2 PIN check, which payments benchmarks on its
own). CPU per paid order is read from /proc for every process involved. Many machines (merchants) and buyers, as in life:
one merchant's settlement account is one row, locked once per payment.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import multiprocessing as mp
import secrets
import subprocess
import sys
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.stats import cpu_by_pid, cpu_used, pct, pg_backend_pids, table
from tests.load.servers import ROOT, start_servers

SEED = r"""
import json
from accounts.models import User
from accounts.services import device_token_issue
from payments.services.funding import operator_credit
from payments.services.merchants import merchant_create
from payments.services.pin import pin_free_limit_set, pin_set

merchants = []
for i in range({merchants}):
    m, key = merchant_create(name=f"Vending {{i}}", country="US", city="Oakland",
                             currency="USD", mcc="5814", notify_url="{notify_url}")
    merchants.append({{"key_id": key.key_id, "secret": key.secret}})
buyers = []
for i in range({buyers}):
    u = User.objects.create_user(phone=f"+1415559{{i:04d}}", display_name=f"Buyer {{i}}")
    operator_credit(user_id=u.pk, amount=100_000_000, currency="USD")
    pin_set(user=u, pin="135790")
    pin_free_limit_set(user=u, limit=20000)
    buyers.append(device_token_issue(user=u))
print("BENCH" + json.dumps({{"merchants": merchants, "buyers": buyers}}))
"""


def _receiver(port_q, out_q, stop):
    """A webhook receiver process: answers 204 and records when each order.paid came."""
    arrivals: dict[int, float] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            now = time.time()
            try:
                event = json.loads(body)
                if event.get("event") == "order.paid":
                    arrivals.setdefault(event["data"]["order_id"], now)
            except (ValueError, KeyError):
                pass
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_q.put(server.server_address[1])
    server.timeout = 0.2
    while not stop.is_set():
        server.handle_request()
    out_q.put(arrivals)


def _sign(secret: str, method: str, path: str, ts: str, nonce: str, body: bytes) -> str:
    message = f"{method}\n{path}\n{ts}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class _Conn:
    """One keep-alive HTTP/1.1 connection, lean on purpose (as in the store bench): the
    load generator shares the 2 cores with the servers, and httpx cost ~10 ms of CPU per
    paid order here, CPU the servers would otherwise get. It still writes whole requests
    and reads each whole response by its Content-Length."""

    def __init__(self, url: str):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        raw = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return int(raw[9:12]), (await self.reader.readexactly(length) if length else b"")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _sell_and_pay(urls, seed, *, concurrency: int, duration: float, stamp: str) -> dict:
    merchants, buyers = seed["merchants"], seed["buyers"]
    pays: dict[int, float] = {}  # order_id -> when the pay request was sent
    pair_latency: list[float] = []
    errors: Counter[str] = Counter()  # what went wrong, e.g. "create 429", "ConnectionReset…"
    counter = itertools.count()
    deadline = time.perf_counter() + duration
    path = "/api/merchant/v1/orders"

    async def machine(i: int):
        m = merchants[i % len(merchants)]
        conns = [_Conn(u) for u in urls]
        try:
            while time.perf_counter() < deadline:
                k = next(counter)
                conn = conns[k % len(conns)]
                body = json.dumps(
                    {"out_trade_no": f"{stamp}-{k}", "amount": 150 + k % 400, "currency": "USD"}
                ).encode()
                ts, nonce = str(int(time.time())), secrets.token_hex(12)
                t0 = time.perf_counter()
                status, answer = await conn.post(
                    path,
                    body,
                    {
                        "X-Plaza-Merchant": m["key_id"],
                        "X-Plaza-Timestamp": ts,
                        "X-Plaza-Nonce": nonce,
                        "X-Plaza-Signature": _sign(m["secret"], "POST", path, ts, nonce, body),
                    },
                )
                if status != 201:
                    errors[f"create {status}: {answer[:120]!r}"] += 1
                    continue
                order = json.loads(answer)
                token = order["qr_payload"].rsplit("/", 1)[1]
                sent = time.time()
                status, answer = await conn.post(
                    f"/api/v1/checkout/{token}/pay",
                    b"{}",
                    {"Authorization": f"Bearer {buyers[k % len(buyers)]}"},
                )
                if status != 200:
                    errors[f"pay {status}: {answer[:120]!r}"] += 1
                    continue
                pays[order["order_id"]] = sent
                pair_latency.append(time.perf_counter() - t0)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            errors[f"{type(e).__name__}: {e}"[:160]] += 1  # this machine stops
        finally:
            for c in conns:
                c.close()

    started = time.perf_counter()
    await asyncio.gather(*(machine(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"pays": pays, "pairs": pair_latency, "errors": errors, "elapsed": elapsed}


def _worker(servers, threads: int) -> subprocess.Popen:
    log = open(servers.workdir / "bench-worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "warning",
            "-P",
            "threads",
            "--concurrency",
            str(threads),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=servers.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    servers.procs.append(proc)
    return proc


def run(quick: bool) -> str:
    import os

    procs = 2
    concurrency = 16 if quick else 32
    duration = 8.0 if quick else 20.0
    n_merchants, n_buyers, worker_threads = 32, 64, 8
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")

    port_q, out_q, stop = mp.Queue(), mp.Queue(), mp.Event()
    receiver = mp.Process(target=_receiver, args=(port_q, out_q, stop), daemon=True)
    receiver.start()
    notify_url = f"http://127.0.0.1:{port_q.get(timeout=10)}/plaza/webhook"

    servers = start_servers(
        procs,
        extra_env={
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_BROKER_URL": redis,
            "DB_CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
            "MERCHANT_API_RATE": "100000/s",
        },
    )
    try:
        servers_pids = [p.pid for p in servers.procs]
        worker = _worker(servers, worker_threads)
        out = servers.manage(
            "shell",
            "-c",
            SEED.format(merchants=n_merchants, buyers=n_buyers, notify_url=notify_url),
        )
        seed = json.loads(next(ln for ln in out.splitlines() if ln.startswith("BENCH"))[5:])
        # Warm up every process at the measured concurrency (each request thread's
        # database connection, the worker's HTTP client), then measure.
        asyncio.run(
            _sell_and_pay(servers.urls, seed, concurrency=concurrency, duration=3.0, stamp="w")
        )
        time.sleep(1.0)  # the warm-up's webhooks out of the way
        db_url = servers.env["DATABASE_URL"]
        cpu0 = cpu_by_pid([*servers_pids, worker.pid, receiver.pid, *pg_backend_pids(db_url)])
        client0 = time.process_time()
        res = asyncio.run(
            _sell_and_pay(
                servers.urls,
                seed,
                concurrency=concurrency,
                duration=duration,
                stamp=f"b{int(time.time())}",
            )
        )
        client_cpu = time.process_time() - client0
        http_cpu = cpu_used(cpu0, cpu_by_pid(servers_pids))
        # Let the worker drain, then collect what the receiver heard.
        drain_started = time.time()
        expected = set(res["pays"])
        time.sleep(1.0)
        while time.time() - drain_started < 60:
            pending = servers.manage(
                "shell",
                "-c",
                "from payments.models import WebhookDelivery as W;"
                "print('N', W.objects.filter(status='pending').count())",
            )
            n = int(next(ln for ln in pending.splitlines() if ln.startswith("N ")).split()[1])
            if n == 0:
                break
            time.sleep(1.0)
        worker_cpu = cpu_used(cpu0, cpu_by_pid([worker.pid]))
        receiver_cpu = cpu_used(cpu0, cpu_by_pid([receiver.pid]))
        pg_cpu = cpu_used(cpu0, cpu_by_pid(pg_backend_pids(db_url)))
        stop.set()
        arrivals = out_q.get(timeout=30)
        receiver.join(timeout=10)
        books = servers.manage("ledger_check").strip().splitlines()[-1]
    finally:
        stop.set()
        servers.stop()

    paid = len(res["pays"])
    per = 1000 / max(1, paid)
    cpu_rows = [
        ["uvicorn processes (create + pay requests)", http_cpu * per],
        ["Celery worker (webhook deliveries)", worker_cpu * per],
        ["PostgreSQL backends", pg_cpu * per],
        ["webhook receiver", receiver_cpu * per],
        ["load generator (lean HTTP/1.1 client)", client_cpu * per],
    ]
    total_cpu = sum(r[1] for r in cpu_rows)
    cpu_rows.append(["all of it", total_cpu])
    lat = [arrivals[o] - t for o, t in res["pays"].items() if o in arrivals]
    heard = len([o for o in expected if o in arrivals])
    times = sorted(arrivals[o] for o in expected if o in arrivals)
    span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
    rows = [
        [
            "orders created + paid (end to end)",
            concurrency,
            paid / res["elapsed"],
            pct(res["pairs"], 50) * 1000,
            pct(res["pairs"], 99) * 1000,
            sum(res["errors"].values()),
        ],
    ]
    out = [
        f"{procs} uvicorn processes + 1 Celery worker ({worker_threads} threads, Redis broker) "
        f"on PostgreSQL + Redis; {n_merchants} merchants (vending machines), {n_buyers} "
        f"buyers; {concurrency} machines each looping create → pay for {duration:.0f} s; "
        "the load generator and the webhook receiver (its own process) share the same 2 "
        "cores. Goals: ≥ 300 paid orders/s, p99 pay → webhook < 1 s.",
        "",
        table(
            ["operation", "concurrency", "paid orders/s", "pair p50 ms", "pair p99 ms", "errors"],
            rows,
        ),
        "",
        table(
            ["webhooks", "value"],
            [
                ["order.paid webhooks received / paid orders", f"{heard} / {paid}"],
                [
                    "webhook deliveries/s (first to last arrival)",
                    f"{heard / span:,.1f}" if span == span and span > 0 else "n/a",
                ],
                ["pay sent → webhook received p50 ms", pct(lat, 50) * 1000],
                ["pay sent → webhook received p99 ms", pct(lat, 99) * 1000],
                ["pay sent → webhook received max ms", max(lat) * 1000 if lat else float("nan")],
            ],
        ),
        *(
            ["", "Errors: " + "; ".join(f"{n} × {what}" for what, n in res["errors"].items())]
            if res["errors"]
            else []
        ),
        "",
        table(["CPU per paid order (from /proc)", "ms"], cpu_rows),
        "",
        f"At {total_cpu:.1f} ms of CPU per paid order, 2 cores give at most "
        f"{2000 / total_cpu:,.0f} paid orders/s with nothing else running "
        f"({2000 / max(0.001, total_cpu - client_cpu * per - receiver_cpu * per):,.0f}/s "
        "if the load generator and receiver ran elsewhere).",
        "",
        f"Ledger check after the run: {books}.",
    ]
    return "\n".join(out) + "\n"
