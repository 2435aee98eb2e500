"""Two-level cache of rendered catalogue pages, keyed by the catalogue's version.

Every change a reader must see (publish, withdraw, price, feature, a new thumbnail) moves
the version after commit. A page is stored with the version it was built under:

- shared level (Redis in production): one round trip (`get_many`) fetches the current
  version and the page together; a page of another version is rebuilt;
- process level: a small dict per server process remembers pages for
  `STORE_CATALOGUE_LOCAL_SECONDS` (1 s by default), so the hottest reads cost no network
  round trip at all. Another process's change therefore shows here within that second;
  a change made by this process shows at once (its commit clears the dict).

Popularity moves without a new version: popular-sorted pages catch up when their shared
lifetime ends (`STORE_CATALOGUE_CACHE_SECONDS`, 30 s by default).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "store:catalogue:version"
LOCAL_MAX_ENTRIES = 2000

_local: dict[str, tuple[float, str, Any]] = {}
_local_lock = threading.Lock()
# Moves whenever this process clears its copies (a change committed here): the ASGI edge
# (store.edge) compares it on every request and re-reads the version when it moved.
_generation = 0


def local_generation() -> int:
    return _generation


def _new_version() -> str:
    return str(time.time_ns())


def catalogue_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, _new_version(), None)
        version = cache.get(VERSION_KEY) or _new_version()
    return version


def _bump() -> None:
    cache.set(VERSION_KEY, _new_version(), None)
    local_clear()


def catalogue_changed() -> None:
    """Move the version after the current transaction commits (readers never see a
    version for a change that was rolled back)."""
    transaction.on_commit(_bump)


def local_clear() -> None:
    global _generation
    with _local_lock:
        _local.clear()
        _generation += 1


def cached(key: str, build: Callable[[], Any]) -> tuple[str, Any]:
    """(version, value) for `key` at the current catalogue version: from this process,
    else the shared cache, else `build()` (stored in both). `build` may return None (not
    cached). The version is the one the value was built under (the edge keys on it)."""
    local_seconds = float(getattr(settings, "STORE_CATALOGUE_LOCAL_SECONDS", 1.0))
    now = time.monotonic()
    if local_seconds > 0:
        hit = _local.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY)
    if version is None:
        version = catalogue_version()
    entry = found.get(key)
    if entry is not None and entry[0] == version:
        value = entry[1]
    else:
        value = build()
        if value is None:
            return version, None
        cache.set(key, (version, value), getattr(settings, "STORE_CATALOGUE_CACHE_SECONDS", 30))
    if local_seconds > 0:
        with _local_lock:
            if len(_local) >= LOCAL_MAX_ENTRIES:
                _local.clear()
            _local[key] = (now + local_seconds, version, value)
    return version, value
