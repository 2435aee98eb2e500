"""The buyer's side of merchant checkout: scan a QR (preview, pay), show a pay code."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from config.plain_input import plain_validated

from .. import qr_images
from ..models import Merchant, Order
from ..services import orders as order_services

MAX_MINOR = 10**12
IDEMPOTENCY_HEADER = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Makes a till payment safe to retry (a QR order is idempotent by itself).",
)


def _resolve(token: str) -> Order | Merchant:
    """A checkout token is an order's ("o_…") or a merchant's static till QR ("t_…")."""
    if len(token) <= 40:
        if token.startswith("o_"):
            order = Order.objects.select_related("merchant").filter(token=token).first()
            if order is not None and order.kind == Order.Kind.QR:
                return order
        else:
            merchant = Merchant.objects.filter(till_token=token).first()
            if merchant is not None:
                return merchant
    raise NotFound("No such checkout.")


def _merchant_view(m: Merchant) -> dict:
    return {"id": m.id, "name": m.name, "city": m.city, "country": m.country, "mcc": m.mcc}


class CheckoutMerchantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField()
    mcc = serializers.CharField()


class CheckoutAdjustmentOutput(serializers.Serializer):
    source = serializers.CharField()
    label = serializers.CharField()


class CheckoutPreviewOutput(serializers.Serializer):
    kind = serializers.CharField(help_text="order | till")
    merchant = CheckoutMerchantOutput()
    order_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    amount = serializers.IntegerField(allow_null=True, help_text="null at a till: you type it")
    currency = serializers.CharField()
    description = serializers.CharField()
    discount = serializers.IntegerField()
    pay_amount = serializers.IntegerField(allow_null=True)
    adjustments = CheckoutAdjustmentOutput(many=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    paid_by_me = serializers.BooleanField()


class CheckoutPreviewView(APIView):
    @extend_schema(responses=CheckoutPreviewOutput, summary="What a scanned merchant QR asks")
    def get(self, request, token: str):
        target = _resolve(token)
        if isinstance(target, Merchant):
            return Response(
                {
                    "kind": "till",
                    "merchant": _merchant_view(target),
                    "order_id": None,
                    "status": target.status,
                    "amount": None,
                    "currency": target.currency,
                    "description": "",
                    "discount": 0,
                    "pay_amount": None,
                    "adjustments": [],
                    "expires_at": None,
                    "paid_by_me": False,
                }
            )
        order = target
        status = order_services.effective_status(order)
        quote = (
            order_services.checkout_quote(order=order, payer=request.user)
            if status == Order.Status.PENDING
            else {"discount": order.discount, "pay_amount": order.buyer_paid, "adjustments": []}
        )
        return Response(
            {
                "kind": "order",
                "merchant": _merchant_view(order.merchant),
                "order_id": order.id,
                "status": status,
                "amount": order.amount,
                "currency": order.currency,
                "description": order.description,
                **quote,
                "expires_at": order.expires_at,
                "paid_by_me": order.payer_id == request.user.id,
            }
        )


class CheckoutPayInput(serializers.Serializer):
    pin = serializers.RegexField(r"^[0-9]{6}$", required=False, allow_blank=True)
    amount = serializers.IntegerField(
        min_value=1, max_value=MAX_MINOR, required=False, help_text="at a till only"
    )
    description = serializers.CharField(max_length=128, required=False, allow_blank=True)


class CheckoutReceiptOutput(serializers.Serializer):
    order_id = serializers.IntegerField()
    status = serializers.CharField()
    merchant = CheckoutMerchantOutput()
    amount = serializers.IntegerField()
    discount = serializers.IntegerField()
    paid_amount = serializers.IntegerField()
    currency = serializers.CharField()
    paid_at = serializers.DateTimeField()


def _receipt(order: Order) -> dict:
    return {
        "order_id": order.id,
        "status": order.status,
        "merchant": _merchant_view(order.merchant),
        "amount": order.amount,
        "discount": order.discount,
        "paid_amount": order.buyer_paid,
        "currency": order.currency,
        "paid_at": order.paid_at,
    }


class CheckoutPayView(APIView):
    @extend_schema(
        request=CheckoutPayInput,
        responses={200: CheckoutReceiptOutput, 201: CheckoutReceiptOutput},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Pay a scanned merchant QR (PIN, or none under the password-free limit)",
    )
    def post(self, request, token: str):
        from ..services.checkout import order_pay, till_pay

        validated = plain_validated(CheckoutPayInput, request.data)
        if validated is None:  # anything unusual: the serializer decides, and words the error
            data = CheckoutPayInput(data=request.data)
            data.is_valid(raise_exception=True)
            validated = data.validated_data
        pin = validated.get("pin") or None
        if token.startswith("o_") and len(token) <= 40:
            # An order's QR: order_pay reads it with everything the payment needs in one
            # statement, so it is not read here first.
            order = order_pay(token=token, payer=request.user, pin=pin)
            return Response(_receipt(order))
        target = _resolve(token)
        if isinstance(target, Merchant):
            amount = validated.get("amount")
            if amount is None:
                raise serializers.ValidationError({"amount": ["Type the amount to pay."]})
            key = request.headers.get("Idempotency-Key") or None
            if key is not None and (len(key) > 255 or not key.isprintable()):
                raise serializers.ValidationError(
                    {"Idempotency-Key": ["At most 255 printable characters."]}
                )
            order, created = till_pay(
                till_token=token,
                payer=request.user,
                amount=amount,
                pin=pin,
                client_key=key,
                description=validated.get("description", ""),
            )
            return Response(_receipt(order), status=201 if created else 200)
        raise NotFound("No such checkout.")


class CheckoutQrSvgView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.BINARY}, summary="QR (SVG)")
    def get(self, request, token: str):
        return HttpResponse(qr_images.qr_svg(_payload(token)), content_type="image/svg+xml")


class CheckoutQrPngView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY}, summary="QR (PNG)")
    def get(self, request, token: str):
        return HttpResponse(qr_images.qr_png(_payload(token)), content_type="image/png")


def _payload(token: str) -> str:
    target = _resolve(token)
    if isinstance(target, Merchant):
        return order_services.till_qr_payload(target)
    return order_services.qr_payload(target)


class PayCodeOutput(serializers.Serializer):
    code = serializers.CharField()
    expires_at = serializers.DateTimeField()
    expires_in = serializers.IntegerField()


class PayCodeCreateView(APIView):
    @extend_schema(request=None, responses={201: PayCodeOutput}, summary="A 60-second pay code")
    def post(self, request):
        from ..services.paycodes import TTL, pay_code_issue

        issued = pay_code_issue(user=request.user)
        return Response(
            {
                "code": issued.code,
                "expires_at": issued.expires_at,
                "expires_in": int(TTL.total_seconds()),
            },
            status=201,
        )
