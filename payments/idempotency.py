"""Idempotency-Key for every money-moving POST, with Stripe's semantics.

    from payments.idempotency import idempotent

    class TransferCreateView(APIView):
        @extend_schema(parameters=[IDEMPOTENCY_KEY_HEADER], ...)
        @idempotent
        def post(self, request): ...

- The client sends `Idempotency-Key: <up to 255 printable chars>` (optional unless the
  view says `@idempotent(required=True)`).
- The first response (2xx, and 4xx business answers such as 422 `insufficient_funds` or
  404) is stored for (user, key) for 24 h, in the SAME database transaction as the view's
  own writes: the money moves and the answer is recorded together or not at all.
- A retry with the same key and the same request (method, path, body) replays the stored
  response (with `Idempotent-Replayed: true`); with another request it is 409
  `idempotency_key_reused`. While the first request is still running a duplicate gets
  409 `idempotency_request_in_progress` (a short cache lock); if that lock is ever lost,
  the unique (user, key) row still lets only one of them commit and the other replays.
- Validation errors (400), conflicts (409), rate limits (429) and server errors are not
  stored, so the client may fix the request and retry with the same key.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import random
import time

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from config.errors import Conflict, DomainError, InvalidInput, api_exception_handler

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
TTL = dt.timedelta(hours=24)
STORED_STATUSES = frozenset({402, 403, 404, 410, 422})
LOCK_SECONDS = 60

IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Makes this POST safe to retry: the first answer is replayed for 24 h.",
)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with different parameters."


class IdempotencyInProgress(Conflict):
    code = "idempotency_request_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


def _fingerprint(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    except Exception:  # unparsable bodies are fingerprinted raw
        body = request.body.decode("utf-8", "replace") if hasattr(request, "body") else ""
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_key(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 255 or not raw.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be at most 255 printable characters.",
            code="invalid_idempotency_key",
        )
    return raw


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _existing(user, key: str, fingerprint: str) -> Response | None:
    # Whether a record exists, in plain SQL: every keyed money POST asks, almost always
    # to hear "no", and building the query (or a raw() model) cost more CPU than the
    # round trip (docs/LEDGER.md, "Transfers"). A replay reads the record through the ORM.
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT 1 FROM payments_idempotencyrecord WHERE user_id = %s AND "key" = %s',
            [user.pk, key],
        )
        if cursor.fetchone() is None:
            return None
    record = IdempotencyRecord.objects.filter(user_id=user.pk, key=key).first()
    if record is None:  # purged in between
        return None
    if record.created_at < timezone.now() - TTL:
        record.delete()
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return _replay(record)


def _should_store(status: int) -> bool:
    return 200 <= status < 300 or status in STORED_STATUSES


def idempotent(view_method=None, *, required: bool = False):
    """Decorate an APIView's `post` (or any handler) to honour `Idempotency-Key`."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, *args, **kwargs):
            key = _clean_key(request.headers.get(HEADER))
            if key is None:
                if required:
                    raise InvalidInput(
                        "This request needs an Idempotency-Key header.",
                        code="idempotency_key_required",
                    )
                return method(self, request, *args, **kwargs)
            user = request.user
            fingerprint = _fingerprint(request)
            replay = _existing(user, key, fingerprint)
            if replay is not None:
                return replay
            lock = f"idem:{user.pk}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
            if not cache.add(lock, 1, timeout=LOCK_SECONDS):
                raise IdempotencyInProgress()
            try:
                return _run_and_store(method, self, request, args, kwargs, user, key, fingerprint)
            finally:
                cache.delete(lock)

        return wrapper

    return decorate(view_method) if view_method is not None else decorate


def _run_and_store(method, view, request, args, kwargs, user, key, fingerprint):
    # This is the outermost transaction of the request, so it is where a deadlock or
    # serialization failure can be retried (the services' own retry cannot, nested).
    from .ledger import _is_retryable

    for attempt in range(5):
        try:
            return _attempt(method, view, request, args, kwargs, user, key, fingerprint)
        except OperationalError as exc:
            if (
                attempt == 4
                or not _is_retryable(exc)
                or transaction.get_connection().in_atomic_block
            ):
                raise
            time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


# The stored answer's INSERT up to its values, for `_store` and for a use case that stores
# the answer in its own statement (`pending`).
RECORD_INSERT = (
    "INSERT INTO payments_idempotencyrecord "
    '(user_id, "key", fingerprint, response_status, response_body, created_at)'
)


@dataclasses.dataclass
class Pending:
    """The Idempotency-Key of the request being handled, whose answer is not stored yet
    (see `pending`). `stored_status` is set by whoever stored it."""

    user_id: int
    key: str
    fingerprint: str
    stored_status: int | None = None

    def stored(self, status: int) -> None:
        self.stored_status = status


_pending: contextvars.ContextVar[Pending | None] = contextvars.ContextVar(
    "idempotency_pending", default=None
)


def pending() -> Pending | None:
    """The current request's Idempotency-Key while its view runs, or None (no key). A use
    case that writes all its rows in ONE statement may store the answer in that same
    statement (`RECORD_INSERT … SELECT` with `user_id`, `key`, `fingerprint`, then
    `stored(status)` once it is in): a round trip fewer on a hot path. The decorator then
    does not store it again, and refuses (rolls back) a response whose status is not the
    one stored."""
    return _pending.get()


def _attempt(method, view, request, args, kwargs, user, key, fingerprint):
    try:
        with transaction.atomic():
            marker = Pending(user.pk, key, fingerprint)
            token = _pending.set(marker)
            try:
                response = method(view, request, *args, **kwargs)
            except DomainError as exc:
                if not _should_store(exc.status):
                    raise
                response = api_exception_handler(exc, {"view": view, "request": request})
            finally:
                _pending.reset(token)
            if marker.stored_status is not None:
                # The view's statement stored the answer with the money it describes.
                if marker.stored_status != response.status_code:
                    raise AssertionError(
                        f"stored answer {marker.stored_status}, responded {response.status_code}"
                    )
            elif _should_store(response.status_code):
                # Inserted in the view's transaction: the stored answer commits with the
                # money it describes, or neither does.
                _store(user, key, fingerprint, response)
    except IntegrityError:
        # A concurrent duplicate committed first (the cache lock was lost): our work
        # rolled back with this transaction; answer what the first one answered.
        replay = _existing(user, key, fingerprint)
        if replay is None:
            raise
        return replay
    return response


def _store(user, key: str, fingerprint: str, response) -> None:
    # One INSERT in SQL: this is on every keyed money POST, and the ORM's create cost
    # more than the round trip (docs/LEDGER.md, "Transfers"). A concurrent duplicate's
    # committed row makes it raise IntegrityError, as create() did.
    body = getattr(response, "data", None)
    jsonb = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cur:
        cur.execute(
            f"{RECORD_INSERT} VALUES (%s, %s, %s, %s, %s{jsonb}, %s)",  # noqa: S608 (constant text)
            [
                user.pk,
                key,
                fingerprint,
                response.status_code,
                None if body is None else json.dumps(body, cls=DjangoJSONEncoder),
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )


def idempotency_purge(*, older_than: dt.timedelta = TTL) -> int:
    """Forget stored answers past their 24 h (a beat job calls this)."""
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - older_than
    ).delete()
    return deleted
