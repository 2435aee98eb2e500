"""Pay codes: 18 digits, 60 seconds, single use, charged by the merchant's scanner."""

import datetime as dt

import pytest
from django.utils import timezone

from payments import ledger
from payments.models import Order, PayCode
from payments.services.pin import pin_free_limit_set
from tests.conftest import client_for, fund_wallet, set_payment_pin

from .merchant_kit import SignedClient, make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(make_user):
    person = make_user("Buyer")
    fund_wallet(person, 5000)
    set_payment_pin(person)
    pin_free_limit_set(user=person, limit=2000)
    return person


def issue(person) -> str:
    r = client_for(person).post("/api/v1/wallet/pay-code")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["expires_in"] == 60
    return body["code"]


def charge(client, code, amount=300, no="CH-1"):
    return client.post(
        "/api/merchant/v1/charges", {"pay_code": code, "amount": amount, "out_trade_no": no}
    )


def test_a_pay_code_is_18_digits_and_stored_only_as_a_digest(buyer):
    code = issue(buyer)
    assert len(code) == 18 and code.isdigit()
    assert not PayCode.objects.filter(code_digest=code).exists()
    assert PayCode.objects.filter(user=buyer).count() == 1


def test_the_merchant_charges_a_pay_code_once(buyer):
    merchant, key = make_merchant()
    client = SignedClient(key)
    code = issue(buyer)
    r = charge(client, code)
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "paid" and r.json()["kind"] == "pay_code"
    assert ledger.user_wallet(user_id=buyer.id, currency="USD").balance == 4700
    # The same out_trade_no again: the first result, no second charge.
    again = charge(client, code)
    assert again.status_code == 200 and again.json()["order_id"] == r.json()["order_id"]
    # The code is spent: a new sale with it fails.
    used = charge(client, code, no="CH-2")
    assert used.status_code == 422 and used.json()["error"]["code"] == "pay_code_invalid"
    assert ledger.user_wallet(user_id=buyer.id, currency="USD").balance == 4700


def test_an_expired_or_unknown_code_is_refused(buyer):
    _m, key = make_merchant()
    client = SignedClient(key)
    code = issue(buyer)
    PayCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    r = charge(client, code)
    assert r.status_code == 422 and r.json()["error"]["code"] == "pay_code_invalid"
    assert charge(client, "280000000000000000", no="CH-3").status_code == 422
    assert charge(client, "12345", no="CH-4").status_code == 400
    assert Order.objects.count() == 0


def test_above_the_password_free_limit_the_charge_is_refused_and_the_code_kept(buyer):
    _m, key = make_merchant()
    client = SignedClient(key)
    code = issue(buyer)
    r = charge(client, code, amount=2001)
    assert r.status_code == 422 and r.json()["error"]["code"] == "pin_required"
    # Nothing was spent: the code still works for an amount under the limit.
    assert charge(client, code, amount=2000, no="CH-2").status_code == 201


def test_insufficient_funds_leaves_no_order_and_no_charge(make_user):
    poor = make_user()
    fund_wallet(poor, 50)
    set_payment_pin(poor)
    pin_free_limit_set(user=poor, limit=2000)
    _m, key = make_merchant()
    r = charge(SignedClient(key), issue(poor), amount=100)
    assert r.status_code == 422 and r.json()["error"]["code"] == "insufficient_funds"
    assert Order.objects.count() == 0
    assert ledger.user_wallet(user_id=poor.id, currency="USD").balance == 50


def test_pay_code_needs_a_logged_in_user(api):
    assert api.post("/api/v1/wallet/pay-code").status_code == 401
