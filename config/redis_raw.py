"""PUBLISH and SUBSCRIBE on asyncio connections of our own, speaking Redis through
hiredis: the channel layer's hot path, without redis-py's asyncio client around it.

Every message a socket sends is one PUBLISH per recipient, made from the event loop.
Through a redis-py asyncio pipeline a batch cost ~130 µs of CPU plus ~30 µs per command
(pipeline and command objects, retry wrappers, reply parsing); packed by hiredis on a
connection of our own, with the replies parsed by hiredis's reader, it is ~30 µs plus
~5 µs per command (measured on the bench machine, same Redis). The protocol itself —
packing commands, parsing replies — is hiredis's (the C library redis-py also uses), not
ours: this module only owns the two connections and which reply belongs to whom.

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

import hiredis
from redis.asyncio.connection import parse_url

log = logging.getLogger(__name__)


def pack_publish(channel: str, data: bytes) -> bytes:
    return hiredis.pack_command((b"PUBLISH", channel.encode(), data))


async def _replies(stream: asyncio.StreamReader, parser: hiredis.Reader):
    """Each reply Redis sends on this connection, parsed by hiredis, as it arrives."""
    while True:
        reply = parser.gets()
        if reply is False:  # hiredis needs more bytes
            chunk = await stream.read(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            parser.feed(chunk)
            continue
        yield reply


async def _authenticate(stream, writer, parser, auth: list[str]) -> None:
    writer.write(hiredis.pack_command((b"AUTH", *(a.encode() for a in auth))))
    async for reply in _replies(stream, parser):
        if isinstance(reply, hiredis.ReplyError) or reply != b"OK":
            raise ConnectionError(f"Redis AUTH failed: {str(reply)[:100]}")
        return


class RawPublisher:
    def __init__(self, host: str, port: int, username: str | None, password: str | None):
        self.host, self.port = host, port
        self.auth = [a for a in (username, password) if a is not None]
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.parser: hiredis.Reader | None = None
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
            parser = hiredis.Reader()
            if self.auth:
                try:
                    await _authenticate(reader, writer, parser, self.auth)
                except BaseException:
                    writer.close()
                    raise
            self.parser = parser
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
            async for reply in _replies(reader, self.parser):
                future, wanted, counts = self.waiting[0]
                # An error reply counts as nobody reached.
                counts.append(reply if isinstance(reply, int) else 0)
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
    reply parsing, a logger lookup); here hiredis parses what a buffered read brings. The wanted channels are kept, so a reconnect subscribes them again
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
                parser = hiredis.Reader()
                try:
                    if self.auth:
                        await _authenticate(reader, writer, parser, self.auth)
                    if self.wanted:
                        writer.write(_command(b"SUBSCRIBE", *(c.encode() for c in self.wanted)))
                    self.writer = writer
                    self.connected.set()
                    await self._read(reader, parser)
                finally:
                    self.writer = None
                    self.connected.clear()
                    writer.close()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("channel layer subscription lost; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)

    async def _read(self, reader: asyncio.StreamReader, parser: hiredis.Reader) -> None:
        async for reply in _replies(reader, parser):
            # Pushes are [b"message", channel, data]; (un)subscribe confirmations and
            # error replies have nothing to hand over.
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                try:
                    self.on_message(reply[1], reply[2])
                except Exception:  # one bad message must not stop the reader
                    log.exception("channel layer could not dispatch a message")

    async def close(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _command(*args: bytes) -> bytes:
    return hiredis.pack_command(args)
