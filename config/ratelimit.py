"""Fixed-window rate limits on the shared cache (Redis in production).

`check_rate(scope, key, "1/m,5/h")` counts one hit in every window and raises
`RateLimited` with the seconds until the tightest exhausted window reopens.
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache

from .errors import RateLimited

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rates(spec: str) -> list[tuple[int, int]]:
    rates = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        count, per = part.split("/")
        unit = per[-1]
        mult = int(per[:-1] or 1)
        rates.append((int(count), _UNITS[unit] * mult))
    return rates


def check_rate(
    scope: str, key: str, spec: str, *, message: str | None = None, code: str = "rate_limited"
) -> None:
    now = time.time()
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    for limit, window in parse_rates(spec):
        bucket = int(now // window)
        cache_key = f"rl:{scope}:{window}:{bucket}:{digest}"
        if cache.add(cache_key, 1, timeout=window + 1):
            count = 1
        else:
            try:
                count = cache.incr(cache_key)
            except ValueError:  # expired between add and incr
                cache.add(cache_key, 1, timeout=window + 1)
                count = 1
        if count > limit:
            retry_after = int((bucket + 1) * window - now) + 1
            raise RateLimited(message, retry_after=retry_after, code=code)


def reset_rate(scope: str, key: str, spec: str) -> None:
    now = time.time()
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    for _limit, window in parse_rates(spec):
        cache.delete(f"rl:{scope}:{window}:{int(now // window)}:{digest}")


def client_ip(request) -> str:
    # Behind a proxy, configure it to set X-Real-IP; never trust X-Forwarded-For blindly.
    return request.META.get("HTTP_X_REAL_IP") or request.META.get("REMOTE_ADDR") or "unknown"
