"""The per-process send batcher behind the WebSocket edge (group commit).

Every socket of the process hands its validated sends here and awaits the result; sends
that arrive while up to CHAT_SEND_BATCH_CONCURRENCY batches are being written wait and go
together in the next one (`chat.services.send_batch.send_many`: a fixed handful of round
trips per batch, whatever its size). An idle server writes a lone send at once — no timer,
no added latency; a busy one writes bigger batches instead of queueing single sends on
threads and connections. Each socket awaits its own send before reading its next frame
(as before), so one device's messages keep their order.

After a batch commits, its `message.new` frames go out in one publish call for the whole
batch (`config.realtime.apublish_many`), then the senders get their acks.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from config.realtime import apublish_many

from .services.send_batch import Outgoing, send_many

log = logging.getLogger(__name__)


class SendBatcher:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: list[tuple[Outgoing, asyncio.Future]] = []
        self.inflight = 0
        self.scheduled = False

    async def send(self, item: Outgoing) -> Outgoing:
        """Store `item`; returns it with `message` set, or `error` set, or neither (the
        caller then sends it the one-message way)."""
        future = self.loop.create_future()
        self.pending.append((item, future))
        if not self.scheduled:
            # Start on the next loop pass: frames read in this pass join the same batch.
            self.scheduled = True
            self.loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        self.scheduled = False
        limit = settings.CHAT_SEND_BATCH_MAX
        while self.pending and self.inflight < settings.CHAT_SEND_BATCH_CONCURRENCY:
            batch, self.pending = self.pending[:limit], self.pending[limit:]
            self.inflight += 1
            self.loop.create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Outgoing, asyncio.Future]]) -> None:
        from .consumers import db

        try:
            items = [item for item, _f in batch]
            try:
                await db(send_many)(items)
            except Exception:  # e.g. Redis or the database is down: one by one instead
                log.exception("batched send failed; sending one by one")
                for item in items:
                    item.message = item.error = None
            deliveries = [
                (item.recipients, item.frame, item.skip_channel)
                for item in items
                if item.message is not None
            ]
            if deliveries:
                try:
                    await apublish_many(deliveries)
                except Exception:  # best effort, like every push: sync is the source of truth
                    log.exception("publishing a batch of message.new failed")
            for item, future in batch:
                if not future.done():
                    future.set_result(item)
        except BaseException as e:
            for _item, future in batch:
                if not future.done():
                    future.set_exception(e)
            raise
        finally:
            self.inflight -= 1
            if self.pending and not self.scheduled:
                self.scheduled = True
                self.loop.call_soon(self._start)


_batchers: dict[asyncio.AbstractEventLoop, SendBatcher] = {}


def batcher() -> SendBatcher:
    loop = asyncio.get_running_loop()
    b = _batchers.get(loop)
    if b is None:
        for old in [lp for lp in _batchers if lp.is_closed()]:
            del _batchers[old]
        b = _batchers[loop] = SendBatcher(loop)
    return b
