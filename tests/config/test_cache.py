"""The Redis cache shares one connection pool per process across the per-request cache
objects Django makes under ASGI (config/cache.py)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import caches
from django.utils.module_loading import import_string

from config.errors import RateLimited
from config.ratelimit import check_rate

redis_only = pytest.mark.skipif(
    "Redis" not in settings.CACHES["default"]["BACKEND"], reason="the Redis shape only"
)


@redis_only
def test_cache_objects_share_one_client_and_still_count():
    conf = settings.CACHES["default"]
    backend = import_string(conf["BACKEND"])
    params = {k: v for k, v in conf.items() if k not in ("BACKEND", "LOCATION")}
    first = backend(conf["LOCATION"], params)
    second = backend(conf["LOCATION"], params)
    assert first is not second
    assert first._cache.get_client(write=True) is second._cache.get_client(write=True)
    first.set("shared-pool-probe", 41, 30)
    assert second.get("shared-pool-probe") == 41
    assert second.incr("shared-pool-probe") == 42
    assert caches["default"].get("shared-pool-probe") == 42
    second.delete("shared-pool-probe")


def test_rate_limit_counts_across_calls():
    check_rate("cache-test", "k", "2/m")
    check_rate("cache-test", "k", "2/m")
    with pytest.raises(RateLimited):
        check_rate("cache-test", "k", "2/m")


@redis_only
async def test_health_check_leaves_no_channel_queue_behind():
    from channels.layers import get_channel_layer

    from config.health import _channel_layer_roundtrip

    layer = get_channel_layer()
    await _channel_layer_roundtrip()
    before = len(layer._state().channels)
    for _ in range(3):
        await _channel_layer_roundtrip()
    assert len(layer._state().channels) == before
