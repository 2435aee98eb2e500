"""Full-text search of the caller's own chat history, on either database shape.

`message_search` is the one entry point. It scopes to the caller first (active
memberships, and in each conversation only messages after `joined_seq`; messages the
caller hid are left out), then asks the shape's index:

- PostgreSQL, words: `search_doc @@ websearch_to_tsquery('simple', q)` over the
  (conversation_id, search_doc) GIN index, ranked with ts_rank, snippets by ts_headline.
- PostgreSQL, text without spaces (Chinese, Japanese, Thai, …): every character and
  every pair of neighbouring characters of such runs is an extra lexeme of search_doc, so
  `开会` is an indexed AND of pairs, rechecked with `ILIKE %开会%`; characters outside
  the indexed ranges fall back to ILIKE over the pg_trgm GIN index.
- SQLite: the FTS5 trigram table (terms of 3+ characters), LIKE for shorter terms,
  ranked by bm25.

Ranking work is bounded: only the newest `CHAT_SEARCH_MAX_CANDIDATES` matches are
ranked and highlighted. Matching itself grows with how many of the caller's messages
hold the words (each is a heap row to read), so on PostgreSQL plain words that the
planner's statistics say are in most messages skip the index and come newest first
(`_search_postgres_newest`). The index never holds recalled or system messages (see the
message_search_index migration), so those never match.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from config.errors import InvalidInput, NotFound
from config.pagination import decode_cursor, encode_cursor

from .models import Membership, Message
from .services.stream import render_message

MAX_QUERY = 200
MARK_START, MARK_END = "\ue000", "\ue001"  # private-use sentinels, turned into <mark> tags

# Scripts written without spaces between words: a tokenizer cannot find their words, so
# these queries go to the substring (trigram) index instead.
_NO_SPACE_SCRIPTS = re.compile(
    "[\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\U00020000-\U0002ffff]"
)
_TERM = re.compile(r'-?"[^"]*"|\S+')
# The runs whose characters and character pairs PostgreSQL indexes as extra lexemes
# (migration search_cjk_bigrams; BMP only, same ranges).
_GRAM_RUN = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+"
)


@dataclass(frozen=True)
class SearchHit:
    message: Message
    snippet: str
    rank: float


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    include: list[str]  # terms or phrases that must appear
    exclude: list[str]  # terms that must not
    substring: bool  # no-space scripts: match substrings, not words


def parse_query(raw: str | None) -> ParsedQuery:
    q = (raw or "").strip()
    if not q:
        raise InvalidInput(
            "Enter something to search for.", code="invalid", fields={"q": ["Required."]}
        )
    if len(q) > MAX_QUERY:
        raise InvalidInput(
            f"The query is at most {MAX_QUERY} characters.",
            code="invalid",
            fields={"q": [f"At most {MAX_QUERY} characters."]},
        )
    if any(ord(ch) < 32 for ch in q):
        raise InvalidInput(
            "Control characters are not allowed.",
            code="invalid",
            fields={"q": ["Control characters."]},
        )
    include: list[str] = []
    exclude: list[str] = []
    for token in _TERM.findall(q):
        negative = token.startswith("-") and len(token) > 1
        token = token[1:] if negative else token
        term = token.strip('"').strip()
        if not term or term.lower() == "or":
            continue
        (exclude if negative else include).append(term)
    if not include:
        raise InvalidInput(
            "Enter at least one word to look for.", code="invalid", fields={"q": ["No words."]}
        )
    return ParsedQuery(
        raw=q, include=include, exclude=exclude, substring=bool(_NO_SPACE_SCRIPTS.search(q))
    )


def _scope(user, conversation_id: int | None) -> tuple[list[int], list[int], int]:
    """(conversation ids, joined_seq of each, how many messages they hold since joining)
    the caller may search."""
    rows = Membership.objects.filter(user_id=user.pk, left_at__isnull=True)
    if conversation_id is not None:
        rows = rows.filter(conversation_id=conversation_id)
    triples = list(rows.values_list("conversation_id", "joined_seq", "conversation__last_seq"))
    if conversation_id is not None and not triples:
        raise NotFound("No such conversation.", code="conversation_not_found")
    size = sum(max(0, last - joined) for _, joined, last in triples)
    return [t[0] for t in triples], [t[1] for t in triples], size


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def message_search(
    *,
    user,
    q: str,
    conversation_id: int | None = None,
    sender_id: int | None = None,
    before: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[SearchHit], str | None]:
    """Best matches first, `limit` per page; the second value is the next page's cursor."""
    parsed = parse_query(q)
    newest, after = _decode(cursor)
    cids, joined, size = _scope(user, conversation_id)
    if not cids:
        return [], None
    postgres = connection.vendor == "postgresql"
    if newest and not postgres:
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    if cursor is None and postgres and sender_id is None and before is None:
        # (A sender or time filter can leave few of the common word's hits, and the walk
        # would then read most of the history to fill a page: those stay ranked.)
        newest = _too_common(parsed, size)
    search = _search_sqlite
    if postgres:
        search = _search_postgres_newest if newest else _search_postgres
    rows = search(
        parsed=parsed,
        user_id=user.pk,
        cids=cids,
        joined=joined,
        sender_id=sender_id,
        before=before,
        after=after,
        limit=limit + 1,
        cap=settings.CHAT_SEARCH_MAX_CANDIDATES,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    messages = Message.objects.in_bulk([r[0] for r in rows])
    hits = []
    for message_id, rank, headline in rows:
        message = messages.get(message_id)
        if message is None:  # purged between the two queries
            continue
        snippet = (
            _render_headline(headline)
            if headline is not None
            else _python_snippet(message.text, parsed.include)
        )
        hits.append(SearchHit(message=message, snippet=snippet, rank=float(rank)))
    next_cursor = None
    if more and rows:
        last_id, last_rank, _ = rows[-1]
        if newest:
            next_cursor = encode_cursor({"o": "new", "i": last_id})
        else:
            next_cursor = encode_cursor({"r": float(last_rank), "i": last_id})
    return hits, next_cursor


def _decode(cursor: str | None) -> tuple[bool, tuple[float, int] | int | None]:
    """(newest first?, where the previous page ended: (rank, id) or, newest first, id)."""
    value = decode_cursor(cursor)
    if value is None:
        return False, None
    if value.get("o") == "new":
        i = value.get("i")
        if isinstance(i, bool) or not isinstance(i, int) or not 0 < i < 2**63:
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
        return True, i
    r, i = value.get("r"), value.get("i")
    if (
        isinstance(r, bool)
        or not isinstance(r, int | float)
        or isinstance(i, bool)
        or not isinstance(i, int)
        or not 0 < i < 2**63
        or r != r  # NaN
        or abs(r) > 1e30
    ):
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    return False, (float(r), i)


def _filters(sender_id, before, alias="m") -> tuple[str, list]:
    sql, params = "", []
    if sender_id is not None:
        sql += f" AND {alias}.sender_id = %s"
        params.append(sender_id)
    if before is not None:
        sql += f" AND {alias}.created_at < %s"
        params.append(before)
    return sql, params


# Hidden (deleted-for-me) messages as `NOT IN (subquery)`, not `NOT EXISTS`: PostgreSQL
# runs it as one hashed subplan (the caller's hidden ids, read once), where NOT EXISTS was
# planned as an index probe per matching row (two buffer hits each: 20,000 of the 26,000
# a common word cost the 200,000-message caller). message_id is NOT NULL, so NOT IN
# cannot hit its NULL trap.
_VISIBLE = (
    " AND m.recalled_at IS NULL AND m.kind <> 'system'"
    " AND m.id NOT IN (SELECT h.message_id FROM chat_hiddenmessage h WHERE h.user_id = %s)"
)


_HEADLINE_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=8, "
    'ShortWord=1, MaxFragments=2, FragmentDelimiter=" … "'
)


def _search_postgres(*, parsed, user_id, cids, joined, sender_id, before, after, limit, cap):
    extra, extra_params = _filters(sender_id, before)
    page = ""
    page_params: list = []
    if after is not None:
        page = "WHERE (h.rank < %s OR (h.rank = %s AND h.id < %s))"
        page_params = [after[0], after[0], after[1]]
    scope = "WITH c AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS c(cid, joined))"
    if not parsed.substring:
        phrases = _phrases(parsed.raw)
        # A phrase's word pairs are lexemes too (migration search_word_pairs): adding them
        # to the indexed condition leaves only messages that hold the pairs to be read
        # back for the positional check, instead of every message holding the words.
        # The pairs are ANDed into one `@@` (`qm`), not a second `@@`: two would shrink the
        # planner's row estimate and make it trade the per-conversation index probes for
        # one scan of every message in the database that holds the pairs. No pairs (a
        # one-word phrase) leaves the query as it is.
        pairs = (
            "q0.q && coalesce((SELECT string_agg(x::text, ' & ')::tsquery FROM"
            " unnest(%s::text[]) AS ph, chat_phrase_pairs(ph) AS x), q0.q)"
            if phrases
            else "q0.q"
        )
        sql = f"""
            {scope},
            q0 AS (SELECT websearch_to_tsquery('simple', %s) AS q),
            q AS MATERIALIZED (SELECT q0.q, {pairs} AS qm FROM q0),
            cand AS (
                SELECT m.id, m.search_doc FROM chat_message m
                JOIN c ON c.cid = m.conversation_id CROSS JOIN q
                WHERE m.search_doc @@ q.qm AND m.seq > c.joined {_VISIBLE} {extra}
                ORDER BY m.id DESC LIMIT %s
            ),
            h AS (
                SELECT cand.id, ts_rank(cand.search_doc, q.q)::float8 AS rank
                FROM cand CROSS JOIN q
            ),
            top AS (SELECT h.id, h.rank FROM h {page} ORDER BY h.rank DESC, h.id DESC LIMIT %s)
            SELECT top.id, top.rank, ts_headline('simple', m.text, q.q, %s)
            FROM top JOIN chat_message m ON m.id = top.id CROSS JOIN q
            ORDER BY top.rank DESC, top.id DESC
        """  # noqa: S608 (constant SQL fragments; values are parameters)
        options = _HEADLINE_OPTIONS
        params = [
            cids,
            joined,
            parsed.raw,
            *([phrases] if phrases else []),
            user_id,
            *extra_params,
            cap,
            *page_params,
            limit,
            options,
        ]
    elif (grams := _gram_tsquery(parsed.include)) is not None:
        # Characters and pairs are lexemes in search_doc: the GIN index finds candidates,
        # ILIKE keeps only exact substrings.
        likes = "".join(" AND m.text ILIKE %s" for _ in parsed.include)
        likes += "".join(" AND m.text NOT ILIKE %s" for _ in parsed.exclude)
        like_params = [_like_pattern(t) for t in parsed.include + parsed.exclude]
        sql = f"""
            {scope},
            q AS (SELECT to_tsquery('simple', %s) AS q),
            cand AS (
                SELECT m.id, m.search_doc FROM chat_message m
                JOIN c ON c.cid = m.conversation_id CROSS JOIN q
                WHERE m.search_doc @@ q.q AND m.seq > c.joined {likes} {_VISIBLE} {extra}
                ORDER BY m.id DESC LIMIT %s
            ),
            h AS (
                SELECT cand.id, ts_rank(cand.search_doc, q.q)::float8 AS rank
                FROM cand CROSS JOIN q
            )
            SELECT h.id, h.rank, NULL FROM h {page}
            ORDER BY h.rank DESC, h.id DESC LIMIT %s
        """  # noqa: S608 (constant SQL fragments; values are parameters)
        params = [
            cids,
            joined,
            grams,
            *like_params,
            user_id,
            *extra_params,
            cap,
            *page_params,
            limit,
        ]
    else:
        likes = " ".join("AND m.text ILIKE %s" for _ in parsed.include)
        likes += " ".join(" AND m.text NOT ILIKE %s" for _ in parsed.exclude)
        like_params = [_like_pattern(t) for t in parsed.include + parsed.exclude]
        sql = f"""
            {scope},
            cand AS (
                SELECT m.id, m.text FROM chat_message m JOIN c ON c.cid = m.conversation_id
                WHERE m.seq > c.joined {likes} {_VISIBLE} {extra}
                ORDER BY m.id DESC LIMIT %s
            ),
            h AS (SELECT cand.id, similarity(cand.text, %s)::float8 AS rank FROM cand)
            SELECT h.id, h.rank, NULL FROM h {page}
            ORDER BY h.rank DESC, h.id DESC LIMIT %s
        """  # noqa: S608 (constant SQL fragments; values are parameters)
        params = [
            cids,
            joined,
            *like_params,
            user_id,
            *extra_params,
            cap,
            " ".join(parsed.include),
            *page_params,
            limit,
        ]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# --- newest first, for words too common to rank -----------------------------------------
#
# Matching through the GIN index costs in proportion to the matches in the caller's
# conversations: a word in 60 % of 200,000 messages is 120,000 heap rows to read before
# the newest 1,000 can even be picked for ranking (half a second). Ranking that many
# near-identical hits says little anyway, so when the planner's own statistics say the
# words are that common, the hits come newest first instead: each conversation is read
# backwards along its (conversation_id, seq) index until it has a page of hits, and the
# pages are merged by id. That reads about (conversations x page / density) rows, a few
# thousand, whatever the history's size.

_PLAIN_WORD = re.compile(r"[^\W_]+")
_FREQS: dict = {"at": -1e9, "freqs": {}}
_FREQS_TTL = 600.0  # statistics only change on ANALYZE (autovacuum), minutes apart


def _lexeme_freqs() -> dict[str, float]:
    """Share of indexed messages holding each of the most common lexemes (pg_stats)."""
    now = time.monotonic()
    if now - _FREQS["at"] > _FREQS_TTL:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
                " WHERE schemaname = current_schema() AND tablename = 'chat_message'"
                " AND attname = 'search_doc'"
            )
            row = cur.fetchone()
        freqs = {}
        if row and row[0] and row[1]:
            freqs = dict(zip(row[0], row[1], strict=False))  # freqs has 3 extra entries
        _FREQS.update(at=now, freqs=freqs)
    return _FREQS["freqs"]


def _too_common(parsed: ParsedQuery, size: int) -> bool:
    """Plain words so common among the caller's `size` messages that the hits should come
    newest first (phrases, `or` and scripts without spaces keep the ranked path)."""
    if parsed.substring or any(t.lower() == "or" for t in _TERM.findall(parsed.raw)):
        return False
    if not all(_PLAIN_WORD.fullmatch(t) for t in parsed.include):
        return False
    freqs = _lexeme_freqs()
    density = 1.0
    for term in parsed.include:
        density *= freqs.get(term.lower(), 0.0)  # not among the common ones: rare enough
    return (
        density >= settings.CHAT_SEARCH_NEWEST_DENSITY
        and density * size > settings.CHAT_SEARCH_MAX_CANDIDATES
    )


def _search_postgres_newest(*, parsed, user_id, cids, joined, sender_id, before, after, limit, cap):
    extra, extra_params = _filters(sender_id, before)
    page, page_params = "", []
    if after is not None:
        page = " AND m.id < %s"
        page_params = [after]
    sql = f"""
        WITH q AS MATERIALIZED (SELECT websearch_to_tsquery('simple', %s) AS q),
        c AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS c(cid, joined)),
        hits AS (
            SELECT x.id FROM c CROSS JOIN LATERAL (
                SELECT m.id FROM chat_message m
                WHERE m.conversation_id = c.cid AND m.seq > c.joined
                AND ts_match_vq(m.search_doc, (SELECT q FROM q)) {_VISIBLE} {extra} {page}
                ORDER BY m.seq DESC LIMIT %s
            ) x
            ORDER BY x.id DESC LIMIT %s
        )
        SELECT h.id, ts_rank(m.search_doc, q.q)::float8, ts_headline('simple', m.text, q.q, %s)
        FROM hits h JOIN chat_message m ON m.id = h.id CROSS JOIN q
        ORDER BY h.id DESC
    """  # noqa: S608 (constant SQL fragments; values are parameters)
    # ts_match_vq is `@@` spelled so that the planner cannot answer it from the GIN index
    # (that is the slow path this avoids). With the caller's conversations coming from an
    # array the planner guesses a dozen rows each and would rather sort them than walk
    # the (conversation_id, seq) index backwards; enable_sort = off (local to this
    # transaction) makes it take the walk, which stops after a page of hits. The penalty
    # enable_sort adds to the plan's cost (the final merge still sorts) would also cross
    # jit_above_cost and spend a second compiling, so JIT is off for it too.
    params = [
        parsed.raw,
        cids,
        joined,
        user_id,
        *extra_params,
        *page_params,
        limit,
        limit,
        _HEADLINE_OPTIONS,
    ]
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL enable_sort = off")
        cur.execute("SET LOCAL jit = off")
        cur.execute(sql, params)
        return cur.fetchall()


def _phrases(raw: str) -> list[str]:
    """The quoted phrases the query requires; none when it has `or` (a phrase in one
    alternative is not required of every hit)."""
    tokens = _TERM.findall(raw)
    if any(t.lower() == "or" for t in tokens):
        return []
    return [t.strip('"') for t in tokens if t.startswith('"') and t.strip('"').strip()]


def _gram_tsquery(terms: list[str]) -> str | None:
    """`开会讨论` → `'开会' & '会讨' & '讨论'`: every pair of neighbouring characters
    (a lone character stands for itself). None when no term has such a run."""
    grams: list[str] = []
    for term in terms:
        for run in _GRAM_RUN.findall(term):
            grams += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    if not grams:
        return None
    return " & ".join("'" + g.replace("'", "''") + "'" for g in dict.fromkeys(grams))


def _fts5_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _search_sqlite(*, parsed, user_id, cids, joined, sender_id, before, after, limit, cap):
    extra, extra_params = _filters(sender_id, before)
    # FTS5's trigram tokenizer indexes 3-character pieces: shorter terms cannot use it.
    indexed = [t for t in parsed.include if len(t) >= 3]
    short = [t for t in parsed.include if len(t) < 3]
    scope_values = ",".join("(%s, %s)" for _ in cids)
    scope_params = [v for pair in zip(cids, joined, strict=True) for v in pair]
    likes = "".join(" AND m.text LIKE %s ESCAPE '\\'" for _ in short)
    likes += "".join(" AND m.text NOT LIKE %s ESCAPE '\\'" for _ in parsed.exclude)
    like_params = [_like_pattern(t) for t in short + parsed.exclude]
    # SQLite's LIKE is case-insensitive only for ASCII; good enough for the embedded shape.
    if indexed:
        match = " AND ".join(_fts5_phrase(t) for t in indexed)
        source = (
            "FROM chat_message_fts f JOIN chat_message m ON m.id = f.rowid"
            " JOIN c ON c.cid = m.conversation_id WHERE chat_message_fts MATCH %s"
        )
        rank_expr = "-bm25(chat_message_fts)"
        source_params = [match]
    else:
        source = "FROM chat_message m JOIN c ON c.cid = m.conversation_id WHERE 1 = 1"
        rank_expr = "0.0"
        source_params = []
    page, page_params = "", []
    if after is not None:
        page = "WHERE (rank < %s OR (rank = %s AND id < %s))"
        page_params = [after[0], after[0], after[1]]
    sql = f"""
        WITH c(cid, joined) AS (VALUES {scope_values}),
        cand AS (
            SELECT m.id AS id, {rank_expr} AS rank {source}
            AND m.seq > c.joined AND m.text <> '' {likes} {_VISIBLE} {extra}
            ORDER BY m.id DESC LIMIT %s
        )
        SELECT id, rank, NULL FROM cand {page} ORDER BY rank DESC, id DESC LIMIT %s
    """  # noqa: S608 (constant SQL fragments; values are parameters)
    params = [
        *scope_params,
        *source_params,
        *like_params,
        user_id,
        *extra_params,
        cap,
        *page_params,
        limit,
    ]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _render_headline(headline: str) -> str:
    """ts_headline's text with sentinels → HTML-escaped text with <mark> tags."""
    escaped = html.escape(headline, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def _python_snippet(text: str, terms: list[str], width: int = 60) -> str:
    """A window of `text` around the first match, every term marked, HTML-escaped."""
    lowered = text.lower()
    positions = [lowered.find(t.lower()) for t in terms]
    found = [p for p in positions if p >= 0]
    start = max(0, min(found) - width // 3) if found else 0
    end = min(len(text), start + width)
    window = text[start:end]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I)
    out, last = [], 0
    for m in pattern.finditer(window):
        out.append(html.escape(window[last : m.start()], quote=False))
        out.append(f"<mark>{html.escape(m.group(0), quote=False)}</mark>")
        last = m.end()
    out.append(html.escape(window[last:], quote=False))
    return ("… " if start > 0 else "") + "".join(out) + (" …" if end < len(text) else "")


def render_hit(hit: SearchHit) -> dict:
    return {
        "conversation_id": hit.message.conversation_id,
        "seq": hit.message.seq,
        "rank": hit.rank,
        "snippet": hit.snippet,
        "message": render_message(hit.message),
    }
