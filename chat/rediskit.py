"""One process-wide raw Redis client for chat's hot counters (presence, send limits,
typing throttle), on the same Redis, keys and value encoding as Django's cache.

Why not `django.core.cache.cache`: under ASGI, `caches` is context-local, and each
`sync_to_async` call runs in a copy of its consumer's context — so every WebSocket ended
up with its own RedisCache, connection pool and open Redis connection (500 sockets, 500+
Redis clients), and redis-py builds a new client object per cache call (~1 ms in
redis-py 8). The client is config.cache's, the one every cache object of the process
shares. Django stores integers unpickled, so INCR here and `cache.incr()` agree.
"""

from __future__ import annotations

from django.conf import settings

from config.cache import default_cache_client


def client():
    """The shared redis-py client, or None when the default cache is not Redis (the
    embedded shape's local-memory cache: callers fall back to `cache`)."""
    return default_cache_client()


def key(raw: str) -> str:
    """The cache key Django would use for `raw` (KEY_PREFIX and VERSION applied). Built
    from settings, not through `caches[...]`, which would make a cache object per context."""
    conf = settings.CACHES["default"]
    return f"{conf.get('KEY_PREFIX', '')}:{conf.get('VERSION', 1)}:{raw}"
