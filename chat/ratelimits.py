"""The per-person send limit shared by the WebSocket and REST edges (services called by
other apps — system lines, transfers — are not limited here)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings

from config.errors import RateLimited
from config.ratelimit import check_rate, parse_rates

from . import rediskit


def check_send_rate(user_id: int) -> None:
    check_rate(
        "chat.send",
        str(user_id),
        f"{settings.CHAT_SEND_RATE_BURST}/s",
        message="You are sending messages too fast.",
    )


def typing_allowed(user_id: int, conversation_id: int) -> bool:
    """At most one typing event per person and conversation every 3 seconds."""
    raw = f"chat:typing:{user_id}:{conversation_id}"
    client = rediskit.client()
    if client is not None:
        return bool(client.set(rediskit.key(raw), 1, ex=3, nx=True))
    from django.core.cache import cache

    return cache.add(raw, 1, timeout=3)


# INCR every key (a hit per send), setting the TTL on a key's first hit: the counting of
# config.ratelimit.check_rate (add 1 or incr), for a whole batch in one command.
_COUNT_HITS = """
local out = {}
for i, k in ipairs(KEYS) do
  local n = redis.call('INCR', k)
  if n == 1 then redis.call('EXPIRE', k, ARGV[i]) end
  out[i] = n
end
return out
"""
_count_hits_sha: str | None = None


def check_send_rates(
    user_ids: list[int], *, also_mget: list[str] | None = None
) -> tuple[list[RateLimited | None], list]:
    """`check_send_rate` for a batch of sends (one entry per send, in order): the error to
    report for each, or None. Same keys and counting as `config.ratelimit.check_rate`, so
    REST and WebSocket share one budget; on Redis one command counts the whole batch.
    `also_mget`: raw keys to read in the same round trip (presence); their values come
    back second (None per key off Redis: the caller reads them its own way)."""
    global _count_hits_sha
    spec = f"{settings.CHAT_SEND_RATE_BURST}/s"
    client = rediskit.client()
    if client is None:
        out: list[RateLimited | None] = []
        for uid in user_ids:
            try:
                check_send_rate(uid)
                out.append(None)
            except RateLimited as e:
                out.append(e)
        return out, [None] * len(also_mget or ())
    now = time.time()
    rates = parse_rates(spec)
    keys, ttls, meta = [], [], []
    for uid in user_ids:
        digest = hashlib.sha256(str(uid).encode()).hexdigest()[:32]
        for limit, window in rates:
            bucket = int(now // window)
            keys.append(rediskit.key(f"rl:chat.send:{window}:{bucket}:{digest}"))
            ttls.append(window + 1)
            meta.append((limit, window, bucket))
    from redis.exceptions import NoScriptError

    for attempt in (1, 2):
        if _count_hits_sha is None:
            _count_hits_sha = client.script_load(_COUNT_HITS)
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(_count_hits_sha, len(keys), *keys, *ttls)
        if also_mget:
            pipe.mget([rediskit.key(k) for k in also_mget])
        try:
            replies = pipe.execute()
            break
        except NoScriptError:  # Redis restarted (scripts are not persisted): load again
            _count_hits_sha = None
            if attempt == 2:
                raise
    counts = replies[0]
    values = replies[1] if also_mget else []
    out = []
    per = len(rates)
    for i in range(len(user_ids)):
        error = None
        for (limit, window, bucket), count in zip(
            meta[i * per : (i + 1) * per], counts[i * per : (i + 1) * per], strict=True
        ):
            if count > limit and error is None:
                error = RateLimited(
                    "You are sending messages too fast.",
                    retry_after=int((bucket + 1) * window - now) + 1,
                    code="rate_limited",
                )
        out.append(error)
    return out, values
