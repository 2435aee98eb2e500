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
the URL is given and again, with DNS, right before every POST).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import InvalidInput, NotFound

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


def _resolved_addresses_are_public(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(_address_is_public(info[4][0]) for info in infos)


# --- recording events -------------------------------------------------------------------


def order_event_data(order: Order) -> dict:
    from .orders import order_view

    return order_view(order)


def webhook_enqueue(*, order: Order, event: str) -> WebhookDelivery | None:
    """Record `event` for the order's notify_url and POST it after commit."""
    url = order.notify_url or order.merchant.notify_url
    if not url:
        return None
    now = timezone.now()
    payload = {
        "id": "evt_" + secrets.token_hex(12),
        "event": event,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "data": order_event_data(order),
    }
    delivery = WebhookDelivery.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        event=event,
        url=url,
        payload=payload,
        next_attempt_at=now,
    )
    _send_after_commit(delivery.id)
    return delivery


def _send_after_commit(delivery_id: int) -> None:
    from ..merchant_tasks import webhook_deliver

    def send() -> None:
        # Past commit nothing may fail the request: if the broker is down, the delivery
        # row is already due and the beat job's sweep sends it.
        try:
            webhook_deliver.delay(delivery_id)
        except Exception:
            log.exception("could not enqueue webhook delivery %s; the sweep will", delivery_id)

    transaction.on_commit(send)


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
        _send_after_commit(delivery.id)
    return delivery


# --- sending ----------------------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    # One keep-alive client per process (httpx clients are thread-safe): building one
    # loads the CA bundle (~0.2 s), which must not happen per webhook.
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    timeout=TIMEOUT_SECONDS,
                    follow_redirects=False,
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
                )
    return _client


def webhook_attempt(*, delivery_id: int, now: dt.datetime | None = None) -> str | None:
    """POST one delivery if it is due and nobody else holds it. Returns its new status."""
    now = now or timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(
            id=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("merchant").get(id=delivery_id)
    number = delivery.attempts + 1
    status_code, error = None, ""
    started = time.monotonic()
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    from .merchants import signing_key_for

    key = signing_key_for(delivery.merchant)
    if key is None:
        error = "the merchant has no active API key to sign with"
    elif not settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE and not _resolved_addresses_are_public(
        delivery.url
    ):
        error = "notify_url does not resolve to a public address"
    else:
        parts = urlsplit(delivery.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = signed_headers(key[0], key[1], "POST", path, body)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "Plaza-Webhooks/1"
        try:
            response = _http().post(delivery.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as e:  # InvalidURL is no HTTPError
            error = f"{type(e).__name__}: {e}"[:300]
    duration_ms = int((time.monotonic() - started) * 1000)
    finished = now  # attempts are timed from when they were due (tests pass a clock)
    fields = {"attempts": number, "claimed_until": None, "last_status_code": status_code}
    if not error:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=finished, last_error="")
    else:
        next_at = finished + dt.timedelta(seconds=retry_delay(number))
        fields["last_error"] = error[:300]
        if next_at - delivery.created_at > RETRY_WINDOW:
            fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        else:
            fields["next_attempt_at"] = next_at
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery_id,
            number=number,
            started_at=now,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error[:300],
        )
        WebhookDelivery.objects.filter(id=delivery_id).update(**fields)
    return fields.get("status", WebhookDelivery.Status.PENDING)


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
