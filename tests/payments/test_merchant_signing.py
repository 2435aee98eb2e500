"""Signed merchant requests: right signature in, wrong/stale/replayed out; keys rotate."""

import json
import time

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from payments.merchant_signing import sign, string_to_sign
from payments.models import MerchantApiKey
from payments.services.merchants import (
    merchant_key_revoke,
    merchant_key_rotate,
    merchant_secrets_reencrypt,
)

from .merchant_kit import SignedClient, create_order, make_merchant

pytestmark = pytest.mark.django_db
PATH = "/api/merchant/v1/orders"


def raw_post(key_id, secret, body: bytes, *, ts=None, nonce="n0nce-0001", path=PATH, sig=None):
    ts = str(int(time.time()) if ts is None else ts)
    signature = sig or sign(secret, "POST", path, ts, nonce, body)
    return APIClient().post(
        path,
        data=body,
        content_type="application/json",
        HTTP_X_PLAZA_MERCHANT=key_id,
        HTTP_X_PLAZA_TIMESTAMP=ts,
        HTTP_X_PLAZA_NONCE=nonce,
        HTTP_X_PLAZA_SIGNATURE=signature,
    )


BODY = json.dumps({"out_trade_no": "S-1", "amount": 100, "currency": "USD"}).encode()


def test_the_documented_worked_example_signature():
    # The example in docs/API.md: anyone implementing a client can check against it.
    message = string_to_sign(
        "POST", PATH, "1767225600", "4f1c2a9d0b7e", b'{"out_trade_no":"A-1","amount":250}'
    )
    assert message == (
        b'POST\n/api/merchant/v1/orders\n1767225600\n4f1c2a9d0b7e\n{"out_trade_no":"A-1","amount":250}'
    )
    assert (
        sign(
            "sk_test_example",
            "POST",
            PATH,
            "1767225600",
            "4f1c2a9d0b7e",
            b'{"out_trade_no":"A-1","amount":250}',
        )
        == "6cfbf488936c05f91c60cc2a927f7538e68e056c6d447b143d8e6c5dce61e724"
    )


def test_a_signed_request_is_accepted():
    _m, key = make_merchant()
    r = raw_post(key.key_id, key.secret, BODY)
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "pending"


def test_unsigned_and_wrongly_signed_requests_are_refused():
    _m, key = make_merchant()
    r = APIClient().post(PATH, data=BODY, content_type="application/json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "merchant_signature_missing"
    r = raw_post(key.key_id, "sk_wrong", BODY)
    assert r.status_code == 401 and r.json()["error"]["code"] == "merchant_signature_invalid"
    r = raw_post("mk_unknown", key.secret, BODY, nonce="n0nce-0002")
    assert r.status_code == 401
    r = raw_post(key.key_id, key.secret, BODY, sig="zz" * 40, nonce="n0nce-0003")
    assert r.status_code == 401
    # The body is covered: a tampered amount fails.
    ts = str(int(time.time()))
    sig = sign(key.secret, "POST", PATH, ts, "n0nce-0004", BODY)
    tampered = BODY.replace(b"100", b"1")
    r = raw_post(key.key_id, key.secret, tampered, ts=ts, nonce="n0nce-0004", sig=sig)
    assert r.status_code == 401


def test_stale_timestamps_are_refused():
    _m, key = make_merchant()
    old = int(time.time()) - 301
    r = raw_post(key.key_id, key.secret, BODY, ts=old)
    assert r.status_code == 401 and r.json()["error"]["code"] == "merchant_timestamp_stale"
    future = int(time.time()) + 301
    r = raw_post(key.key_id, key.secret, BODY, ts=future, nonce="n0nce-0005")
    assert r.status_code == 401
    r = raw_post(key.key_id, key.secret, BODY, ts="yesterday", nonce="n0nce-0006")
    assert r.status_code == 401


def test_a_replayed_nonce_is_refused():
    _m, key = make_merchant()
    ts = int(time.time())
    assert raw_post(key.key_id, key.secret, BODY, ts=ts, nonce="same-nonce-1").status_code == 201
    again = raw_post(key.key_id, key.secret, BODY, ts=ts, nonce="same-nonce-1")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "merchant_nonce_reused"


def test_secrets_are_encrypted_at_rest():
    _m, key = make_merchant()
    stored = MerchantApiKey.objects.get(key_id=key.key_id).secret_encrypted
    assert key.secret not in stored and stored.startswith("gAAAA")  # a Fernet token


def test_rotation_two_keys_overlap_then_the_old_one_is_revoked():
    merchant, old = make_merchant()
    new = merchant_key_rotate(merchant_id=merchant.id)
    assert create_order(SignedClient(old), out_trade_no="R-1").status_code == 201
    assert create_order(SignedClient(new), out_trade_no="R-2").status_code == 201
    with pytest.raises(Exception) as e:
        merchant_key_rotate(merchant_id=merchant.id)
    assert getattr(e.value, "code", "") == "too_many_active_keys"
    merchant_key_revoke(key_id=old.key_id)
    assert create_order(SignedClient(old), out_trade_no="R-3").status_code == 401
    assert create_order(SignedClient(new), out_trade_no="R-4").status_code == 201


def test_encryption_key_rotation_keeps_secrets_readable(settings):
    from cryptography.fernet import Fernet

    first = Fernet.generate_key().decode()
    settings.MERCHANT_SECRET_KEYS = [first]
    _m, key = make_merchant()
    second = Fernet.generate_key().decode()
    settings.MERCHANT_SECRET_KEYS = [second, first]  # new key first, old still decrypts
    assert create_order(SignedClient(key), out_trade_no="E-1").status_code == 201
    assert merchant_secrets_reencrypt() >= 1
    settings.MERCHANT_SECRET_KEYS = [second]  # old key dropped
    assert create_order(SignedClient(key), out_trade_no="E-2").status_code == 201


def test_suspended_merchants_are_refused():
    merchant, key = make_merchant()
    merchant.status = "suspended"
    merchant.save(update_fields=["status"])
    r = create_order(SignedClient(key))
    assert r.status_code == 403 and r.json()["error"]["code"] == "merchant_suspended"


def test_create_merchant_command_prints_the_secret_once(capsys):
    call_command("create_merchant", "Corner Shop", "--city", "Oakland", "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["key_id"].startswith("mk_") and out["secret"].startswith("sk_")
    from payments.services.merchants import IssuedKey

    client = SignedClient(IssuedKey(key_id=out["key_id"], secret=out["secret"]))
    assert create_order(client).status_code == 201


def test_a_bearer_token_is_not_a_merchant_signature(auth_client):
    r = auth_client.post(PATH, {"out_trade_no": "X", "amount": 1, "currency": "USD"}, format="json")
    assert r.status_code == 401


def test_each_key_is_rate_limited(settings):
    settings.MERCHANT_API_RATE = "3/m"
    _m, key = make_merchant()
    client = SignedClient(key)
    codes = [create_order(client, out_trade_no=f"L-{i}").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    limited = create_order(client, out_trade_no="L-9")
    assert limited.json()["error"]["code"] == "rate_limited" and limited["Retry-After"]
