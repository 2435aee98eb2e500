"""Operators in Django admin: review packs, refund purchases — through the services."""

import pytest
from django.test import Client

from accounts.models import User
from payments.selectors import wallet_balance
from payments.services.pin import pin_free_limit_set
from store.models import Entitlement, Pack, Purchase
from store.services import creators
from store.services.purchases import pack_purchase
from tests.conftest import assert_ledger_balanced, fund_wallet, set_payment_pin
from tests.store.builders import draft_pack, published_pack

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    admin = User.objects.create_superuser(phone="+14155559900", password="a-long-operator-pw")
    c = Client()
    c.force_login(admin)
    return c


def in_review(creator, title="Cats"):
    pack = draft_pack(creator, title=title)
    creators.pack_submit(creator=creator, pack_id=pack.pk)
    return pack


def act(operator, model, action, ids, **extra):
    return operator.post(
        f"/admin/store/{model}/",
        {"action": action, "_selected_action": [str(i) for i in ids], **extra},
    )


def test_screens_open(operator, creator):
    published_pack(creator)
    for model in ("pack", "creatorprofile", "purchase", "entitlement"):
        assert operator.get(f"/admin/store/{model}/").status_code == 200
    pack = Pack.objects.get()
    assert operator.get(f"/admin/store/pack/{pack.pk}/change/").status_code == 200


def test_approve_publishes(operator, creator, api):
    pack = in_review(creator)
    assert act(operator, "pack", "approve", [pack.pk]).status_code == 302
    pack.refresh_from_db()
    assert pack.status == "published" and pack.published_at
    assert [p["id"] for p in api.get("/api/v1/store/packs").json()["results"]] == [pack.pk]


def test_reject_asks_for_a_reason_first(operator, creator):
    pack = in_review(creator)
    form = act(operator, "pack", "reject", [pack.pk])
    assert form.status_code == 200 and b"reason" in form.content
    pack.refresh_from_db()
    assert pack.status == "in_review"
    done = act(operator, "pack", "reject", [pack.pk], apply="1", reason="Off-topic images")
    assert done.status_code == 302
    pack.refresh_from_db()
    assert pack.status == "rejected" and pack.rejection_reason == "Off-topic images"


def test_feature_and_withdraw(operator, creator, api):
    a, b = published_pack(creator, title="A"), published_pack(creator, title="B")
    act(operator, "pack", "feature", [a.pk])
    assert api.get("/api/v1/store/packs?sort=new").json()["results"][0]["id"] == a.pk
    act(operator, "pack", "withdraw", [a.pk], apply="1", reason="Rights claim")
    assert [p["id"] for p in api.get("/api/v1/store/packs").json()["results"]] == [b.pk]


def test_approving_a_draft_is_refused_with_a_message(operator, creator):
    pack = draft_pack(creator)
    r = act(operator, "pack", "approve", [pack.pk])
    assert r.status_code == 302
    pack.refresh_from_db()
    assert pack.status == "draft"


def test_refund_from_admin_reverses_money_and_removes_the_pack(operator, creator, user):
    fund_wallet(user, 500)
    set_payment_pin(user)
    pin_free_limit_set(user=user, limit=500)
    pack = published_pack(creator, price=300)
    purchase = pack_purchase(buyer=user, pack_id=pack.pk, expected_price=300)
    assert wallet_balance(user_id=user.pk, currency="USD") == 200
    act(operator, "purchase", "refund", [purchase.pk], apply="1", reason="Bought by mistake")
    purchase.refresh_from_db()
    assert purchase.status == "refunded" and purchase.refund_reason == "Bought by mistake"
    assert wallet_balance(user_id=user.pk, currency="USD") == 500
    assert not Entitlement.objects.filter(user=user).exists()
    act(operator, "purchase", "refund", [purchase.pk], apply="1", reason="again")
    assert Purchase.objects.get(pk=purchase.pk).refund_entry_id == purchase.refund_entry_id
    assert_ledger_balanced()
