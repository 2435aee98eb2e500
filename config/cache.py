"""Django's Redis cache with one connection pool per process.

Under ASGI, `django.core.cache.caches` is context-local and every request runs in a
context of its own, so each request built a fresh RedisCache, a fresh connection pool and
so a fresh TCP connection to Redis (then dropped it) the first time it touched the cache:
every rate-limited call paid a connect. Here the pools (and the thread-safe redis-py
clients over them) are shared by every cache object in the process, keyed by server URL
and options, the way database connections are pooled.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_lock = threading.Lock()
_clients: dict[tuple, object] = {}


class SharedPoolRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        ident = (self._servers[index], repr(sorted(self._pool_options.items())))
        client = _clients.get(ident)
        if client is None:
            with _lock:
                client = _clients.get(ident)
                if client is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    client = self._client(connection_pool=pool)
                    _clients[ident] = client
        return client


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
