"""Red packets: the 500-at-once burst on one 100-share packet, and claims per second.

Runs the chat + payments services (`chat.services.money.red_packet_grab`, what the claim
endpoint calls) on PostgreSQL + Redis with DEBUG off, as production runs them, in two
shapes:

* **server-like**: the 500 claims are released together (one barrier across processes)
  into 2 worker processes × 4 threads, each process with its own connection pool — the
  way several server processes with bounded worker pools take a crowd of requests;
* **one process, 500 threads**: every claimer its own thread in one Python process, all
  released by one barrier (the shape of tests/chat/test_red_packets.py's correctness
  test): one interpreter lock for all Python work, but only 16 pooled connections, so
  fewer transactions queue on the packet's rows at once. On a loaded 2-core machine this
  shape came out faster than the server-like one; both are reported.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import time
import uuid

from django.conf import settings
from django.db import connection

from bench.stats import median, table

PROCS, THREADS = 2, 4


def _production_like() -> None:
    # bench.run starts scenarios without DEBUG=false; production has no query log.
    settings.DEBUG = False


def _people(n: int, tag: str):
    from accounts.models import User

    return User.objects.bulk_create(
        User(phone=f"+1{tag}{i:06d}"[:16], display_name=f"b{i}") for i in range(n)
    )


def _packet(owner, members, count: int, total: int):
    from chat.services.conversations import group_create, member_add
    from chat.services.money import red_packet_send
    from payments.services.funding import operator_credit
    from payments.services.pin import pin_set

    operator_credit(user_id=owner.pk, amount=total, currency="USD")
    pin_set(user=owner, pin="123456")
    conv = group_create(creator=owner, title="bench", member_ids=[])
    member_add(conversation_id=conv.pk, user_ids=[m.pk for m in members])
    packet, _ = red_packet_send(
        sender=owner,
        conversation_id=conv.pk,
        total=total,
        count=count,
        split="random",
        currency="USD",
        pin="123456",
    )
    return packet


def _grab(person, packet_id: int):
    from chat.services.money import red_packet_grab
    from config.errors import DomainError

    try:
        return red_packet_grab(user=person, packet_id=packet_id).amount
    except DomainError as e:
        return e.code
    except Exception as e:  # e.g. a pool timeout under overload: counted, not lost
        return f"{type(e).__name__}"


def _summary(results: list, wall: float) -> dict:
    from payments.ledger import ledger_check

    won = [r for r in results if isinstance(r, int)]
    return {
        "wall_s": wall,
        "answers": len(results),
        "won": len(won),
        "sum": sum(won),
        "empty": sum(1 for r in results if r == "red_packet_empty"),
        "other": sorted({r for r in results if isinstance(r, str) and r != "red_packet_empty"}),
        "ledger_ok": not ledger_check(),
    }


def _setup_burst(claimers: int, shares: int):
    tag = str(uuid.uuid4().int)[:8]
    people = _people(claimers, tag)
    owner, rest = people[0], people[1:]
    return people, _packet(owner, rest, shares, 20_000)


def _burst_threads(claimers: int, shares: int) -> dict:
    people, packet = _setup_burst(claimers, shares)
    results: list = []
    barrier = threading.Barrier(claimers)

    def grab(person):
        try:
            barrier.wait()
            results.append(_grab(person, packet.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=grab, args=(p,)) for p in people]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for t in threads:
        t.join(120)
    return _summary(results, time.perf_counter() - t0)


def _warm(threads: int) -> None:
    """A running server has its connections open and its realtime loop up: open
    `threads` pooled connections at once, and publish once."""
    from config.realtime import publish_now

    together = threading.Barrier(threads)

    def hold():
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
                together.wait(timeout=60)
        finally:
            connection.close()

    warmers = [threading.Thread(target=hold) for _ in range(threads)]
    for t in warmers:
        t.start()
    for t in warmers:
        t.join(60)
    publish_now([0], {"type": "warm"})


def _server_process(packet_id: int, user_ids: list[int], threads: int, barrier, out_q) -> None:
    """One 'server': a pool of `threads` workers taking its share of the crowd."""
    os.environ["DEBUG"] = "false"
    import django

    django.setup()
    from accounts.models import User
    from chat.services import money  # noqa: F401  (imported before the clock starts)

    people = list(User.objects.filter(pk__in=user_ids))
    connection.close()
    _warm(threads)
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for p in people:
        todo.put(p)
    results: list = []

    def work():
        try:
            while True:
                try:
                    person = todo.get_nowait()
                except queue.Empty:
                    return
                results.append((_grab(person, packet_id), time.time()))
        finally:
            connection.close()

    barrier.wait()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    out_q.put(results)


def _burst_processes(claimers: int, shares: int, procs: int, threads: int) -> dict:
    people, packet = _setup_burst(claimers, shares)
    ctx = mp.get_context("spawn")
    barrier, out_q = ctx.Barrier(procs + 1), ctx.Queue()
    ids = [p.pk for p in people]
    children = [
        ctx.Process(
            target=_server_process, args=(packet.pk, ids[i::procs], threads, barrier, out_q)
        )
        for i in range(procs)
    ]
    for c in children:
        c.start()
    barrier.wait(timeout=120)  # every process is set up; the crowd arrives now
    t0 = time.time()
    answered: list = []
    for _ in children:
        answered += out_q.get(timeout=180)
    for c in children:
        c.join(30)
    wall = max(t for _r, t in answered) - t0
    return _summary([r for r, _t in answered], wall)


def _sequential_claims(shares: int) -> float:
    from chat.services.money import red_packet_grab

    tag = str(uuid.uuid4().int)[:8]
    people = _people(shares + 1, tag)
    packet = _packet(people[0], people[1:], shares, shares * 10)
    t0 = time.perf_counter()
    for p in people[1:]:
        red_packet_grab(user=p, packet_id=packet.pk)
    return shares / (time.perf_counter() - t0)


def _row(shape: str, r: dict) -> list:
    return [
        shape,
        r["answers"],
        100,
        r["wall_s"],
        r["won"],
        r["sum"],
        r["empty"],
        ", ".join(r["other"]) or "none",
        "clean" if r["ledger_ok"] else "BROKEN",
    ]


def run(quick: bool) -> str:
    _production_like()
    repeats = 1 if quick else 3
    rows, walls, walls_threads = [], [], []
    for _ in range(repeats):
        r = _burst_processes(500, 100, PROCS, THREADS)
        walls.append(r["wall_s"])
        rows.append(_row(f"{PROCS} processes × {THREADS} threads", r))
    for _ in range(repeats):
        r = _burst_threads(500, 100)
        walls_threads.append(r["wall_s"])
        rows.append(_row("1 process, 500 threads", r))
    rates = [_sequential_claims(50 if quick else 100) for _ in range(repeats)]
    return (
        "\n".join(
            [
                "Service layer (`chat.services.money.red_packet_grab`, what the claim "
                "endpoint calls), PostgreSQL + Redis, DEBUG off. 500 claimers released "
                f"together: into {PROCS} worker processes × {THREADS} threads (server-like: "
                "several processes, bounded worker pools, a connection pool each), and "
                "into 500 threads of one process (one interpreter lock for everything).",
                "",
                table(
                    [
                        "shape",
                        "claimers",
                        "shares",
                        "wall s",
                        "succeeded",
                        "sum",
                        "409 empty",
                        "other",
                        "ledger_check",
                    ],
                    rows,
                ),
                "",
                f"500-claim burst: median {median(walls):.2f} s to settle with {PROCS} "
                f"processes × {THREADS} threads, {median(walls_threads):.2f} s with 500 "
                "threads in one process (goal < 2 s).",
                f"Sequential claims on one packet (one claimer at a time, 1 thread): median "
                f"{median(rates):,.0f} claims/s.",
            ]
        )
        + "\n"
    )
