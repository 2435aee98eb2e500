"""Red packets: the 500-at-once burst on one 100-share packet, and claims per second.

Runs the chat + payments services in-process on PostgreSQL with real threads (one
connection each from the pool), the way concurrent requests reach them.
"""

from __future__ import annotations

import threading
import time
import uuid

from django.db import connection

from bench.stats import median, table


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


def _burst(claimers: int, shares: int) -> dict:
    from chat.services.money import red_packet_grab
    from config.errors import DomainError
    from payments.ledger import ledger_check

    tag = str(uuid.uuid4().int)[:8]
    people = _people(claimers, tag)
    owner, rest = people[0], people[1:]
    packet = _packet(owner, rest, shares, 20_000)
    results: list = []
    barrier = threading.Barrier(claimers)

    def grab(person):
        try:
            barrier.wait()
            results.append(red_packet_grab(user=person, packet_id=packet.pk).amount)
        except DomainError as e:
            results.append(e.code)
        except Exception as e:  # e.g. a pool timeout under overload: counted, not lost
            results.append(f"{type(e).__name__}")
        finally:
            connection.close()

    threads = [threading.Thread(target=grab, args=(p,)) for p in people]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for t in threads:
        t.join(120)
    wall = time.perf_counter() - t0
    won = [r for r in results if isinstance(r, int)]
    return {
        "wall_s": wall,
        "won": len(won),
        "sum": sum(won),
        "empty": sum(1 for r in results if r == "red_packet_empty"),
        "other": sorted({r for r in results if isinstance(r, str) and r != "red_packet_empty"}),
        "ledger_ok": not ledger_check(),
    }


def _sequential_claims(shares: int) -> float:
    from chat.services.money import red_packet_grab

    tag = str(uuid.uuid4().int)[:8]
    people = _people(shares + 1, tag)
    packet = _packet(people[0], people[1:], shares, shares * 10)
    t0 = time.perf_counter()
    for p in people[1:]:
        red_packet_grab(user=p, packet_id=packet.pk)
    return shares / (time.perf_counter() - t0)


def run(quick: bool) -> str:
    repeats = 1 if quick else 3
    rows, walls = [], []
    for _ in range(repeats):
        r = _burst(500, 100)
        walls.append(r["wall_s"])
        rows.append(
            [
                500,
                100,
                r["wall_s"],
                r["won"],
                r["sum"],
                r["empty"],
                ", ".join(r["other"]) or "none",
                "clean" if r["ledger_ok"] else "BROKEN",
            ]
        )
    rates = [_sequential_claims(50 if quick else 100) for _ in range(repeats)]
    return (
        "\n".join(
            [
                "Service layer (chat.services.money + payments), in-process, PostgreSQL, real "
                "threads released together by a barrier; each thread takes a pooled connection "
                "(DB_POOL_MAX, default 16), as concurrent requests would.",
                "",
                table(
                    [
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
                f"500-claim burst: median {median(walls):.2f} s to settle (goal < 2 s).",
                f"Sequential claims on one packet (one claimer at a time, 1 thread): median "
                f"{median(rates):,.0f} claims/s.",
            ]
        )
        + "\n"
    )
