"""Message search: p95 latency over 1,000,000 messages on PostgreSQL, for a caller with
5,000 visible messages and one with 200,000.

A real uvicorn server on its own migrated database. Conversations and memberships are
made with the ORM; the messages are bulk-loaded with COPY (the search trigger fills
`search_doc` row by row, as in production; the two GIN indexes are dropped for the load
and rebuilt after, with the migration's own statements). Message text is drawn from a
Zipf-distributed vocabulary of 20,000 words (like real language: a few words are very
common), 10 % of messages are Chinese without spaces. Queries go over HTTP
(`GET /api/v1/search/messages`), one at a time, so the figure is the latency a person
waits for, including Django and DRF.

Query classes (by how common the word is among all messages):
- common: a word in ~1-8 % of messages ("ok", "thanks")
- medium: ~0.1-1 %
- rare: < 0.1 %
- two words, a quoted phrase, Chinese substrings (2 and 4 characters: pg_trgm path)
- stopword: words in 20-60 % of messages (w0-w3) — reported apart; on PostgreSQL these
  come newest first (CHAT_SEARCH_NEWEST_DENSITY), not ranked.
"""

from __future__ import annotations

import io
import itertools
import random
import time

import httpx
import psycopg

from bench.stats import median, pct, table
from tests.load.servers import start_servers

VOCAB = 20_000
CJK = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
    "也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物"
    "现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全"
)


def _sentences(rnd: random.Random, n: int):
    cum = list(itertools.accumulate(1.0 / (i + 1) ** 1.05 for i in range(VOCAB)))
    words = [f"w{i}" for i in range(VOCAB)]
    for _ in range(n):
        if rnd.random() < 0.1:
            yield "".join(rnd.choice(CJK) for _ in range(rnd.randint(4, 20)))
        else:
            yield " ".join(rnd.choices(words, cum_weights=cum, k=rnd.randint(3, 15)))


def _connect_alias(db_url: str) -> str:
    """A second Django database alias pointing at the servers' database."""
    from django.db import connections

    name = db_url.rsplit("/", 1)[1]
    config = dict(connections.databases["default"])
    config["NAME"] = name
    connections.databases["srv"] = config
    return "srv"


def _seed(servers, *, total: int, plan: list[tuple[str | None, int, int]]) -> dict[str, str]:
    from django.utils import timezone

    from accounts.models import User
    from chat.models import Conversation, Membership

    alias = _connect_alias(servers.env["DATABASE_URL"])
    tokens = {}
    users = {}
    for who, phone in (("A", "+14155550901"), ("B", "+14155550902")):
        tokens[who] = servers.manage("issue_token", phone).strip().split()[-1]
        users[who] = User.objects.using(alias).get(phone=phone)
    other, _ = User.objects.using(alias).get_or_create(phone="+14155550903")
    now = timezone.now()
    rnd = random.Random(7)
    sentences = _sentences(rnd, total)
    buf = io.StringIO()
    made = 0
    start = now - timezone.timedelta(days=365)
    for who, count, size in plan:
        convs = Conversation.objects.using(alias).bulk_create(
            [
                Conversation(
                    kind="group",
                    title=f"bench {who or 'x'} {i}",
                    last_seq=size,
                    last_event_seq=0,
                    last_message_at=now,
                )
                for i in range(count)
            ]
        )
        if who:
            Membership.objects.using(alias).bulk_create(
                [Membership(conversation=c, user=users[who], joined_seq=0) for c in convs]
            )
        for c in convs:
            sender = users[who].pk if who else other.pk
            for seq in range(1, size + 1):
                made += 1
                at = start + timezone.timedelta(seconds=made * 20)
                s = next(sentences)
                buf.write(
                    f"{c.pk}\t{seq}\t{sender if seq % 2 else other.pk}\t\ttext\t{s}\t{{}}\t[]\t{at.isoformat()}\n"
                )
    dsn = servers.env["DATABASE_URL"]
    index_sql = [s for s in _search_migration().PG_FORWARD if "CREATE INDEX" in s]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS chat_message_search_gin")
        conn.execute("DROP INDEX IF EXISTS chat_message_text_trgm")
        buf.seek(0)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY chat_message (conversation_id, seq, sender_id, client_id, kind, text,"
                " payload, mentions, created_at) FROM STDIN"
            ) as copy,
        ):
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        conn.execute("SET maintenance_work_mem = '256MB'")
        for sql in index_sql:
            conn.execute(sql)
        conn.execute("VACUUM ANALYZE chat_message")
        conn.execute("ANALYZE chat_membership")
    return tokens


def _search_migration():
    """The migration that defines the search index (its number moves on rebases)."""
    import importlib
    from pathlib import Path

    import chat.migrations

    (path,) = Path(chat.migrations.__file__).parent.glob("*_message_search_index.py")
    return importlib.import_module(f"chat.migrations.{path.stem}")


def _queries(rnd: random.Random, n: int) -> list[tuple[str, str]]:
    classes = {
        "common": lambda: f"w{rnd.randint(12, 60)}",
        "medium": lambda: f"w{rnd.randint(60, 600)}",
        "rare": lambda: f"w{rnd.randint(600, 15000)}",
        "two words": lambda: f"w{rnd.randint(10, 300)} w{rnd.randint(10, 300)}",
        "phrase": lambda: f'"w{rnd.randint(0, 30)} w{rnd.randint(0, 30)}"',
        "chinese (2)": lambda: "".join(rnd.choice(CJK) for _ in range(2)),
        "chinese (4)": lambda: "".join(rnd.choice(CJK) for _ in range(4)),
    }
    out = []
    names = list(classes)
    for i in range(n):
        name = names[i % len(names)]
        out.append((name, classes[name]()))
    return out


def _measure(url: str, token: str, queries, budget_s: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    deadline = time.monotonic() + budget_s
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for _name, q in queries[:5]:  # warm-up
            c.get("/api/v1/search/messages", params={"q": q})
        for name, q in queries:
            if time.monotonic() > deadline:
                break
            t = time.perf_counter()
            r = c.get("/api/v1/search/messages", params={"q": q})
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, r.text[:300]
            times.setdefault(name, []).append(elapsed)
    return times


def _backend_cpu_ms(pid: int) -> float | None:
    """CPU time the PostgreSQL backend `pid` has run so far (Linux schedstat), or None."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return None


def _measure_in_process(
    servers, phone: str, queries, budget_s: float
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The same searches through the selector in this process: database + ranking +
    snippets, without HTTP, uvicorn and DRF (tells the query's share apart). Also the
    CPU time the database backend spent on each search, which, unlike wall-clock time,
    hardly moves when other work shares the cores."""
    from django.db import connections

    from accounts.models import User
    from chat.selectors_search import message_search

    conn = connections["default"]
    conn.close()
    conn.settings_dict["NAME"] = servers.env["DATABASE_URL"].rsplit("/", 1)[1]
    user = User.objects.get(phone=phone)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    deadline = time.monotonic() + budget_s
    for _name, q in queries[:5]:
        message_search(user=user, q=q, limit=20)
    for name, q in queries:
        if time.monotonic() > deadline:
            break
        c0 = _backend_cpu_ms(pid)
        t = time.perf_counter()
        message_search(user=user, q=q, limit=20)
        times.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        c1 = _backend_cpu_ms(pid)
        if c0 is not None and c1 is not None:
            cpu.setdefault(name, []).append(c1 - c0)
    return times, cpu


def run(quick: bool) -> str:
    if quick:
        plan = [("A", 10, 500), ("B", 25, 2000), (None, 250, 200)]  # 105,000 messages
        n_queries, budget = 140, 60.0
    else:
        plan = [("A", 10, 500), ("B", 50, 4000), (None, 3975, 200)]  # 1,000,000 messages
        n_queries, budget = 420, 90.0
    total = sum(c * s for _, c, s in plan)
    servers = start_servers(1, extra_env={"CHAT_SEARCH_RATE": "100000/s"})
    try:
        t0 = time.monotonic()
        tokens = _seed(servers, total=total, plan=plan)
        load_s = time.monotonic() - t0
        visible = {who: c * s for who, c, s in plan if who}
        rows, all_times = [], {}
        for who in ("A", "B"):
            queries = _queries(random.Random(11), n_queries)
            stop = [("stopword", f"w{i}") for i in range(0, 4)] * 5
            times = _measure(servers.url, tokens[who], queries + stop, budget)
            all_times[who] = times
            for name, values in times.items():
                rows.append(
                    [
                        f"{who} ({visible[who]:,} visible)",
                        name,
                        len(values),
                        median(values),
                        pct(values, 95),
                        pct(values, 99),
                    ]
                )
        phones = {"A": "+14155550901", "B": "+14155550902"}
        db_rows, cpu_rows = [], []
        for who in ("A", "B"):
            queries = _queries(random.Random(11), n_queries)
            stop = [("stopword", f"w{i}") for i in range(0, 4)] * 5
            times, cpu = _measure_in_process(servers, phones[who], queries + stop, budget)
            mix = [v for name, vals in times.items() if name != "stopword" for v in vals]
            cpu_mix = [v for name, vals in cpu.items() if name != "stopword" for v in vals]
            db_rows.append(
                [
                    f"{who} ({visible[who]:,} visible)",
                    len(mix),
                    median(mix),
                    pct(mix, 95),
                    pct(mix, 99),
                    median(times.get("stopword", [])),
                    pct(times.get("stopword", []), 95),
                    median(cpu_mix) if cpu_mix else "-",
                    pct(cpu_mix, 95) if cpu_mix else "-",
                ]
            )
            for name, vals in cpu.items():
                cpu_rows.append(
                    [
                        f"{who} ({visible[who]:,} visible)",
                        name,
                        len(vals),
                        median(vals),
                        pct(vals, 95),
                        max(vals),
                    ]
                )
        summary = []
        for who, times in all_times.items():
            mix = [v for name, vals in times.items() if name != "stopword" for v in vals]
            summary.append(
                [
                    f"{who} ({visible[who]:,} visible)",
                    len(mix),
                    median(mix),
                    pct(mix, 95),
                    pct(mix, 99),
                    "yes" if pct(mix, 95) < 50 else "no",
                ]
            )
    finally:
        servers.stop()
    return "\n\n".join(
        [
            f"### Message search ({total:,} messages on PostgreSQL, HTTP, one request at a time)",
            f"Loaded in {load_s:.0f} s (COPY, trigger-built search documents, GIN rebuilt). "
            "Times in ms, measured at the client over 127.0.0.1.",
            table(["caller", "queries", "p50", "p95", "p99", "p95 < 50 ms"], summary),
            "The same queries through the selector in-process (database + ranking + "
            "snippets, no HTTP/uvicorn/DRF), ms:",
            table(
                [
                    "caller",
                    "queries",
                    "p50",
                    "p95",
                    "p99",
                    "stopword p50",
                    "stopword p95",
                    "db CPU p50",
                    "db CPU p95",
                ],
                db_rows,
            ),
            "Database CPU per search by query class (the backend's own CPU time, in ms: what "
            "the query costs, whatever else runs on the machine):",
            table(["caller", "class", "n", "p50", "p95", "max"], cpu_rows),
            "Per query class over HTTP (the summary excludes `stopword`, words in 20-60 % of all "
            "messages, which come newest first instead of ranked):",
            table(["caller", "class", "n", "p50", "p95", "p99"], rows),
        ]
    )
