from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csrf, security

from .errors import json_error


class BodySizeLimitMiddleware:
    """Answer 413 from Content-Length before any parser reads the body.

    Sync and async capable, like every middleware in the stack: one sync-only middleware
    under ASGI costs each request extra thread hops between the event loop and a worker.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _refusal(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            size = int(length)
        except ValueError:
            return json_error(400, "bad_request", "Content-Length is not a number.")
        if size > settings.PLAZA_MAX_BODY_BYTES:
            return json_error(
                413,
                "payload_too_large",
                f"The body is larger than {settings.PLAZA_MAX_BODY_BYTES} bytes.",
            )
        return None

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self._refusal(request) or self.get_response(request)

    async def __acall__(self, request):
        return self._refusal(request) or await self.get_response(request)


# --- Django's own middleware, without the thread hops -----------------------------------
#
# Under ASGI, Django's MiddlewareMixin runs every process_request and process_response in
# a worker thread (sync_to_async), because it can't know whether they do I/O. With the
# seven middlewares below that is a dozen thread hops per request — measured at about
# 3 ms of CPU on a 7 ms GET /api/v1/me. Their hooks are pure CPU (headers, cookies, lazy
# objects) except in the cases each class names, so they run on the event loop and hop
# to a thread only when they must touch the database.


class _InlineHooks:
    """Run process_request / process_response on the event loop.

    `_response_needs_thread(request, response)` says when process_response may do I/O
    (it then runs in a worker thread, as Django would have)."""

    def _response_needs_thread(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self._response_needs_thread(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(
                    request, response
                )
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(_InlineHooks, security.SecurityMiddleware):
    pass


class CommonMiddleware(_InlineHooks, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(_InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass


class AuthenticationMiddleware(_InlineHooks, auth_middleware.AuthenticationMiddleware):
    """request.user is a lazy object: the session and user load on first use, which is in
    the view's worker thread."""


class SessionMiddleware(_InlineHooks, sessions.SessionMiddleware):
    """Creating the lazy session store is free; saving it is a database write."""

    def _response_needs_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(_InlineHooks, messages.MessageMiddleware):
    """Storing messages may read or write the session; with none added or read, update()
    does nothing."""

    def _response_needs_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(_InlineHooks, csrf.CsrfViewMiddleware):
    """With the token in a cookie every hook is pure CPU (process_view reads the form body,
    which the ASGI handler has already received). With CSRF_USE_SESSIONS the hooks read
    and write the session, so they hop to a thread as Django's own class does."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if settings.CSRF_USE_SESSIONS:
            self.__acall__ = super(_InlineHooks, self).__acall__
        elif iscoroutinefunction(get_response):
            # The handler wraps a sync process_view in sync_to_async; an async one runs
            # on the loop.
            sync_process_view = self.process_view

            async def process_view(request, callback, callback_args, callback_kwargs):
                return sync_process_view(request, callback, callback_args, callback_kwargs)

            self.process_view = process_view
