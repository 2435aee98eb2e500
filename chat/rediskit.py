"""One process-wide raw Redis client for chat's hot counters (presence, send limits,
typing throttle), on the same Redis, keys and value encoding as Django's cache.

Why not `django.core.cache.cache`: under ASGI, `caches` is context-local, and each
`sync_to_async` call runs in a copy of its consumer's context — so every WebSocket ended
up with its own RedisCache, connection pool and open Redis connection (500 sockets, 500+
Redis clients), and redis-py builds a new client object per cache call (~1 ms in
redis-py 8). Django stores integers unpickled, so INCR here and `cache.incr()` agree.
"""

from __future__ import annotations

import threading

from django.conf import settings

_lock = threading.Lock()
_client = None
_location = None


def client():
    """The shared redis-py client, or None when the default cache is not Redis (the
    embedded shape's local-memory cache: callers fall back to `cache`)."""
    global _client, _location
    conf = settings.CACHES["default"]
    if conf["BACKEND"] not in (
        "django.core.cache.backends.redis.RedisCache",
        "config.cache.SharedPoolRedisCache",
    ):
        return None
    location = conf["LOCATION"]
    if _client is None or _location != location:
        import redis

        with _lock:
            if _client is None or _location != location:
                url = location[0] if isinstance(location, list | tuple) else location
                _client = redis.Redis.from_url(url.split(",")[0])
                _location = location
    return _client


def key(raw: str) -> str:
    """The cache key Django would use for `raw` (KEY_PREFIX and VERSION applied). Built
    from settings, not through `caches[...]`, which would make a cache object per context."""
    conf = settings.CACHES["default"]
    return f"{conf.get('KEY_PREFIX', '')}:{conf.get('VERSION', 1)}:{raw}"
