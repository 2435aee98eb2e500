"""The one error shape: {"error": {"code", "message", "fields"}}.

Services raise `DomainError` subclasses with a stable `code`; the DRF exception handler
and the WebSocket edge both render them through `error_body`. Django's own 400/403/404/500
views render the same shape for requests that never reach DRF.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response


class DomainError(Exception):
    """A business rule said no. `status` is the HTTP status the API answers with."""

    status = 422
    code = "unprocessable"
    message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict | None = None,
        status: int | None = None,
        **extra: Any,
    ):
        self.message = message or self.message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}
        self.extra = extra
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "Conflict."


class InvalidInput(DomainError):
    status = 400
    code = "invalid"
    message = "Invalid input."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; slow down."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = max(1, int(retry_after))


def _is_pool_timeout(exc: Exception) -> bool:
    from django.db import OperationalError

    cause = exc.__cause__ or exc.__context__
    return isinstance(exc, OperationalError) and type(cause).__name__ == "PoolTimeout"


def error_body(code: str, message: str, fields: dict | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    body.update(extra)
    return {"error": body}


def _flatten_detail(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _flatten_detail(v) for k, v in detail.items()}
    if isinstance(detail, list):
        flat = [_flatten_detail(v) for v in detail]
        if all(isinstance(v, str) for v in flat):
            return flat
        return flat
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return Response(
            error_body(exc.code, exc.message, exc.fields, **exc.extra),
            status=exc.status,
            headers=headers,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if _is_pool_timeout(exc):
        # Overload, not a bug: every pooled connection stayed busy past the pool timeout
        # (e.g. a crowd joining one group at once). Tell the client to retry, not a 500.
        return Response(
            error_body("server_busy", "The server is busy; retry shortly.", retry_after=1),
            status=503,
            headers={"Retry-After": "1"},
        )
    if not isinstance(exc, exceptions.APIException):
        return None
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        headers["Retry-After"] = str(max(1, wait))
        return Response(
            error_body("rate_limited", "Too many requests; slow down.", retry_after=max(1, wait)),
            status=429,
            headers=headers,
        )
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten_detail(exc.detail)
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        first = next(iter(fields.values()), ["Invalid input."])
        message = (
            first[0]
            if isinstance(first, list) and first and isinstance(first[0], str)
            else "Invalid input."
        )
        return Response(error_body("invalid", message, fields), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("malformed_request", str(exc.detail)), status=400)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return Response(
            error_body("not_authenticated", str(exc.detail)),
            status=status.HTTP_401_UNAUTHORIZED,
            headers=headers,
        )
    code_map = {
        404: "not_found",
        403: "forbidden",
        405: "method_not_allowed",
        406: "not_acceptable",
        415: "unsupported_media_type",
        413: "payload_too_large",
    }
    code = code_map.get(exc.status_code, exc.default_code)
    return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)


def json_error(status_code: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse(error_body(code, message, **extra), status=status_code)


def handler400(request, exception=None):
    return json_error(400, "bad_request", "Bad request.")


def handler403(request, exception=None):
    return json_error(403, "forbidden", "Forbidden.")


def handler404(request, exception=None):
    return json_error(404, "not_found", "Not found.")


def handler500(request):
    return json_error(500, "server_error", "Something went wrong on our side.")
