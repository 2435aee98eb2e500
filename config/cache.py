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

from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.module_loading import import_string

_lock = threading.Lock()
_clients: dict[tuple, object] = {}
_default_clients: dict[str, object] = {}


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


def default_cache_client():
    """The shared client of the default cache when it is Redis, else None — for code that
    needs raw commands (pipelines, Lua, INCR with EXPIRE) on the cache's Redis. Built from
    settings rather than through `caches[...]`, which under ASGI makes a cache object per
    context; every cache object of the process shares this same client anyway."""
    conf = settings.CACHES["default"]
    ident = repr(sorted(conf.items()))
    if ident not in _default_clients:  # settings change only in tests; remember per shape
        client = None
        if issubclass(import_string(conf["BACKEND"]), SharedPoolRedisCache):
            params = {k: v for k, v in conf.items() if k not in ("BACKEND", "LOCATION")}
            client = SharedPoolRedisCache(conf["LOCATION"], params)._cache.get_client(write=True)
        _default_clients[ident] = client
    return _default_clients[ident]
