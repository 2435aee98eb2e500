"""Idempotency-Key on a money-moving POST: replay, reuse with other params, in flight."""

import pytest
from django.core.cache import cache
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from payments import ledger
from payments.idempotency import idempotent
from payments.models import IdempotencyRecord
from payments.selectors import wallet_balance
from payments.services.funding import operator_credit


class _CreditView(APIView):
    """A real money-moving view: credits the caller from platform funding."""

    @idempotent
    def post(self, request):
        amount = request.data.get("amount")
        if not isinstance(amount, int):
            from config.errors import InvalidInput

            raise InvalidInput("amount", fields={"amount": ["int"]})
        if amount > 1000:
            raise ledger.InsufficientFunds()
        entry = operator_credit(user_id=request.user.pk, amount=amount, currency="USD")
        return Response({"entry_id": entry.pk, "amount": amount}, status=201)


def _post(user, body, key):
    request = APIRequestFactory().post(
        "/credit", body, format="json", **({"HTTP_IDEMPOTENCY_KEY": key} if key else {})
    )
    force_authenticate(request, user=user)
    return _CreditView.as_view()(request)


def test_retry_replays_the_first_response_and_moves_money_once(user):
    first = _post(user, {"amount": 100}, "abc")
    again = _post(user, {"amount": 100}, "abc")
    assert first.status_code == again.status_code == 201
    assert again.data == first.data and again["Idempotent-Replayed"] == "true"
    assert wallet_balance(user_id=user.pk, currency="USD") == 100


def test_same_key_other_parameters_is_409(user):
    _post(user, {"amount": 100}, "abc")
    response = _post(user, {"amount": 200}, "abc")
    assert response.status_code == 409
    assert response.data["error"]["code"] == "idempotency_key_reused"
    assert wallet_balance(user_id=user.pk, currency="USD") == 100


def test_keys_are_per_user(user, other_user):
    _post(user, {"amount": 100}, "abc")
    assert _post(other_user, {"amount": 200}, "abc").status_code == 201
    assert wallet_balance(user_id=other_user.pk, currency="USD") == 200


def test_business_errors_are_replayed_but_validation_errors_are_not(user):
    refused = _post(user, {"amount": 5000}, "big")
    assert refused.status_code == 422
    assert _post(user, {"amount": 5000}, "big").data == refused.data
    assert _post(user, {"amount": "x"}, "bad").status_code == 400
    assert not IdempotencyRecord.objects.filter(key="bad").exists()
    assert _post(user, {"amount": "x"}, "bad").status_code == 400


def test_a_duplicate_while_the_first_is_in_flight_is_409(user):
    lock_key = None
    import hashlib

    lock_key = f"idem:{user.pk}:{hashlib.sha256(b'flying').hexdigest()[:32]}"
    cache.add(lock_key, 1, timeout=60)  # what the first request holds while it runs
    try:
        response = _post(user, {"amount": 100}, "flying")
    finally:
        cache.delete(lock_key)
    assert response.status_code == 409
    assert response.data["error"]["code"] == "idempotency_request_in_progress"
    assert wallet_balance(user_id=user.pk, currency="USD") == 0


def test_no_key_means_no_idempotency(user):
    _post(user, {"amount": 100}, None)
    _post(user, {"amount": 100}, None)
    assert wallet_balance(user_id=user.pk, currency="USD") == 200


@pytest.mark.parametrize("key", ["x" * 256, "tab\tkey"])
def test_malformed_keys_are_400(user, key):
    assert _post(user, {"amount": 1}, key).status_code == 400
