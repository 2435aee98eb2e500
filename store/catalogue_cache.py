"""The catalogue's version: every change a reader must see (publish, withdraw, price,
feature) moves it, and every cached page and ETag is keyed by it, so an old page is never
served after a change commits. Popularity moves without a new version: sorted-by-popular
pages catch up when their short cache lifetime ends (STORE_CATALOGUE_CACHE_SECONDS).
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "store:catalogue:version"


def catalogue_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, str(time.time_ns()), None)
        version = cache.get(VERSION_KEY) or str(time.time_ns())
    return version


def catalogue_changed() -> None:
    """Move the version after the current transaction commits (readers never see a
    version for a change that was rolled back)."""
    transaction.on_commit(lambda: cache.set(VERSION_KEY, str(time.time_ns()), None))
