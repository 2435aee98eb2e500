"""PUBLISH and SUBSCRIBE over raw Redis connections: the channel layer's hot path,
without redis-py.

Every message a socket sends is one PUBLISH per recipient, made from the event loop.
Through a redis-py asyncio pipeline a batch cost ~130 µs of CPU plus ~30 µs per command
(pipeline and command objects, retry wrappers, the pure-Python reply parser); written as
RESP bytes on a connection of our own, and the integer replies read back as lines, it is
~30 µs plus ~5 µs per command (measured on the bench machine, same Redis).

Only PUBLISH and (UN)SUBSCRIBE go here (pub/sub ignores the database number, so no
SELECT), on plain TCP with an optional AUTH; `for_url` returns None for anything else
(TLS, unix sockets), and the layer keeps redis-py for those. Replies come back in the order commands
were written, so concurrent batches share the connection: each waits for its own count of
replies in a FIFO. A broken connection fails the batches waiting on it (publishing is best
effort, like every push; sync is the source of truth) and the next batch reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from redis.asyncio.connection import parse_url

log = logging.getLogger(__name__)


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack_publish(channel: str, data: bytes) -> bytes:
    return b"*3\r\n$7\r\nPUBLISH\r\n" + _bulk(channel.encode()) + _bulk(data)


class RawPublisher:
    def __init__(self, host: str, port: int, username: str | None, password: str | None):
        self.host, self.port = host, port
        self.auth = [a for a in (username, password) if a is not None]
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connecting: asyncio.Lock | None = None
        # (future, number of replies it waits for, the replies so far), in the order their
        # commands went out.
        self.waiting: collections.deque[tuple[asyncio.Future, int, list[int]]] = collections.deque()
        self.reading: asyncio.Task | None = None

    @classmethod
    def for_url(cls, url: str) -> RawPublisher | None:
        opts = parse_url(url)
        if "connection_class" in opts or "host" not in opts:
            return None  # TLS or a unix socket: redis-py handles those
        return cls(opts["host"], opts.get("port", 6379), opts.get("username"), opts.get("password"))

    async def _connect(self) -> None:
        if self.connecting is None:
            self.connecting = asyncio.Lock()
        async with self.connecting:
            if self.writer is not None:
                return
            reader, writer = await asyncio.open_connection(self.host, self.port)
            if self.auth:
                writer.write(
                    b"*%d\r\n$4\r\nAUTH\r\n" % (len(self.auth) + 1)
                    + b"".join(_bulk(a.encode()) for a in self.auth)
                )
                reply = await reader.readline()
                if not reply.startswith(b"+"):
                    writer.close()
                    raise ConnectionError(f"Redis AUTH failed: {reply[:100]!r}")
            self.reader, self.writer = reader, writer
            self.reading = asyncio.get_running_loop().create_task(self._read())

    async def publish_many(self, commands: list[bytes]) -> list[int]:
        """Write packed PUBLISH commands at once; returns each one's receiver count."""
        if self.writer is None:
            await self._connect()
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((future, len(commands), []))
        self.writer.write(b"".join(commands))
        return await future

    async def _read(self) -> None:
        reader = self.reader
        try:
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError("Redis closed the publishing connection")
                future, wanted, counts = self.waiting[0]
                # An error reply (-ERR …) counts as nobody reached.
                counts.append(int(line[1:]) if line[:1] == b":" else 0)
                if len(counts) == wanted:
                    self.waiting.popleft()
                    if not future.done():
                        future.set_result(counts)
        except asyncio.CancelledError:
            self._fail(ConnectionError("publisher closed"))
            raise
        except Exception as e:  # the connection broke: fail the waiters, reconnect later
            self._fail(e if isinstance(e, ConnectionError) else ConnectionError(str(e)))

    def _fail(self, error: Exception) -> None:
        writer, self.writer, self.reader, self.reading = self.writer, None, None, None
        if writer is not None:
            writer.close()
        while self.waiting:
            future, _n, _c = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        task = self.reading
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail(ConnectionError("publisher closed"))


class RawSubscriber:
    """SUBSCRIBE on one raw connection, handing each message to `on_message(channel,
    data)` as it is read. redis-py's asyncio PubSub cost ~45% of a receiving server's
    event-loop CPU in the 1:1 bench (per message: get_message, the retry wrapper, the
    pure-Python RESP3 parser, a logger lookup); reading the RESP2 frames here is a few
    buffered reads. The wanted channels are kept, so a reconnect subscribes them again
    (messages published while disconnected are lost, as with any pub/sub: sync covers it).
    """

    def __init__(self, host: str, port: int, auth: list[str], on_message):
        self.host, self.port, self.auth = host, port, auth
        self.on_message = on_message
        self.wanted: set[str] = set()
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    @classmethod
    def for_url(cls, url: str, on_message) -> RawSubscriber | None:
        publisher = RawPublisher.for_url(url)
        if publisher is None:
            return None
        return cls(publisher.host, publisher.port, publisher.auth, on_message)

    async def subscribe(self, channel: str) -> None:
        self.wanted.add(channel)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        # Like redis-py's subscribe: the command is written, not confirmed. Redis being
        # unreachable fails the caller (a socket's login) instead of hanging it.
        await asyncio.wait_for(self.connected.wait(), 10)
        if self.writer is not None:  # else the reconnect subscribes everything wanted
            self.writer.write(_command(b"SUBSCRIBE", channel.encode()))

    async def unsubscribe(self, channel: str) -> None:
        self.wanted.discard(channel)
        if self.writer is not None:
            self.writer.write(_command(b"UNSUBSCRIBE", channel.encode()))

    async def _run(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    if self.auth:
                        writer.write(_command(b"AUTH", *(a.encode() for a in self.auth)))
                        reply = await reader.readline()
                        if not reply.startswith(b"+"):
                            raise ConnectionError(f"Redis AUTH failed: {reply[:100]!r}")
                    if self.wanted:
                        writer.write(_command(b"SUBSCRIBE", *(c.encode() for c in self.wanted)))
                    self.writer = writer
                    self.connected.set()
                    await self._read(reader)
                finally:
                    self.writer = None
                    self.connected.clear()
                    writer.close()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("channel layer subscription lost; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            head = await reader.readline()
            if not head:
                raise ConnectionError("Redis closed the subscription connection")
            if head[:1] != b"*":
                continue  # not a push (e.g. an error reply): nothing to hand over
            parts: list = []
            for _ in range(int(head[1:])):
                line = await reader.readline()
                if line[:1] == b"$":
                    parts.append((await reader.readexactly(int(line[1:]) + 2))[:-2])
                else:  # ":<count>" of a subscribe/unsubscribe confirmation
                    parts.append(line)
            if len(parts) == 3 and parts[0] == b"message":
                try:
                    self.on_message(parts[1], parts[2])
                except Exception:  # one bad message must not stop the reader
                    log.exception("channel layer could not dispatch a message")

    async def close(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)
