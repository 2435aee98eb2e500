"""Refunds: partial and repeated up to the amount paid, idempotent on out_refund_no, the
fee returned pro rata without drift."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments import ledger
from payments.models import Order
from payments.services.checkout import merchant_account, pro_rata
from tests.conftest import client_for, fund_wallet, set_payment_pin

from .merchant_kit import Receiver, SignedClient, create_order, make_merchant

pytestmark = pytest.mark.django_db


def wallet(user) -> int:
    return ledger.user_wallet(user_id=user.id, currency="USD").balance


def merchant_balance(merchant) -> int:
    return merchant_account(merchant, "USD").balance


def revenue() -> int:
    return ledger.system_balance(code="revenue", currency="USD")


@pytest.fixture
def paid(make_user):
    """A paid order of 1000 (fee 6): (merchant, client, order_id, buyer)."""
    merchant, key = make_merchant()
    client = SignedClient(key)
    buyer = make_user("Buyer")
    fund_wallet(buyer, 5000)
    set_payment_pin(buyer)
    body = create_order(client, amount=1000).json()
    token = body["qr_payload"].rsplit("/", 1)[1]
    r = client_for(buyer).post(f"/api/v1/checkout/{token}/pay", {"pin": "123456"}, format="json")
    assert r.status_code == 200
    return merchant, client, body["order_id"], buyer


def refund(client, order_id, amount, no):
    return client.post(
        f"/api/merchant/v1/orders/{order_id}/refunds", {"amount": amount, "out_refund_no": no}
    )


def test_partial_then_full_refund_returns_the_fee_pro_rata(paid):
    merchant, client, order_id, buyer = paid
    assert (wallet(buyer), merchant_balance(merchant), revenue()) == (4000, 994, 6)
    r = refund(client, order_id, 250, "RF-1")
    assert r.status_code == 201, r.content
    assert r.json()["fee_returned"] == 2  # 6 x 250/1000 = 1.5 -> 2 (half up)
    assert (wallet(buyer), merchant_balance(merchant), revenue()) == (4250, 746, 4)
    order = client.get(f"/api/merchant/v1/orders/{order_id}").json()
    assert order["status"] == "partially_refunded" and order["refunded_amount"] == 250
    r = refund(client, order_id, 750, "RF-2")
    assert r.status_code == 201 and r.json()["fee_returned"] == 4
    assert (wallet(buyer), merchant_balance(merchant), revenue()) == (5000, 0, 0)
    order = client.get(f"/api/merchant/v1/orders/{order_id}").json()
    assert order["status"] == "refunded" and len(order["refunds"]) == 2


def test_refunds_cannot_exceed_what_was_paid(paid):
    _m, client, order_id, buyer = paid
    assert refund(client, order_id, 600, "RF-1").status_code == 201
    r = refund(client, order_id, 401, "RF-2")
    assert r.status_code == 422 and r.json()["error"]["code"] == "refund_exceeds_paid"
    assert r.json()["error"]["refundable"] == 400
    assert refund(client, order_id, 400, "RF-3").status_code == 201
    r = refund(client, order_id, 1, "RF-4")
    assert r.status_code == 422
    assert wallet(buyer) == 5000


def test_refund_is_idempotent_on_out_refund_no(paid):
    _m, client, order_id, buyer = paid
    first = refund(client, order_id, 100, "RF-1")
    again = refund(client, order_id, 100, "RF-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["refund_id"] == again.json()["refund_id"]
    assert wallet(buyer) == 4100
    clash = refund(client, order_id, 200, "RF-1")
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "out_refund_no_reused"


def test_an_unpaid_order_cannot_be_refunded_and_others_orders_are_404(paid):
    merchant, client, order_id, _buyer = paid
    pending = create_order(client, out_trade_no="U-1").json()["order_id"]
    r = refund(client, pending, 10, "RF-9")
    assert r.status_code == 422 and r.json()["error"]["code"] == "order_not_paid"
    _other, other_key = make_merchant(name="Other")
    assert refund(SignedClient(other_key), order_id, 10, "RF-10").status_code == 404


def test_refund_sends_order_refunded(make_user):
    receiver = Receiver()
    try:
        _merchant, key = make_merchant(notify_url=receiver.url)
        client = SignedClient(key)
        buyer = make_user()
        fund_wallet(buyer, 1000)
        set_payment_pin(buyer)
        body = create_order(client, amount=500).json()
        token = body["qr_payload"].rsplit("/", 1)[1]
        client_for(buyer).post(f"/api/v1/checkout/{token}/pay", {"pin": "123456"}, format="json")
        refund(client, body["order_id"], 500, "RF-1")
        events = receiver.events()
        assert [e["event"] for e in events] == ["order.paid", "order.refunded"]
        assert events[1]["data"]["status"] == "refunded"
        assert events[1]["data"]["refunded_amount"] == 500
    finally:
        receiver.close()


def test_many_small_refunds_return_exactly_the_fee(make_user):
    merchant, key = make_merchant(fee_bps=250)
    client = SignedClient(key)
    buyer = make_user()
    fund_wallet(buyer, 5000)
    set_payment_pin(buyer)
    body = create_order(client, amount=997).json()  # fee 2.5% of 997 = 24.925 -> 25
    token = body["qr_payload"].rsplit("/", 1)[1]
    client_for(buyer).post(f"/api/v1/checkout/{token}/pay", {"pin": "123456"}, format="json")
    order = Order.objects.get(id=body["order_id"])
    assert order.fee == 25
    returned = 0
    for i in range(99):
        returned += refund(client, order.id, 10, f"RF-{i}").json()["fee_returned"]
    returned += refund(client, order.id, 7, "RF-last").json()["fee_returned"]
    assert returned == 25
    assert wallet(buyer) == 5000 and merchant_balance(merchant) == 0 and revenue() == 0


@settings(max_examples=200, deadline=None)
@given(
    value=st.integers(min_value=-(10**9), max_value=10**9),
    total=st.integers(min_value=1, max_value=10**9),
    data=st.data(),
)
def test_pro_rata_shares_add_up_to_the_whole(value, total, data):
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=total), max_size=6)))
    points = [0, *cuts, total]
    shares = [pro_rata(value, before=a, after=b, total=total) for a, b in zip(points, points[1:])]
    assert sum(shares) == value
