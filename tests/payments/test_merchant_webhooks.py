"""Webhooks: signed POSTs to a real local receiver, retries with backoff, the delivery log,
re-send, and the SSRF guard."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from payments.models import WebhookDelivery
from payments.services import webhooks
from payments.services.orders import order_close

from .merchant_kit import Receiver, SignedClient, create_order, make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_retry_schedule_is_exponential_and_spans_24_hours():
    assert [webhooks.retry_delay(n) for n in range(1, 6)] == [15, 30, 60, 120, 240]
    assert webhooks.retry_delay(20) == 4 * 3600
    offsets = webhooks.retry_schedule()
    assert offsets[:4] == [0, 15, 45, 105]
    assert offsets[-1] <= 24 * 3600 < offsets[-1] + 4 * 3600
    assert len(offsets) == 15  # the first POST and 14 retries


def test_close_sends_a_signed_order_closed_webhook(receiver):
    merchant, key = make_merchant()
    client = SignedClient(key)
    order_id = create_order(client, notify_url=receiver.url).json()["order_id"]
    client.post(f"/api/merchant/v1/orders/{order_id}/close")
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/plaza/notify?m=7"
    assert receiver.verify(request, key.secret)
    event = json.loads(request["body"])
    assert event["event"] == "order.closed" and event["id"].startswith("evt_")
    assert event["data"]["order_id"] == order_id and event["data"]["status"] == "closed"
    log = client.get(f"/api/merchant/v1/orders/{order_id}/webhooks").json()["results"]
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 1
    assert log[0]["log"][0]["status_code"] == 200


def test_merchant_default_notify_url_is_used(receiver):
    merchant, key = make_merchant(notify_url=receiver.url)
    client = SignedClient(key)
    order_id = create_order(client).json()["order_id"]
    client.post(f"/api/merchant/v1/orders/{order_id}/close")
    assert [e["event"] for e in receiver.events()] == ["order.closed"]


def test_failures_are_retried_with_backoff_then_given_up_after_24h(receiver):
    receiver.status = 500
    merchant, key = make_merchant(notify_url=receiver.url)
    client = SignedClient(key)
    order_id = create_order(client).json()["order_id"]
    order_close(merchant=merchant, order_id=order_id)
    delivery = WebhookDelivery.objects.get(order_id=order_id)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500
    first_retry = delivery.next_attempt_at
    assert 14 <= (first_retry - delivery.created_at).total_seconds() <= 16
    # Not due yet: nothing happens.
    assert webhooks.webhooks_due(now=first_retry - dt.timedelta(seconds=1)) == []
    # Walk the clock through the whole schedule.
    clock = first_retry
    for _ in range(40):
        due = webhooks.webhooks_due(now=clock)
        if not due:
            break
        webhooks.webhook_attempt(delivery_id=due[0], now=clock)
        delivery.refresh_from_db()
        if delivery.status != "pending":
            break
        clock = delivery.next_attempt_at
    assert delivery.status == "failed"
    assert delivery.attempts == len(webhooks.retry_schedule())
    assert len(receiver.requests) == delivery.attempts
    # The merchant reads every attempt, and can send it again once it is fixed.
    log = client.get(f"/api/merchant/v1/orders/{order_id}/webhooks").json()["results"]
    assert len(log[0]["log"]) == delivery.attempts and log[0]["status"] == "failed"
    receiver.status = 204
    r = client.post(f"/api/merchant/v1/orders/{order_id}/webhooks/{delivery.id}/resend")
    assert r.status_code == 202 and r.json()["status"] == "delivered"
    assert receiver.events()[-1]["id"] == receiver.events()[0]["id"]  # same event id


def test_a_retry_that_succeeds_stops_the_schedule(receiver):
    receiver.status = 503
    merchant, key = make_merchant(notify_url=receiver.url)
    order_id = create_order(SignedClient(key)).json()["order_id"]
    order_close(merchant=merchant, order_id=order_id)
    delivery = WebhookDelivery.objects.get(order_id=order_id)
    receiver.status = 200
    assert webhooks.webhook_attempt(delivery_id=delivery.id, now=delivery.next_attempt_at) == (
        "delivered"
    )
    assert webhooks.webhooks_due(now=timezone.now() + dt.timedelta(days=2)) == []


def test_an_unreachable_receiver_is_logged_not_raised():
    merchant, key = make_merchant(notify_url="http://127.0.0.1:9/nothing-listens")
    order_id = create_order(SignedClient(key)).json()["order_id"]
    order_close(merchant=merchant, order_id=order_id)
    delivery = WebhookDelivery.objects.get(order_id=order_id)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "ConnectError" in delivery.last_error


def test_resend_of_someone_elses_delivery_is_404(receiver):
    merchant, key = make_merchant(notify_url=receiver.url)
    order_id = create_order(SignedClient(key)).json()["order_id"]
    order_close(merchant=merchant, order_id=order_id)
    delivery = WebhookDelivery.objects.get(order_id=order_id)
    _other, other_key = make_merchant(name="Other")
    r = SignedClient(other_key).post(
        f"/api/merchant/v1/orders/{order_id}/webhooks/{delivery.id}/resend"
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # not https
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
    ],
)
def test_production_refuses_private_and_plain_http_notify_urls(settings, url):
    settings.MERCHANT_WEBHOOK_REQUIRE_HTTPS = True
    settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE = False
    _m, key = make_merchant()
    r = create_order(SignedClient(key), notify_url=url)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_notify_url"


@pytest.mark.parametrize("url", ["https://localhost/hook", "https://127.0.0.1:8443/hook"])
def test_production_checks_dns_before_each_post(settings, url):
    # The URL got in while private targets were allowed (or its DNS changed since):
    # the check before the POST resolves the name and refuses a loopback answer.
    settings.MERCHANT_WEBHOOK_REQUIRE_HTTPS = True
    settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE = True
    merchant, key = make_merchant()
    r = create_order(SignedClient(key), notify_url=url)
    assert r.status_code == 201, r.content
    order_id = r.json()["order_id"]
    settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE = False
    order_close(merchant=merchant, order_id=order_id)
    delivery = WebhookDelivery.objects.get(order_id=order_id)
    assert delivery.attempts == 1 and delivery.last_status_code is None
    assert "public address" in delivery.last_error


def test_public_https_urls_are_accepted(settings):
    settings.MERCHANT_WEBHOOK_REQUIRE_HTTPS = True
    settings.MERCHANT_WEBHOOK_ALLOW_PRIVATE = False
    _m, key = make_merchant()
    r = create_order(SignedClient(key), notify_url="https://hooks.example.com/plaza")
    assert r.status_code == 201


def test_the_post_goes_to_the_checked_address_not_a_second_lookup(receiver):
    """DNS rebinding: the name is resolved once, checked, and the POST connects to that
    very address. `hooks.rebind.test` resolves nowhere, so the request can only reach
    the receiver through the pinned address; the name still travels in the Host header
    (and, for https, in SNI and the certificate check)."""
    port = receiver.server.server_address[1]
    url = f"http://hooks.rebind.test:{port}/plaza/notify?m=7"
    assert webhooks._post(
        url, b"{}", {"Content-Type": "application/json"}, address="127.0.0.1"
    ) == (200)
    (got,) = receiver.requests
    assert got["path"] == "/plaza/notify?m=7"
    assert {k.lower(): v for k, v in got["headers"].items()}["host"] == f"hooks.rebind.test:{port}"


def test_a_name_with_any_private_answer_is_refused(monkeypatch):
    import socket

    calls = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert webhooks._public_address("https://mixed.example/hook") is None
    assert calls == ["mixed.example"]


def _closed_orders_pending_webhooks(merchant, client, n: int) -> list[int]:
    """`n` orders with an order.closed delivery recorded, due and not yet sent (the rows
    webhook_enqueue writes, without its after-commit send)."""
    from payments.models import Order

    ids = [create_order(client, out_trade_no=f"B-{i}").json()["order_id"] for i in range(n)]
    now = timezone.now()
    return [
        WebhookDelivery.objects.create(
            merchant=merchant,
            order=order,
            event="order.closed",
            url=webhooks.webhook_url(order),
            payload=webhooks.webhook_payload(order=order, event="order.closed", now=now),
            next_attempt_at=now,
        ).id
        for order in Order.objects.select_related("merchant").filter(id__in=ids).order_by("id")
    ]


def test_a_batch_task_sends_each_of_its_deliveries(receiver):
    """What a server process's batch of committed webhooks becomes in the worker: each
    delivery claimed, signed, POSTed and logged on its own."""
    merchant, key = make_merchant(notify_url=receiver.url)
    ids = _closed_orders_pending_webhooks(merchant, SignedClient(key), 3)
    webhooks.webhook_attempt_batch(delivery_ids=ids)
    assert len(receiver.requests) == 3
    assert all(receiver.verify(r, key.secret) for r in receiver.requests)
    assert set(WebhookDelivery.objects.filter(id__in=ids).values_list("status", flat=True)) == {
        "delivered"
    }
    webhooks.webhook_attempt_batch(delivery_ids=ids)  # sent already: nothing again
    assert len(receiver.requests) == 3


def test_a_batch_past_its_time_budget_hands_the_rest_to_tasks_of_their_own(receiver, monkeypatch):
    merchant, key = make_merchant(notify_url=receiver.url)
    ids = _closed_orders_pending_webhooks(merchant, SignedClient(key), 3)
    monkeypatch.setattr(webhooks, "BATCH_BUDGET_SECONDS", -1.0)  # a slow receiver, say
    webhooks.webhook_attempt_batch(delivery_ids=ids)  # eager: those tasks run inline
    assert len(receiver.requests) == 3
    assert WebhookDelivery.objects.filter(id__in=ids, status="delivered").count() == 3


def test_the_sweep_sends_due_deliveries_in_batches(receiver):
    from payments.merchant_tasks import webhooks_retry_due

    merchant, key = make_merchant(notify_url=receiver.url)
    ids = _closed_orders_pending_webhooks(merchant, SignedClient(key), 2)
    assert webhooks_retry_due() == 2
    assert WebhookDelivery.objects.filter(id__in=ids, status="delivered").count() == 2


def _self_signed(name: str) -> tuple[bytes, bytes]:
    """A certificate for `name` (its own CA) and its key, PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.mark.parametrize("served_name", ["hooks.rebind.test", "someone-else.test"])
def test_a_pinned_https_post_checks_the_certificate_against_the_name(
    receiver, served_name, tmp_path, monkeypatch
):
    """Pinned to 127.0.0.1, the TLS handshake still sends the URL's name (SNI) and checks
    the certificate against it: a certificate for another name is refused."""
    import ssl

    from payments import webhook_http

    cert, key = _self_signed(served_name)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    receiver.server.socket = server_side.wrap_socket(receiver.server.socket, server_side=True)
    # Trust this test certificate (and nothing else) as the sender's CA store.
    monkeypatch.setattr(
        webhook_http, "_ssl_context", ssl.create_default_context(cadata=cert.decode())
    )
    port = receiver.server.server_address[1]
    url = f"https://hooks.rebind.test:{port}/plaza/notify"
    if served_name == "hooks.rebind.test":
        assert webhooks._post(url, b"{}", {}, address="127.0.0.1") == 200
        assert receiver.requests[0]["headers"]["Host"] == f"hooks.rebind.test:{port}"
    else:
        with pytest.raises(webhook_http.ConnectError, match="certificate"):
            webhooks._post(url, b"{}", {}, address="127.0.0.1")
        assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("budget", [1.0, -1.0])
def test_a_batch_outside_a_transaction_claims_sends_and_logs_each(receiver, monkeypatch, budget):
    """The worker's shape (autocommit; on PostgreSQL the batch is claimed in one
    statement): every delivery is POSTed once and logged, also when the batch runs past
    its time budget and hands the rest (released first) to tasks of their own."""
    monkeypatch.setattr(webhooks, "BATCH_BUDGET_SECONDS", budget)
    merchant, key = make_merchant(notify_url=receiver.url)
    ids = _closed_orders_pending_webhooks(merchant, SignedClient(key), 3)
    webhooks.webhook_attempt_batch(delivery_ids=[*ids, ids[0], 10**9])  # a repeat, a stranger
    assert len(receiver.requests) == 3
    rows = WebhookDelivery.objects.filter(id__in=ids)
    assert {(d.status, d.attempts, d.claimed_until) for d in rows} == {("delivered", 1, None)}
    assert sum(d.log.count() for d in rows) == 3
