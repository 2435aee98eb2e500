"""Buying and gifting packs from the wallet (free packs: a claim with no money moved)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.plain_input import plain_validated
from config.ratelimit import check_rate
from payments.idempotency import IDEMPOTENCY_KEY_HEADER, idempotent

from ..models import Purchase
from ..services import purchases
from .schemas import StorePurchaseOut

_ERRORS = {
    404: OpenApiResponse(description="no such published pack (gift: not a contact)"),
    409: OpenApiResponse(description="`price_changed` (with the current price) · `already_owned`"),
    422: OpenApiResponse(
        description="`insufficient_funds` · `pin_required` · `pin_wrong` · `pin_not_set` · "
        "`payments_locked`"
    ),
}


def purchase_data(p: Purchase) -> dict:
    return {
        "id": p.pk,
        "pack_id": p.pack_id,
        "buyer_id": p.buyer_id,
        "recipient_id": p.recipient_id,
        "amount": p.amount,
        "currency": p.currency,
        "status": p.status,
        "gift": p.is_gift,
        "created_at": p.created_at.isoformat().replace("+00:00", "Z"),
    }


class StorePurchaseInput(serializers.Serializer):
    expected_price = serializers.IntegerField(
        min_value=0,
        max_value=10**12,
        required=False,
        help_text="the price the client showed, in minor units (required for paid packs)",
    )
    expected_currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    pin = serializers.CharField(
        max_length=6,
        required=False,
        allow_blank=True,
        help_text="payment PIN (not needed at or below your password-free limit)",
    )


def _validated(serializer_class, request) -> dict:
    """The body's validated data: a plainly valid body is checked against the serializer's
    own declarations without building it (`config.plain_input`: the DRF serializer cost
    ~0.2 ms of CPU per purchase); anything else goes through the serializer, which
    decides and words the error."""
    data = plain_validated(serializer_class, request.data)
    if data is None:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
    return data


class StoreGiftInput(StorePurchaseInput):
    to_user_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class StorePackPurchaseView(APIView):
    @extend_schema(
        operation_id="store_packs_purchase",
        request=StorePurchaseInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: StorePurchaseOut, **_ERRORS},
    )
    @idempotent
    def post(self, request, pack_id: int):
        check_rate("store.purchase", str(request.user.pk), settings.STORE_PURCHASE_RATE)
        v = _validated(StorePurchaseInput, request)
        purchase = purchases.pack_purchase(
            buyer=request.user,
            pack_id=pack_id,
            expected_price=v.get("expected_price"),
            expected_currency=v.get("expected_currency"),
            pin=v.get("pin") or None,
            answer=(201, purchase_data),
        )
        return Response(purchase_data(purchase), status=201)


class StorePackGiftView(APIView):
    @extend_schema(
        operation_id="store_packs_gift",
        request=StoreGiftInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: StorePurchaseOut, **_ERRORS},
    )
    @idempotent
    def post(self, request, pack_id: int):
        check_rate("store.purchase", str(request.user.pk), settings.STORE_PURCHASE_RATE)
        v = _validated(StoreGiftInput, request)
        if v["to_user_id"] == request.user.pk:
            from config.errors import InvalidInput

            raise InvalidInput(
                "Buy it for yourself with /purchase.",
                fields={"to_user_id": ["That is you."]},
            )
        purchase = purchases.pack_purchase(
            buyer=request.user,
            pack_id=pack_id,
            expected_price=v.get("expected_price"),
            expected_currency=v.get("expected_currency"),
            recipient_id=v["to_user_id"],
            pin=v.get("pin") or None,
            answer=(201, purchase_data),
        )
        return Response(purchase_data(purchase), status=201)
