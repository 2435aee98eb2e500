"""Warm worker threads for Django's sync code under ASGI.

Django's ASGI handler enters a fresh `ThreadSensitiveContext` for every request, so the
first sync call of each request (the view, at least) starts a new OS thread and the end
of the request joins it: about a tenth of a cheap request's CPU. Only the outermost
context counts, so this wrapper enters one first with a single-thread executor taken from
a pool of warm ones, and puts it back afterwards. Each request still has one thread to
itself for all its sync work (what thread-sensitivity is for: the database connection
lives in that thread); the thread is simply reused by a later request.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings


class WarmRequestThreads:
    def __init__(self, app, *, size: int | None = None):
        self.app = app
        self.size = size if size is not None else settings.ASGI_WARM_THREADS
        self._free: list[ThreadPoolExecutor] = []

    def _take(self) -> ThreadPoolExecutor:
        if self._free:
            return self._free.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="plaza-request")

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._free) < self.size:
            self._free.append(executor)
        else:
            # More requests were in flight than the pool keeps: let this thread go
            # once it is idle (never block the event loop on the join).
            executor.shutdown(wait=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.size <= 0:
            return await self.app(scope, receive, send)
        executor = self._take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            # A view still running after its request was cancelled keeps the thread
            # busy; the next request on this executor simply queues behind it.
            self._give_back(executor)
