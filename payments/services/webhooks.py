"""Webhooks to merchants: order.paid, order.refunded, order.closed.

Each event becomes a `WebhookDelivery` row written in the same transaction as the change
it reports; the first POST is enqueued after commit (Celery), so a merchant never hears of
a payment that rolled back. A failed POST (no answer, a timeout, anything but 2xx) is
retried with exponential backoff: the n-th retry waits `min(15 s * 2**(n-1), 4 h)` after
the previous attempt, until 24 h have passed since the event; then the delivery is
`failed` (the merchant can still re-send it, and polling the order always tells the
truth). The beat job `payments.merchant_tasks.webhooks_retry_due` picks due retries.

Requests are signed like the merchant's own API calls (X-Plaza-* headers) with the
merchant's newest active key. In production a notify_url must be https and must not
resolve to a private, loopback, link-local or otherwise non-global address (checked when
the URL is given and again, with DNS, right before every POST — and the POST connects to
the address that check approved, so a DNS answer that changes in between cannot redirect
it: no DNS rebinding).
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import InvalidInput, NotFound

from .. import webhook_http
from ..merchant_signing import signed_headers
from ..models import Merchant, Order, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 15
MAX_RETRY_SECONDS = 4 * 3600
RETRY_WINDOW = dt.timedelta(hours=24)
CLAIM_SECONDS = 60
TIMEOUT_SECONDS = 5.0


def retry_delay(failed_attempts: int) -> int:
    """Seconds to wait after the `failed_attempts`-th failure."""
    return min(FIRST_RETRY_SECONDS * 2 ** (max(failed_attempts, 1) - 1), MAX_RETRY_SECONDS)


def retry_schedule() -> list[int]:
    """Offsets (seconds after the event) of every attempt inside the 24 h window."""
    offsets, t, n = [0], 0, 1
    while True:
        t += retry_delay(n)
        if t > RETRY_WINDOW.total_seconds():
            return offsets
        offsets.append(t)
        n += 1


# --- where we may POST ------------------------------------------------------------------


def _bad_url(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_notify_url", fields={"notify_url": [message]})


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_notify_url(url: str) -> str:
    """Validate a notify_url without DNS (fast enough for order creation)."""
    if len(url) > 500:
        raise _bad_url("notify_url is longer than 500 characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise _bad_url("notify_url is not a valid URL.")
    allowed = ("https",) if settings.MERCHANT_WEBHOOK_REQUIRE_HTTPS else ("https", "http")
    if parts.scheme not in allowed:
        raise _bad_url(f"notify_url must use {' or '.join(allowed)}.")
    try:
        URLValidator(schemes=list(allowed))(url)
    except ValidationError:
        raise _bad_url("notify_url is not a valid URL.")
    if not host or parts.username or parts.password:
        raise _bad_url("notify_url needs a host and no user name or password.")
    if not settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise _bad_url("notify_url must be a public address.")
        try:
            if not _address_is_public(host):
                raise _bad_url("notify_url must be a public address.")
        except ValueError:
            pass  # a name, checked with DNS before each POST
    return url


def _public_address(url: str) -> str | None:
    """Resolve the URL's host ONCE and return the address to connect to, or None when it
    does not resolve or any answer is not public. The POST then goes to this very address
    (see _post): resolving again when connecting would let a DNS answer that changed in
    between (DNS rebinding) point a checked name at a private address."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    if not infos or not all(_address_is_public(info[4][0]) for info in infos):
        return None
    return infos[0][4][0].split("%", 1)[0]


# --- recording events -------------------------------------------------------------------


def order_event_data(order: Order) -> dict:
    from .orders import order_view

    return order_view(order)


def webhook_url(order: Order) -> str:
    """Where the order's events go ('' for nowhere): its own notify_url, else the
    merchant's."""
    return order.notify_url or order.merchant.notify_url


def webhook_payload(*, order: Order, event: str, now: dt.datetime) -> dict:
    return {
        "id": "evt_" + secrets.token_hex(12),
        "event": event,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "data": order_event_data(order),
    }


def webhook_enqueue(*, order: Order, event: str) -> WebhookDelivery | None:
    """Record `event` for the order's notify_url and POST it after commit."""
    url = webhook_url(order)
    if not url:
        return None
    now = timezone.now()
    payload = webhook_payload(order=order, event=event, now=now)
    delivery = WebhookDelivery.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        event=event,
        url=url,
        payload=payload,
        next_attempt_at=now,
    )
    send_after_commit(delivery.id)
    return delivery


def send_after_commit(delivery_id: int) -> None:
    """POST a recorded delivery once the transaction that wrote it commits."""
    transaction.on_commit(lambda: _enqueue(delivery_id))


def _enqueue(delivery_id: int) -> None:
    from ..merchant_tasks import webhook_deliver

    if settings.CELERY_TASK_ALWAYS_EAGER or settings.MERCHANT_WEBHOOK_BATCH_SECONDS <= 0:
        # Past commit nothing may fail the request: if the broker is down, the delivery
        # row is already due and the beat job's sweep sends it.
        try:
            webhook_deliver.delay(delivery_id)
        except Exception:
            log.exception("could not enqueue webhook delivery %s; the sweep will", delivery_id)
        return
    _batcher.add(delivery_id)


class _Batcher:
    """Gathers the deliveries a process commits within MERCHANT_WEBHOOK_BATCH_SECONDS
    into ONE Celery message (`payments.webhook_deliver_batch`). A Celery message costs
    ~1.5 ms of CPU to publish and ~2 ms to receive, run and acknowledge, more than the
    POST itself; at 150 payments/s a process sends ~7 deliveries per message with a 50 ms
    window, at the price of up to that much latency. Ids still waiting here when a process
    dies are not lost: their rows are pending and due, and the beat job's sweep sends them.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, delivery_id: int) -> None:
        with self.cond:
            self.ids.append(delivery_id)
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid = os.getpid()  # a forked child has the list but not the thread
                self.thread = threading.Thread(
                    target=self._run, name="webhook-batcher", daemon=True
                )
                self.thread.start()
            self.cond.notify()

    def _run(self) -> None:
        from ..merchant_tasks import webhook_deliver_batch

        while True:
            with self.cond:
                while not self.ids:
                    self.cond.wait()
            time.sleep(settings.MERCHANT_WEBHOOK_BATCH_SECONDS)
            with self.cond:
                ids, self.ids = self.ids, []
            for i in range(0, len(ids), BATCH_MAX):
                chunk = ids[i : i + BATCH_MAX]
                try:
                    webhook_deliver_batch.delay(chunk)
                except Exception:
                    log.exception("could not enqueue webhook deliveries %s; the sweep will", chunk)


BATCH_MAX = 50
# A batch's deliveries are POSTed one after another; past this many seconds in one task
# (a slow receiver) the rest go out as messages of their own, so one merchant's slow
# endpoint cannot hold other merchants' webhooks for long.
BATCH_BUDGET_SECONDS = 1.0
_batcher = _Batcher()


def webhook_attempt_batch(*, delivery_ids: list[int]) -> None:
    """`webhook_attempt` for each delivery, in order (see BATCH_BUDGET_SECONDS). On
    PostgreSQL the batch is claimed in one statement (one per delivery elsewhere); each
    attempt is still recorded as soon as its POST is answered."""
    from ..merchant_tasks import webhook_deliver

    started = time.monotonic()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        now = timezone.now()
        claimed, until = _claim_many_postgres(delivery_ids, now)
        for i, delivery in enumerate(claimed):
            if time.monotonic() - started > BATCH_BUDGET_SECONDS:
                rest = [d.id for d in claimed[i:]]
                with connection.cursor() as cursor:  # let go of them first, then hand off
                    cursor.execute(_PG_RELEASE, {"ids": rest, "until": until})
                for delivery_id in rest:
                    webhook_deliver.delay(delivery_id)
                return
            try:
                _send_claimed(delivery, now)
            except Exception:  # the others still go; this one is due again once its claim
                # lapses (CLAIM_SECONDS), and the sweep sends it
                log.exception("webhook delivery %s failed; the sweep will retry it", delivery.id)
        return
    for i, delivery_id in enumerate(delivery_ids):
        if time.monotonic() - started > BATCH_BUDGET_SECONDS:
            for rest in delivery_ids[i:]:
                webhook_deliver.delay(rest)
            return
        try:
            webhook_attempt(delivery_id=delivery_id)
        except Exception:  # one delivery's failure must not drop the others; it stays due
            log.exception("webhook delivery %s failed; the sweep will retry it", delivery_id)


def webhook_resend(*, merchant: Merchant, order_id: int, delivery_id: int) -> WebhookDelivery:
    """Send an event again (a new delivery with the same payload and event id)."""
    with transaction.atomic():
        original = (
            WebhookDelivery.objects.select_related("order")
            .filter(id=delivery_id, order_id=order_id, merchant=merchant)
            .first()
        )
        if original is None:
            raise NotFound("No such webhook delivery.")
        delivery = WebhookDelivery.objects.create(
            merchant=merchant,
            order=original.order,
            event=original.event,
            url=original.order.notify_url or merchant.notify_url or original.url,
            payload=original.payload,
            next_attempt_at=timezone.now(),
        )
        send_after_commit(delivery.id)
    return delivery


# --- sending ----------------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict, *, address: str | None = None) -> int:
    """POST `body` to `url` and return the status code; with `address`, connect to that IP
    and never resolve the name again. The name still goes in the Host header and, for
    https, in SNI and the certificate check (see payments/webhook_http.py)."""
    return webhook_http.post(url, body, headers, address=address, timeout=TIMEOUT_SECONDS)


# One statement, in autocommit, records the attempt and its outcome (PostgreSQL).
_PG_RECORD_ATTEMPT = """
WITH a AS (
    INSERT INTO payments_webhookattempt
        (delivery_id, number, started_at, duration_ms, status_code, error)
    VALUES (%(id)s, %(number)s, %(started)s, %(ms)s, %(code)s, %(error)s)
)
UPDATE payments_webhookdelivery
   SET attempts = %(number)s, claimed_until = NULL, last_status_code = %(code)s,
       last_error = %(error)s, status = %(status)s, delivered_at = %(delivered)s,
       next_attempt_at = %(next)s
 WHERE id = %(id)s
"""


def _record_attempt(delivery: WebhookDelivery, *, number, now, duration_ms, status_code, error):
    fields = {"attempts": number, "claimed_until": None, "last_status_code": status_code}
    if not error:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, last_error="")
    else:
        next_at = now + dt.timedelta(seconds=retry_delay(number))
        fields["last_error"] = error[:300]
        if next_at - delivery.created_at > RETRY_WINDOW:
            fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        else:
            fields["next_attempt_at"] = next_at
    status = fields.get("status", WebhookDelivery.Status.PENDING)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cur:
            cur.execute(
                _PG_RECORD_ATTEMPT,
                {
                    "id": delivery.id,
                    "number": number,
                    "started": now,
                    "ms": duration_ms,
                    "code": status_code,
                    "error": error[:300],
                    "status": status,
                    "delivered": fields.get("delivered_at", delivery.delivered_at),
                    "next": fields.get("next_attempt_at", delivery.next_attempt_at),
                },
            )
        return status
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery.id,
            number=number,
            started_at=now,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error[:300],
        )
        WebhookDelivery.objects.filter(id=delivery.id).update(**fields)
    return status


# PostgreSQL: claim a due delivery and read what sending it needs, in one statement.
_PG_CLAIM = """
UPDATE payments_webhookdelivery d SET claimed_until = %(until)s
  FROM payments_merchant m
 WHERE d.id = %(id)s AND m.id = d.merchant_id AND d.status = %(pending)s
   AND d.next_attempt_at <= %(now)s AND (d.claimed_until IS NULL OR d.claimed_until < %(now)s)
RETURNING d.url, d.payload::text, d.attempts, d.created_at, d.delivered_at, d.next_attempt_at,
          d.merchant_id, m.created_at
"""


_PG_CLAIM_MANY = """
UPDATE payments_webhookdelivery d SET claimed_until = %(until)s
  FROM payments_merchant m
 WHERE d.id = ANY(%(ids)s) AND m.id = d.merchant_id AND d.status = %(pending)s
   AND d.next_attempt_at <= %(now)s AND (d.claimed_until IS NULL OR d.claimed_until < %(now)s)
RETURNING d.id, d.url, d.payload::text, d.attempts, d.created_at, d.delivered_at,
          d.next_attempt_at, d.merchant_id, m.created_at
"""

_PG_RELEASE = """
UPDATE payments_webhookdelivery SET claimed_until = NULL
 WHERE id = ANY(%(ids)s) AND claimed_until = %(until)s
"""


def _claimed_from_row(delivery_id, row, until) -> WebhookDelivery:
    url, payload, attempts, created_at, delivered_at, next_at, merchant_id, made = row
    delivery = WebhookDelivery(
        id=delivery_id,
        url=url,
        payload=json.loads(payload),
        attempts=attempts,
        created_at=created_at,
        delivered_at=delivered_at,
        next_attempt_at=next_at,
        status=WebhookDelivery.Status.PENDING,
        claimed_until=until,
    )
    delivery.merchant = Merchant(id=merchant_id, created_at=made)
    return delivery


def _claim_many_postgres(
    delivery_ids: list[int], now: dt.datetime
) -> tuple[list[WebhookDelivery], dt.datetime]:
    """`_claim` for several deliveries in ONE statement; those claimed, in the given order."""
    until = now + dt.timedelta(seconds=CLAIM_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            _PG_CLAIM_MANY,
            {
                "until": until,
                "ids": list(delivery_ids),
                "pending": WebhookDelivery.Status.PENDING,
                "now": now,
            },
        )
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    order = list(dict.fromkeys(delivery_ids))
    return [_claimed_from_row(i, rows[i], until) for i in order if i in rows], until


def _claim(delivery_id: int, now: dt.datetime) -> WebhookDelivery | None:
    """Hold a due, unclaimed delivery for CLAIM_SECONDS and return it with its merchant
    (id and created_at only on PostgreSQL: all the signing key lookup needs), or None."""
    until = now + dt.timedelta(seconds=CLAIM_SECONDS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_CLAIM,
                {
                    "until": until,
                    "id": delivery_id,
                    "pending": WebhookDelivery.Status.PENDING,
                    "now": now,
                },
            )
            row = cursor.fetchone()
        return None if row is None else _claimed_from_row(delivery_id, row, until)
    claimed = (
        WebhookDelivery.objects.filter(
            id=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=until)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("merchant").get(id=delivery_id)


def webhook_attempt(*, delivery_id: int, now: dt.datetime | None = None) -> str | None:
    """POST one delivery if it is due and nobody else holds it. Returns its new status.
    Two statements around the POST on PostgreSQL: claim (and read), record."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    return _send_claimed(delivery, now)


def _send_claimed(delivery: WebhookDelivery, now: dt.datetime) -> str:
    """Sign and POST a delivery this worker holds, and record the attempt."""
    number = delivery.attempts + 1
    status_code, error = None, ""
    started = time.monotonic()
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    from .merchants import signing_key_for

    key = signing_key_for(delivery.merchant)
    address = None
    if key is None:
        error = "the merchant has no active API key to sign with"
    elif not settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE:
        address = _public_address(delivery.url)
        if address is None:
            error = "notify_url does not resolve to a public address"
    if not error:
        parts = urlsplit(delivery.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = signed_headers(key[0], key[1], "POST", path, body)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "Plaza-Webhooks/1"
        try:
            status_code = _post(delivery.url, body, headers, address=address)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (OSError, http.client.HTTPException, ValueError) as e:  # timeouts are OSErrors
            error = f"{type(e).__name__}: {e}"[:300]
    # Attempts are timed from when they were due (tests pass a clock).
    return _record_attempt(
        delivery,
        number=number,
        now=now,
        duration_ms=int((time.monotonic() - started) * 1000),
        status_code=status_code,
        error=error,
    )


def webhooks_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
