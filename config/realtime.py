"""Push events to people's connected devices.

Any app may call `push_to_user(user_id, event)`; it publishes after the current
transaction commits, so a client never hears of a row that was rolled back. Every
WebSocket of a user joins the group `user_group(user_id)`; the consumer forwards
`{"type": "push", "event": {...}}` messages unchanged to the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"u.{user_id}"


def push_to_user(user_id: int, event: dict) -> None:
    push_to_users([user_id], event)


def push_to_users(
    user_ids: Iterable[int],
    event: dict,
    *,
    skip_channel: str | None = None,
    durable: bool = True,
    record_now: bool = False,
) -> None:
    """Send `event` to every device of every user, after commit. `skip_channel` names one
    socket that must not get it (the sender's own socket, which gets an ack instead).

    `durable` events are also handed to the registered sinks (chat records them in each
    person's sync stream, so `/api/v1/sync` replays them to a device that was offline);
    pass `durable=False` for ephemeral events (typing-like) or ones already recorded.

    `record_now=True` hands a durable event to the sinks at once, inside the caller's
    transaction, instead of after its commit: the record then commits (or rolls back)
    with the rows it describes, in that transaction's COMMIT rather than one of its own
    (a hot path's commit count; docs/LEDGER.md "Transfers"). A sink that fails then fails
    the caller's transaction. The publish still waits for the commit."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return
    if durable and record_now:
        for sink in list(_sinks):
            sink(ids, event)
        durable = False
    transaction.on_commit(lambda: _deliver(ids, event, skip_channel, durable))


DurableSink = Callable[[list[int], dict], None]
_sinks: list[DurableSink] = []


def add_durable_sink(sink: DurableSink) -> None:
    """Register `sink(user_ids, event)`, called after commit before the publish."""
    if sink not in _sinks:
        _sinks.append(sink)


def _deliver(ids: list[int], event: dict, skip_channel: str | None, durable: bool) -> None:
    if durable:
        for sink in list(_sinks):
            try:
                sink(ids, event)
            except Exception:  # the push still goes out; the sink logs what it lost
                log.exception("durable sink failed for %s", event.get("type"))
    if skip_channel is None:
        publish_now(ids, event)  # the plain two-argument call tests capture
    else:
        publish_now(ids, event, skip_channel=skip_channel)


def push_each_to_users(frames: Iterable[tuple[int, dict]], *, record_now: bool = False) -> None:
    """A durable event of its own to each person (`[(user_id, event), …]`, e.g. each
    one's own balances), after commit: the sinks record them together (a sink with a
    `record_each` records them in one statement) and they are published in one go, not
    one after-commit callback and one publish round per person. `record_now` as in
    `push_to_users`."""
    frames = list(frames)
    if not frames:
        return
    if record_now:
        _record_each(frames)
    durable = not record_now
    transaction.on_commit(lambda: _deliver_each(frames, durable))


def _record_each(frames: list[tuple[int, dict]]) -> None:
    for sink in list(_sinks):
        each = getattr(sink, "record_each", None)
        if each is not None:
            each(frames)
        else:
            for uid, event in frames:
                sink([uid], event)


def _deliver_each(frames: list[tuple[int, dict]], durable: bool) -> None:
    if durable:
        try:
            _record_each(frames)
        except Exception:  # the pushes still go out; the sink logs what it lost
            log.exception("durable sink failed for %d events", len(frames))
    publish_each_now(frames)


def push_many_to_users(user_ids: Iterable[int], events: list[dict]) -> None:
    """Send several events to every device of every user in ONE channel-layer message per
    user, after commit: adding 500 people to a group is 500 publishes, not 500 × 500."""
    ids = list(dict.fromkeys(user_ids))
    if not ids or not events:
        return
    batch = {"type": "batch", "events": list(events)}
    transaction.on_commit(lambda: publish_now(ids, batch))


def publish_now(user_ids: list[int], event: dict, *, skip_channel: str | None = None) -> None:
    """Publish immediately (the caller is already past commit)."""
    try:
        _run(user_ids, event, skip_channel)
    except Exception:  # delivery is best effort; sync is the source of truth
        log.exception("realtime publish failed for %d users", len(user_ids))


def publish_each_now(frames: list[tuple[int, dict]]) -> None:
    """Publish a different event to each user (campaign fan-out: one message per person),
    concurrently in one go instead of one round trip per person. Past commit, best effort."""
    if not frames:
        return
    from django.conf import settings

    if _in_event_loop() or "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        for uid, event in frames:
            publish_now([uid], event)
        return

    async def _all():
        await asyncio.gather(*(_publish([uid], event) for uid, event in frames))

    try:
        asyncio.run_coroutine_threadsafe(_all(), _background_loop()).result(timeout=30)
    except Exception:  # delivery is best effort; sync is the source of truth
        log.exception("realtime publish failed for %d users", len(frames))


async def apublish(user_ids: list[int], event: dict, *, skip_channel: str | None = None) -> None:
    await _publish(user_ids, event, skip_channel)


async def apublish_many(deliveries: list[tuple[list[int], dict, str | None]]) -> None:
    """Publish several `(user_ids, event, skip_channel)` at once (a batch of sends): on the
    Redis layer every publish of the batch goes out in one pipeline."""
    layer = get_channel_layer()
    if layer is None:
        return
    sends = []
    for user_ids, event, skip in deliveries:
        message = _message(event, skip)
        sends += [(user_group(uid), message) for uid in dict.fromkeys(user_ids)]
    await _group_send_many(layer, sends)


def encode(event: dict) -> str:
    """The WebSocket text of an event (the same bytes for every recipient)."""
    return json.dumps(event, separators=(",", ":"), default=str)


def _message(event: dict, skip_channel: str | None) -> dict:
    # Encoded to JSON once here, not once per receiving socket.
    if event.get("type") == "batch":
        message: dict = {"type": "push", "texts": [encode(e) for e in event["events"]]}
    else:
        message = {"type": "push", "text": encode(event)}
    if skip_channel:
        message["skip"] = skip_channel
    return message


async def _group_send_many(layer, sends: list[tuple[str, dict]]) -> None:
    if hasattr(layer, "group_send_many"):
        await layer.group_send_many(sends)  # one pipeline (config.channel_layer)
    else:
        await asyncio.gather(*(layer.group_send(group, message) for group, message in sends))


async def _publish(user_ids: list[int], event: dict, skip_channel: str | None = None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = _message(event, skip_channel)
    if len(user_ids) == 1:
        await layer.group_send(user_group(user_ids[0]), message)
        return
    # A 500-member group is 500 publishes in one pipeline, not 500 round trips.
    await _group_send_many(layer, [(user_group(uid), message) for uid in user_ids])


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


_bg_loop: asyncio.AbstractEventLoop | None = None
_bg_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    # A Redis channel layer binds its connections to one event loop; sync callers (Celery
    # workers, management commands) share one long-lived loop instead of a fresh loop and
    # connection per push.
    global _bg_loop
    with _bg_lock:
        if _bg_loop is None or _bg_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True, name="realtime").start()
            _bg_loop = loop
        return _bg_loop


def _run(user_ids: list[int], event: dict, skip_channel: str | None = None) -> None:
    if _in_event_loop():
        # Called from async code without an await (rare): schedule, don't block the loop.
        asyncio.get_running_loop().create_task(_publish(user_ids, event, skip_channel))
        return
    from django.conf import settings

    if "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        # The in-memory layer lives in this process; async_to_sync reuses the server's
        # loop when called from a sync view running under ASGI.
        async_to_sync(_publish)(user_ids, event, skip_channel)
        return
    future = asyncio.run_coroutine_threadsafe(
        _publish(user_ids, event, skip_channel), _background_loop()
    )
    future.result(timeout=5)
