"""Chat enforces the sticker store: a sticker message needs an owned (or free) pack."""

import pytest

from payments.services.pin import pin_free_limit_set
from store.services.purchases import pack_purchase
from tests.conftest import assert_ledger_balanced, fund_wallet, set_payment_pin
from tests.store.builders import creator_for, published_pack

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def paid_sticker(make_user):
    pack = published_pack(creator_for(make_user("Artist")), title="Paid Cats", price=150)
    return pack.stickers.order_by("position").first()


def direct_chat(client, other):
    r = client.post("/api/v1/conversations", {"kind": "direct", "user_id": other.pk}, format="json")
    assert r.status_code in (200, 201), r.content
    return r.json()["id"]


def send_sticker(client, conversation_id, sticker_id, client_id):
    return client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        {"client_id": client_id, "kind": "sticker", "payload": {"sticker_id": sticker_id}},
        format="json",
    )


def test_owner_sends_the_sticker_and_a_non_owner_is_refused(
    user, other_user, client_of, paid_sticker
):
    fund_wallet(user, 1000)
    set_payment_pin(user)
    pin_free_limit_set(user=user, limit=500)
    pack_purchase(buyer=user, pack_id=paid_sticker.pack_id, expected_price=150)

    owner = client_of(user)
    conv = direct_chat(owner, other_user)
    sent = send_sticker(owner, conv, paid_sticker.pk, "s-1")
    assert sent.status_code == 201, sent.content
    message = sent.json()
    assert message["kind"] == "sticker"
    payload = message["payload"]
    assert payload["sticker_id"] == paid_sticker.pk and payload["pack_id"] == paid_sticker.pack_id
    assert payload["image_url"].startswith("/media/stickers/images/")

    stranger = client_of(other_user)
    refused = send_sticker(stranger, conv, paid_sticker.pk, "s-2")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "sticker_not_owned"
    history = stranger.get(f"/api/v1/conversations/{conv}/messages").json()["results"]
    assert [m["client_id"] for m in history if m["kind"] == "sticker"] == ["s-1"]
    assert_ledger_balanced()


def test_free_published_stickers_need_no_purchase(user, other_user, client_of, make_user):
    pack = published_pack(creator_for(make_user("Free Artist")), title="Free Cats", price=0)
    sticker = pack.stickers.first()
    c = client_of(other_user)
    conv = direct_chat(c, user)
    assert send_sticker(c, conv, sticker.pk, "f-1").status_code == 201
    assert send_sticker(c, conv, 999_999_999, "f-2").json()["error"]["code"] == "sticker_not_owned"
