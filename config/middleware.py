from django.conf import settings

from .errors import json_error


class BodySizeLimitMiddleware:
    """Answer 413 from Content-Length before any parser reads the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
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
        return self.get_response(request)
