"""Who is online: a connection counter per person in the shared cache (Redis in
production), so every server process sees the same answer.

A person is online while the counter is above zero. A crashed process cannot decrement
its sockets' counts, so each counter expires PRESENCE_TTL seconds after its last change;
a live socket refreshes it (`touch`) on its pings.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

from . import rediskit

PRESENCE_TTL = 6 * 3600


def _key(user_id: int) -> str:
    return f"chat:online:{user_id}"


presence_key = _key  # the raw cache key of a person's socket counter


def connected(user_id: int) -> int:
    """A socket of `user_id` authenticated; returns the number of live sockets."""
    client = rediskit.client()
    if client is not None:  # one round trip on the shared client (chat.rediskit)
        pipe = client.pipeline(transaction=False)
        pipe.incr(rediskit.key(_key(user_id)))
        pipe.expire(rediskit.key(_key(user_id)), PRESENCE_TTL)
        return int(pipe.execute()[0])
    key = _key(user_id)
    if cache.add(key, 1, timeout=PRESENCE_TTL):
        return 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=PRESENCE_TTL)
        return 1
    cache.touch(key, PRESENCE_TTL)
    return count


def disconnected(user_id: int) -> int:
    """A socket closed; returns the number still open (0 means offline now)."""
    client = rediskit.client()
    if client is not None:
        key = rediskit.key(_key(user_id))
        count = int(client.decr(key))
        if count <= 0:  # last socket (or the counter had expired)
            client.delete(key)
            return 0
        return count
    key = _key(user_id)
    try:
        count = cache.decr(key)
    except ValueError:
        return 0
    if count <= 0:
        cache.delete(key)
        return 0
    return count


def touch(user_id: int) -> None:
    client = rediskit.client()
    if client is not None:
        client.expire(rediskit.key(_key(user_id)), PRESENCE_TTL)
        return
    cache.touch(_key(user_id), PRESENCE_TTL)


def online_users(user_ids: Iterable[int]) -> set[int]:
    ids = list(user_ids)
    if not ids:
        return set()
    client = rediskit.client()
    if client is not None:
        # One MGET on the shared client (counters are stored as plain integers).
        keys = [rediskit.key(_key(u)) for u in ids]
        return {u for u, v in zip(ids, client.mget(keys), strict=True) if v and int(v) > 0}
    found = cache.get_many([_key(u) for u in ids])
    return {u for u in ids if (found.get(_key(u)) or 0) > 0}


def is_online(user_id: int) -> bool:
    return bool(online_users([user_id]))
