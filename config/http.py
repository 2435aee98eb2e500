"""Django's HTTP requests under ASGI, with one thread hop per request.

Every Plaza view is synchronous (DRF, the ORM, the console's forms). Django's own
ASGIHandler serves them by running the middleware chain on the event loop and hopping to
a worker thread for the view, for each sync `request_started` / `request_finished`
receiver and for `response.close()`, and it starts a task per request to listen for a
disconnect that a sync view could not act on anyway. That machinery cost more CPU than a
cheap view: on GET /api/v1/me, 5.7 ms of CPU per request through Django's handler against
2.9 ms for the same request through its WSGI handler (docs/OPERATIONS.md, "HTTP under
ASGI").

This handler does what a WSGI server's worker does, inside one `sync_to_async` call: the
request signals, Django's middleware in its sync mode, the view, reading the body of a
streaming response, and `response.close()` (which ends the request and hands the pooled
database connection back). The event loop only receives the body and sends the answer.
Thread-sensitivity is kept: the whole request runs in one thread (config/threads.py
gives each request a warm one), so the database connection and anything thread-local
stay with it, and `async_to_sync` from a view still reaches the server's event loop.

What it gives up, on purpose:
- a streaming response is read to the end in the worker thread before it is sent, as
  Django's handler already does for a synchronous iterator (Plaza's only streaming
  responses are the statement CSV and backup files, both finite);
- a client that disconnects mid-request does not cancel the view: a sync view cannot be
  interrupted in Django's handler either, which only cancels waiting for it.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.urls import set_script_prefix


def _response_headers(response) -> list[tuple[bytes, bytes]]:
    # As Django's ASGIHandler.send_response: header case preserved, cookies appended.
    headers = []
    for header, value in response.items():
        if isinstance(header, str):
            header = header.encode("ascii")
        if isinstance(value, str):
            value = value.encode("latin1")
        headers.append((bytes(header), bytes(value)))
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    return headers


class OneHopASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        status, headers, body = await sync_to_async(self._respond, thread_sensitive=True)(
            scope, body_file
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _respond(self, scope, body_file) -> tuple[int, list, bytes]:
        """The whole request, in this (worker) thread: what a WSGI server's worker does."""
        try:
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self.get_response(request)
                response._handler_class = self.__class__
            try:
                body = b"".join(response) if response.streaming else response.content
                return response.status_code, _response_headers(response), body
            finally:
                # Fires request_finished: closes (returns to the pool) this thread's
                # database connection, before the answer is sent.
                response.close()
        finally:
            body_file.close()
