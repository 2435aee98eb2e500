"""A lean Redis pub/sub channel layer (the `CHANNEL_LAYERS` backend with Redis).

Why not `channels_redis.pubsub.RedisPubSubChannelLayer`: it serialises every publish and
subscribe of a process behind one lock, one round trip each (a 500-member fan-out was 500
round trips in a row, and every send's publishes queued behind everyone else's), and it
subscribes every socket's own channel in Redis (a SUBSCRIBE per connection and a Redis
subscription per socket, though nothing outside the process ever writes to it).

Here, per process and event loop:
- publishes made in the same loop pass go out in ONE pipeline (`group_send` from many
  consumers, or a fan-out's 500 publishes, cost one round trip), and no lock is held;
- the process subscribes once to its own channel; a socket's channel is
  `<process channel>!<uuid>` and lives only in memory, so `send()` to it publishes to the
  owning process's channel (any process can still reach any socket);
- one SUBSCRIBE per group (`u.<user id>`) while the process has a socket in it, and one
  reader task hands incoming messages to the local sockets' queues (a group message is
  decoded once, however many local sockets are in the group).

Messages are msgpack, like channels_redis. Redis pub/sub is fire-and-forget, as there:
delivery is best effort and sync is the source of truth (docs/CHAT.md).
"""

from __future__ import annotations

import asyncio
import logging
import types
import uuid

import msgpack
from channels.layers import BaseChannelLayer
from redis import asyncio as aioredis

from config.redis_raw import RawPublisher, RawSubscriber, pack_publish

log = logging.getLogger(__name__)


def _url(host) -> str:
    return host if isinstance(host, str) else host["address"]


class _LoopState:
    """Connections and local channels of the layer on one event loop."""

    def __init__(self, layer: RedisPubSubLayer):
        self.layer = layer
        self.redis = aioredis.Redis.from_url(layer.url)
        # Publishes and subscriptions go over raw RESP connections of their own
        # (config.redis_raw: a fraction of redis-py's CPU per message); redis-py for
        # TLS/unix URLs.
        self.publisher = RawPublisher.for_url(layer.url)
        self.subscriber = RawSubscriber.for_url(layer.url, self._dispatch)
        self.sub_client = aioredis.Redis.from_url(layer.url)
        self.pubsub = self.sub_client.pubsub()
        self.process_channel = f"{layer.prefix}p.{uuid.uuid4().hex}"
        self.channels: dict[str, asyncio.Queue] = {}
        # Redis channel of a group -> local channel names in it.
        self.groups: dict[str, set[str]] = {}
        # Publishes queued in this loop pass: (channel, data) lists, each with the future
        # of the caller that queued it.
        self.outbox: list[tuple[list[tuple[str, bytes]], asyncio.Future]] = []
        self.flush_scheduled = False
        self.reader: asyncio.Task | None = None
        self.started = asyncio.Lock()

    async def start(self) -> None:
        if self.subscriber is not None:
            if self.process_channel not in self.subscriber.wanted:
                await self.subscriber.subscribe(self.process_channel)
            return
        if self.reader is not None:
            return
        async with self.started:
            if self.reader is None:
                await self.pubsub.subscribe(self.process_channel)
                self.reader = asyncio.get_running_loop().create_task(self._read())

    async def subscribe(self, name: str) -> None:
        await self.start()
        if self.subscriber is not None:
            await self.subscriber.subscribe(name)
        else:
            await self.pubsub.subscribe(name)

    async def unsubscribe(self, name: str) -> None:
        if self.subscriber is not None:
            await self.subscriber.unsubscribe(name)
        else:
            await self.pubsub.unsubscribe(name)

    # --- publishing -------------------------------------------------------------------
    def publish_many(self, items: list[tuple[str, bytes]]) -> asyncio.Future:
        """Queue PUBLISHes for this loop pass's pipeline; the future gets, per item, the
        number of processes that received it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.outbox.append((items, future))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self.flush_scheduled = False
        batch, self.outbox = self.outbox, []
        if batch:
            asyncio.get_running_loop().create_task(self._execute(batch))

    async def _execute(self, batch) -> None:
        items = [item for part, _f in batch for item in part]
        try:
            if self.publisher is not None:
                counts = await self.publisher.publish_many(
                    [pack_publish(channel, data) for channel, data in items]
                )
            else:
                pipe = self.redis.pipeline(transaction=False)
                for channel, data in items:
                    pipe.publish(channel, data)
                counts = await pipe.execute()
        except BaseException as e:
            for _p, future in batch:
                if not future.done():
                    future.set_exception(e if isinstance(e, Exception) else ConnectionError())
            if not isinstance(e, Exception):
                raise
            return
        at = 0
        for part, future in batch:
            if not future.done():
                future.set_result(counts[at : at + len(part)])
            at += len(part)

    # --- receiving --------------------------------------------------------------------
    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
                if message is not None:
                    self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                # redis-py reconnects and re-subscribes on the next read.
                log.exception("channel layer reader failed; retrying")
                await asyncio.sleep(0.5)

    def _dispatch(self, name, data: bytes) -> None:
        if isinstance(name, bytes):
            name = name.decode()
        if name == self.process_channel:
            target, message = msgpack.unpackb(data, raw=False)
            queue = self.channels.get(target)
            if queue is not None:
                queue.put_nowait(message)
            return
        members = self.groups.get(name)
        if not members:
            return
        message = msgpack.unpackb(data, raw=False)
        for channel in members:
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(message)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        if self.publisher is not None:
            await self.publisher.close()
        if self.subscriber is not None:
            await self.subscriber.close()
        for client in (self.pubsub, self.sub_client, self.redis):
            try:
                await client.aclose()
            except Exception:  # closing a broken connection: nothing left to do
                log.debug("closing a channel layer connection failed", exc_info=True)


class RedisPubSubLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(self, hosts=None, prefix: str = "asgi", **kwargs):
        super().__init__(expiry=kwargs.pop("expiry", 60), capacity=kwargs.pop("capacity", 100))
        hosts = hosts or ["redis://localhost:6379"]
        self.url = _url(hosts[0])
        self.prefix = prefix
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            for old in [lp for lp in self._states if lp.is_closed()]:
                del self._states[old]
            state = self._states[loop] = _LoopState(self)
            self._close_with(loop)
        return state

    def _close_with(self, loop: asyncio.AbstractEventLoop) -> None:
        # Close this loop's connections when the loop closes (tests make many loops).
        original = loop.close

        def close(this, *args, **kwargs):
            state = self._states.pop(loop, None)
            if state is not None and not loop.is_running():
                try:
                    loop.run_until_complete(state.close())
                except Exception:  # closing broken connections: nothing left to do
                    log.debug("closing channel layer connections failed", exc_info=True)
            this.close = original
            return original(*args, **kwargs)

        loop.close = types.MethodType(close, loop)

    def _group_channel(self, group: str) -> str:
        return f"{self.prefix}g.{group}"

    # --- the channel layer API ----------------------------------------------------------
    async def new_channel(self, prefix: str = "specific.") -> str:
        state = self._state()
        await state.start()
        name = f"{state.process_channel}!{uuid.uuid4().hex}"
        state.channels[name] = asyncio.Queue()
        return name

    async def send(self, channel: str, message: dict) -> None:
        assert "!" in channel, "only process-local channels (from new_channel) exist here"
        process = channel.split("!", 1)[0]
        await self._state().publish_many([(process, msgpack.packb([channel, message]))])

    async def receive(self, channel: str) -> dict:
        state = self._state()
        queue = state.channels.get(channel)
        if queue is None:
            queue = state.channels[channel] = asyncio.Queue()
        try:
            return await queue.get()
        except (asyncio.CancelledError, GeneratorExit):
            # channels cancels receive() when the consumer exits: forget the channel.
            state.channels.pop(channel, None)
            raise

    def discard_channel(self, channel: str) -> None:
        """Forget a process-local channel. A consumer's goes when channels cancels its
        receive(); a one-off user of new_channel (the health check) calls this."""
        self._state().channels.pop(channel, None)

    async def group_add(self, group: str, channel: str) -> None:
        state = self._state()
        name = self._group_channel(group)
        members = state.groups.get(name)
        if members is None:
            members = state.groups[name] = set()
            members.add(channel)
            await state.subscribe(name)
        else:
            members.add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        state = self._state()
        name = self._group_channel(group)
        members = state.groups.get(name)
        if not members or channel not in members:
            return
        members.discard(channel)
        if not members:
            del state.groups[name]
            await state.unsubscribe(name)

    async def group_send(self, group: str, message: dict) -> None:
        await self._state().publish_many([(self._group_channel(group), msgpack.packb(message))])

    async def group_send_many(self, sends: list[tuple[str, dict]]) -> list[int]:
        """Publish several (group, message) in one pipeline; returns, per send, how many
        processes had a socket in that group."""
        packed: dict[int, bytes] = {}  # a message sent to many groups is packed once
        items = []
        for group, message in sends:
            data = packed.get(id(message))
            if data is None:
                data = packed[id(message)] = msgpack.packb(message)
            items.append((self._group_channel(group), data))
        return await self._state().publish_many(items)

    async def flush(self) -> None:
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.close()
