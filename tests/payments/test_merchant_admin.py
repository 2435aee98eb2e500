"""Operator screens: merchants are created through the service (key shown once), orders
are read-only, deliveries can be re-sent."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import User
from payments.models import Merchant, MerchantApiKey, WebhookDelivery
from payments.services.orders import order_close

from .merchant_kit import Receiver, SignedClient, create_order, make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    admin = User.objects.create_superuser(phone="+14155550999", password="x-long-password-1")
    client = Client()
    client.force_login(admin)
    return client


def test_admin_pages_render(operator):
    merchant, key = make_merchant()
    create_order(SignedClient(key))
    for url in (
        "/admin/payments/merchant/",
        f"/admin/payments/merchant/{merchant.id}/change/",
        "/admin/payments/merchant/add/",
        "/admin/payments/merchantapikey/",
        "/admin/payments/order/",
        "/admin/payments/webhookdelivery/",
    ):
        assert operator.get(url).status_code == 200, url


def test_adding_a_merchant_in_admin_issues_a_key_shown_once(operator):
    r = operator.post(
        "/admin/payments/merchant/add/",
        {
            "name": "Kiosk",
            "mcc": "5812",
            "country": "US",
            "city": "Austin",
            "currency": "USD",
            "fee_bps": 60,
            "notify_url": "",
        },
    )
    assert r.status_code == 302
    merchant = Merchant.objects.get(name="Kiosk")
    key = MerchantApiKey.objects.get(merchant=merchant)
    shown = " ".join(str(m) for m in get_messages(r.wsgi_request))
    assert key.key_id in shown and "sk_" in shown
    assert merchant.till_token.startswith("t_")


def test_resend_from_admin(operator):
    receiver = Receiver()
    try:
        merchant, key = make_merchant(notify_url=receiver.url)
        order_id = create_order(SignedClient(key)).json()["order_id"]
        order_close(merchant=merchant, order_id=order_id)
        delivery = WebhookDelivery.objects.get(order_id=order_id)
        r = operator.post(
            "/admin/payments/webhookdelivery/",
            {"action": "resend", "_selected_action": [delivery.id]},
        )
        assert r.status_code == 302
        assert len(receiver.requests) == 2
        assert WebhookDelivery.objects.filter(order_id=order_id).count() == 2
    finally:
        receiver.close()
