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


def check_send_rates(user_ids: list[int]) -> list[RateLimited | None]:
    """`check_send_rate` for a batch of sends (one entry per send, in order): the error to
    report for each, or None. Same keys and counting as `config.ratelimit.check_rate`, so
    REST and WebSocket share one budget; on Redis one pipeline counts the whole batch
    instead of two or three round trips per send."""
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
        return out
    now = time.time()
    rates = parse_rates(spec)
    keys = []
    pipe = client.pipeline(transaction=False)
    for uid in user_ids:
        digest = hashlib.sha256(str(uid).encode()).hexdigest()[:32]
        for limit, window in rates:
            bucket = int(now // window)
            key = rediskit.key(f"rl:chat.send:{window}:{bucket}:{digest}")
            pipe.incr(key)
            pipe.expire(key, window + 1)
            keys.append((limit, window, bucket))
    counts = pipe.execute()[::2]
    out = []
    per = len(rates)
    for i in range(len(user_ids)):
        error = None
        for (limit, window, bucket), count in zip(
            keys[i * per : (i + 1) * per], counts[i * per : (i + 1) * per], strict=True
        ):
            if count > limit and error is None:
                error = RateLimited(
                    "You are sending messages too fast.",
                    retry_after=int((bucket + 1) * window - now) + 1,
                    code="rate_limited",
                )
        out.append(error)
    return out
