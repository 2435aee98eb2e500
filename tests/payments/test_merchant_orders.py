"""Orders without money: create (idempotent), query, close, expire, QR, buyer preview."""

import datetime as dt

import pytest
from django.utils import timezone

from payments import emvco
from payments.models import Order
from payments.services.orders import fee_for, orders_expire_due

from .merchant_kit import SignedClient, create_order, make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    merchant, key = make_merchant()
    return merchant, SignedClient(key)


def test_create_answers_the_contract_shape(shop):
    _m, client = shop
    r = create_order(client, expires_in=600)
    assert r.status_code == 201, r.content
    body = r.json()
    for field in ("order_id", "status", "qr_payload", "qr_svg_url", "qr_png_url", "expires_at"):
        assert field in body
    assert body["status"] == "pending" and body["amount"] == 250
    # The QR opens the web client's checkout from a phone camera (like /join/ invites);
    # the images and the API stay under /api/v1/checkout/.
    assert "/pay/o_" in body["qr_payload"]
    token = body["qr_payload"].rsplit("/", 1)[1]
    assert body["qr_svg_url"].endswith(f"/api/v1/checkout/{token}/qr.svg")
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert 590 <= (expires - timezone.now()).total_seconds() <= 600


def test_default_expiry_is_15_minutes_and_at_most_2_hours(shop):
    _m, client = shop
    body = create_order(client).json()
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert 890 <= (expires - timezone.now()).total_seconds() <= 900
    r = create_order(client, out_trade_no="T-2", expires_in=7201)
    assert r.status_code == 400 and "expires_in" in r.json()["error"]["fields"]


def test_create_is_idempotent_on_out_trade_no(shop):
    _m, client = shop
    first = create_order(client)
    again = create_order(client)
    assert again.status_code == 200 and again.json()["order_id"] == first.json()["order_id"]
    clash = create_order(client, amount=999)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "out_trade_no_reused"
    assert Order.objects.count() == 1


def test_out_trade_no_is_per_merchant():
    _a, ka = make_merchant(name="A")
    _b, kb = make_merchant(name="B")
    ra = create_order(SignedClient(ka))
    rb = create_order(SignedClient(kb))
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["order_id"] != rb.json()["order_id"]


def test_bad_input_is_a_400_never_a_500(shop):
    _m, client = shop
    for bad in (
        {"amount": 0},
        {"amount": -5},
        {"amount": 10**13},
        {"amount": "12.50"},
        {"currency": "EUR"},
        {"currency": "dollars"},
        {"out_trade_no": ""},
        {"out_trade_no": "x" * 65},
        {"qr_format": "pdf"},
        {"notify_url": "ftp://example.com/hook"},
        {"notify_url": "not a url"},
        {"notify_url": "http://ex ample.com/hook"},
        {"notify_url": "http://exa\u00a0mple.com/hook"},
        {"notify_url": "http://[::1/hook"},
    ):
        r = create_order(client, out_trade_no=bad.pop("out_trade_no", "B-1"), **bad)
        assert r.status_code == 400, (bad, r.content)
        assert "error" in r.json()


def test_another_merchants_order_is_404(shop):
    _m, client = shop
    order_id = create_order(client).json()["order_id"]
    _other, other_key = make_merchant(name="Other")
    other = SignedClient(other_key)
    assert other.get(f"/api/merchant/v1/orders/{order_id}").status_code == 404
    assert other.post(f"/api/merchant/v1/orders/{order_id}/close").status_code == 404
    assert client.get(f"/api/merchant/v1/orders/{order_id}").status_code == 200
    assert client.get("/api/merchant/v1/orders/99999999999999999999").status_code == 404


def test_close_then_close_again(shop):
    _m, client = shop
    order_id = create_order(client).json()["order_id"]
    r = client.post(f"/api/merchant/v1/orders/{order_id}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post(f"/api/merchant/v1/orders/{order_id}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert client.get(f"/api/merchant/v1/orders/{order_id}").json()["status"] == "closed"


def test_an_order_past_its_expiry_reads_expired_before_and_after_the_sweep(shop):
    _m, client = shop
    order_id = create_order(client, expires_in=30).json()["order_id"]
    Order.objects.filter(id=order_id).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(f"/api/merchant/v1/orders/{order_id}").json()["status"] == "expired"
    assert Order.objects.get(id=order_id).status == "pending"  # not yet swept
    assert orders_expire_due() == 1
    assert Order.objects.get(id=order_id).status == "expired"
    assert orders_expire_due() == 0


def test_emvco_orders_carry_a_valid_payload(shop):
    merchant, client = shop
    body = create_order(client, qr_format="emvco", amount=1999).json()
    fields = emvco.parse(body["qr_payload"])
    assert fields["54"] == "19.99" and fields["53"] == "840"
    assert fields["59"] == merchant.name and fields["60"] == merchant.city
    assert "/pay/o_" in fields["26"]


def test_qr_images_are_public_and_real(shop, api):
    _m, client = shop
    body = create_order(client).json()
    path = body["qr_svg_url"].split("://", 1)[1].split("/", 1)[1]
    svg = api.get("/" + path)
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    png = api.get("/" + body["qr_png_url"].split("://", 1)[1].split("/", 1)[1])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert api.get("/api/v1/checkout/o_nothing/qr.svg").status_code == 404


def test_buyer_preview_of_an_order_and_of_a_till(shop, auth_client):
    merchant, client = shop
    body = create_order(client, description="Cola 330ml").json()
    token = body["qr_payload"].rsplit("/", 1)[1]
    r = auth_client.get(f"/api/v1/checkout/{token}")
    assert r.status_code == 200
    preview = r.json()
    assert preview["kind"] == "order" and preview["amount"] == 250
    assert preview["merchant"]["name"] == merchant.name and preview["pay_amount"] == 250
    assert preview["description"] == "Cola 330ml" and preview["status"] == "pending"
    till = auth_client.get(f"/api/v1/checkout/{merchant.till_token}").json()
    assert till["kind"] == "till" and till["amount"] is None and till["currency"] == "USD"
    assert auth_client.get("/api/v1/checkout/o_unknown").status_code == 404
    assert auth_client.get("/api/v1/checkout/" + "x" * 300).status_code == 404


def test_preview_needs_a_logged_in_buyer(shop, api):
    _m, client = shop
    token = create_order(client).json()["qr_payload"].rsplit("/", 1)[1]
    assert api.get(f"/api/v1/checkout/{token}").status_code == 401


def test_till_endpoint_gives_the_static_qr(shop):
    merchant, client = shop
    r = client.get("/api/merchant/v1/till")
    assert r.status_code == 200
    fields = emvco.parse(r.json()["emvco_payload"])
    assert fields["01"] == "11" and "54" not in fields
    assert merchant.till_token in fields["26"]


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [
        (100, 60, 1),
        (83, 60, 0),
        (84, 60, 1),
        (250, 60, 2),
        (10000, 60, 60),
        (1, 60, 0),
        (12345, 250, 309),
        (10**12, 60, 6 * 10**9),
        (999, 0, 0),
        (50, 10000, 50),
    ],
)
def test_fee_rounding_rule_is_half_up(amount, bps, fee):
    # 0.6% of 83 = 0.498 -> 0; of 84 = 0.504 -> 1; of 250 = 1.5 -> 2 (half up).
    assert fee_for(amount=amount, fee_bps=bps) == fee


@pytest.mark.parametrize(
    "body",
    [
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD"},
        {"out_trade_no": "A-1", "amount": 250, "currency": "usd", "qr_format": "emvco"},
        {"out_trade_no": "A-1", "amount": 1, "currency": "USD", "description": "", "x": 1},
        {"out_trade_no": "a.b:c_d-e", "amount": 10**12, "currency": "EUR", "expires_in": 30},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "notify_url": "https://x.io/h"},
        {"out_trade_no": "A-1\n", "amount": 250, "currency": "USD"},
        {"out_trade_no": " A-1", "amount": 250, "currency": "USD"},
        {"out_trade_no": "A" * 65, "amount": 250, "currency": "USD"},
        {"out_trade_no": "A-1", "amount": True, "currency": "USD"},
        {"out_trade_no": "A-1", "amount": 250.0, "currency": "USD"},
        {"out_trade_no": "A-1", "amount": "250", "currency": "USD"},
        {"out_trade_no": "A-1", "amount": 0, "currency": "USD"},
        {"out_trade_no": "A-1", "amount": 10**12 + 1, "currency": "USD"},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD\n"},
        {"out_trade_no": "A-1", "amount": 250, "currency": "US"},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "description": " Cola "},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "description": "a\x00b"},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "description": None},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "description": "d" * 129},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "expires_in": 29},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "expires_in": 7201},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "qr_format": None},
        {"out_trade_no": "A-1", "amount": 250, "currency": "USD", "qr_format": "png"},
        {"amount": 250, "currency": "USD"},
        ["not", "an", "object"],
    ],
)
def test_the_plain_create_input_shortcut_agrees_with_the_serializer(body):
    """The create view skips its serializer for plainly valid bodies (config.plain_input):
    whatever the shortcut accepts, the serializer accepts with the same validated data."""
    from config.plain_input import plain_validated
    from payments.api.merchant import MerchantOrderCreateInput

    fast = plain_validated(MerchantOrderCreateInput, body)
    if fast is not None:
        data = MerchantOrderCreateInput(data=body)
        assert data.is_valid(), data.errors
        assert fast == dict(data.validated_data)


@pytest.mark.parametrize(
    "body, plain",
    [
        ({}, True),
        ({"pin": "123456"}, True),
        ({"pin": ""}, True),
        ({"pin": None}, False),
        ({"pin": " 123456"}, False),
        ({"pin": "12345"}, False),
        ({"pin": "١٢٣٤٥٦"}, False),
        ({"pin": "123456", "amount": 5}, True),
        ({"pin": "123456", "amount": 0}, False),
    ],
)
def test_the_plain_pay_input_shortcut_agrees_with_the_serializer(body, plain):
    from config.plain_input import plain_validated
    from payments.api.checkout import CheckoutPayInput

    fast = plain_validated(CheckoutPayInput, body)
    assert (fast is not None) == plain
    if fast is not None:
        data = CheckoutPayInput(data=body)
        assert data.is_valid(), data.errors
        assert dict(data.validated_data) == fast
