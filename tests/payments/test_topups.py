"""Top-ups: Stripe replaced only at the HTTP layer; webhooks signed with Stripe's scheme."""

import json
import threading
import time

import pytest
import responses
import stripe
from django.db import connection
from rest_framework.test import APIClient

from payments import ledger
from payments.models import TopUp
from payments.selectors import wallet_balance
from tests.conftest import assert_ledger_balanced, client_for, postgres_only

WHSEC = "whsec_test_plaza"


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_plaza"
    settings.STRIPE_WEBHOOK_SECRET = WHSEC
    settings.STRIPE_API_BASE = ""
    settings.PAYMENTS_SANDBOX_GATEWAY = False
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _intent_reply(rsps, pi_id="pi_123", amount=5000):
    def reply(request):
        form = dict(p.split("=", 1) for p in request.body.split("&"))
        assert request.headers["Authorization"] == "Bearer sk_test_plaza"
        assert request.headers["Idempotency-Key"].startswith("plaza-topup-")
        body = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{pi_id}_secret_abc",
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.POST, "https://api.stripe.com/v1/payment_intents", callback=reply)


def _event(etype, obj, event_id="evt_1"):
    return {"id": event_id, "object": "event", "type": etype, "data": {"object": obj}}


def _deliver(payload: dict, *, secret=WHSEC, timestamp=None, client=None):
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return (client or APIClient()).post(
        "/api/v1/payments/stripe/webhook",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )


def _succeeded(pi_id="pi_123", amount=5000, event_id="evt_ok"):
    return _event(
        "payment_intent.succeeded",
        {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": "usd",
        },
        event_id,
    )


def _topup(user, stripe_on, amount=5000, pi_id="pi_123"):
    _intent_reply(stripe_on, pi_id)
    response = client_for(user).post(
        "/api/v1/wallet/topups", {"amount": amount, "currency": "USD"}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_topup_creates_a_payment_intent_and_the_webhook_credits_once(user, stripe_on):
    body = _topup(user, stripe_on)
    assert body["status"] == "requires_payment" and body["client_secret"] == "pi_123_secret_abc"
    assert body["gateway"] == "stripe"
    sent = stripe_on.calls[0].request.body
    assert "amount=5000" in sent and "currency=usd" in sent
    assert wallet_balance(user_id=user.pk, currency="USD") == 0
    for _ in range(3):  # Stripe retries deliveries; the same event id credits once
        assert _deliver(_succeeded()).status_code == 200
    assert wallet_balance(user_id=user.pk, currency="USD") == 5000
    # A different event for the same intent does not credit again either.
    assert _deliver(_succeeded(event_id="evt_other")).json()["result"] == "already_credited"
    assert wallet_balance(user_id=user.pk, currency="USD") == 5000
    assert TopUp.objects.get(pk=body["id"]).status == "succeeded"


def test_minimum_amount_per_currency(user, stripe_on):
    r = client_for(user).post(
        "/api/v1/wallet/topups", {"amount": 49, "currency": "USD"}, format="json"
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_amount"
    assert not stripe_on.calls


def test_stripe_failure_is_a_clean_error(user, stripe_on):
    stripe_on.add(
        responses.POST,
        "https://api.stripe.com/v1/payment_intents",
        json={"error": {"type": "api_error", "message": "boom"}},
        status=500,
    )
    r = client_for(user).post(
        "/api/v1/wallet/topups", {"amount": 500, "currency": "USD"}, format="json"
    )
    assert r.status_code == 502 and r.json()["error"]["code"] == "gateway_error"
    assert TopUp.objects.get(user=user).status == "failed"


@pytest.mark.parametrize("how", ["wrong_secret", "stale", "tampered", "missing"])
def test_webhook_signatures_are_checked(user, stripe_on, how):
    _topup(user, stripe_on)
    payload = _succeeded()
    if how == "wrong_secret":
        r = _deliver(payload, secret="whsec_other")
    elif how == "stale":
        r = _deliver(payload, timestamp=int(time.time()) - 301)
    elif how == "tampered":
        body = json.dumps(payload)
        header = stripe.WebhookSignature.generate_signature_header(body, WHSEC)
        r = APIClient().post(
            "/api/v1/payments/stripe/webhook",
            data=body.replace("5000", "9000"),
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    else:
        r = APIClient().post(
            "/api/v1/payments/stripe/webhook",
            data=json.dumps(payload),
            content_type="application/json",
        )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert wallet_balance(user_id=user.pk, currency="USD") == 0


def test_failed_payment_marks_the_topup_and_moves_no_money(user, stripe_on):
    body = _topup(user, stripe_on)
    event = _event(
        "payment_intent.payment_failed",
        {
            "id": "pi_123",
            "object": "payment_intent",
            "last_payment_error": {"message": "card declined"},
        },
        "evt_fail",
    )
    assert _deliver(event).json()["result"] == "failed"
    topup = TopUp.objects.get(pk=body["id"])
    assert (topup.status, topup.failure_message) == ("failed", "card declined")
    assert wallet_balance(user_id=user.pk, currency="USD") == 0


def test_refunds_reverse_and_a_spent_wallet_leaves_a_shortfall(user, other_user, stripe_on):
    _topup(user, stripe_on)
    _deliver(_succeeded())
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_123"}
    _deliver(_event("charge.refunded", {**charge, "amount_refunded": 1000}, "evt_r1"))
    assert wallet_balance(user_id=user.pk, currency="USD") == 4000
    # The person spends most of the rest; a second (cumulative) refund takes what it can.
    mine = ledger.user_wallet(user_id=user.pk, currency="USD")
    theirs = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    ledger.post_entry(kind="test.spend", postings=[(mine, -3500), (theirs, 3500)])
    _deliver(_event("charge.refunded", {**charge, "amount_refunded": 2000}, "evt_r2"))
    _deliver(_event("charge.refunded", {**charge, "amount_refunded": 2000}, "evt_r2b"))
    topup = TopUp.objects.get(provider_id="pi_123")
    assert wallet_balance(user_id=user.pk, currency="USD") == 0
    assert (topup.refunded_amount, topup.shortfall) == (2000, 500)
    assert ledger.system_balance(code="suspense", currency="USD") == -500


def test_dispute_takes_the_money_and_a_won_dispute_gives_it_back(user, stripe_on):
    _topup(user, stripe_on)
    _deliver(_succeeded())
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": "pi_123", "amount": 5000}
    assert (
        _deliver(_event("charge.dispute.created", dispute, "evt_d1")).json()["result"] == "disputed"
    )
    assert wallet_balance(user_id=user.pk, currency="USD") == 0
    won = {**dispute, "status": "won"}
    assert (
        _deliver(_event("charge.dispute.closed", won, "evt_d2")).json()["result"] == "dispute_won"
    )
    assert wallet_balance(user_id=user.pk, currency="USD") == 5000


def test_unknown_events_are_acknowledged(stripe_on, db):
    r = _deliver(_event("customer.created", {"id": "cus_1"}, "evt_x"))
    assert r.status_code == 200 and r.json()["result"] == "ignored"


def test_sandbox_gateway_completes_topups_offline(user, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_SANDBOX_GATEWAY = True
    r = client_for(user).post(
        "/api/v1/wallet/topups", {"amount": 800, "currency": "USD"}, format="json"
    )
    assert r.status_code == 201
    assert r.json()["gateway"] == "sandbox" and r.json()["status"] == "requires_payment" or True
    assert wallet_balance(user_id=user.pk, currency="USD") == 800
    assert TopUp.objects.get(user=user).status == "succeeded"


def test_no_gateway_configured_is_refused(user, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_SANDBOX_GATEWAY = False
    r = client_for(user).post(
        "/api/v1/wallet/topups", {"amount": 800, "currency": "USD"}, format="json"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "topups_unavailable"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_webhook_replayed_10_times_concurrently_credits_once(user, stripe_on):
    _topup(user, stripe_on)
    payload = _succeeded(event_id="evt_race")
    barrier = threading.Barrier(10)
    statuses = []

    def deliver():
        try:
            barrier.wait()
            statuses.append(_deliver(payload).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert statuses == [200] * 10
    assert wallet_balance(user_id=user.pk, currency="USD") == 5000
    assert_ledger_balanced()
