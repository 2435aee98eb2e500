from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

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
