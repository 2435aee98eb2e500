"""The merchant API (/api/merchant/v1/): signed requests from merchants' machines."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.plain_input import plain_validated

from ..models import Refund, WebhookDelivery
from ..services import orders as order_services
from ..services import webhooks as webhook_services
from .merchant_auth import IsSignedMerchant, MerchantSignatureAuthentication

MAX_MINOR = 10**12


class MerchantApiView(APIView):
    authentication_classes = [MerchantSignatureAuthentication]
    permission_classes = [IsSignedMerchant]

    @property
    def merchant(self):
        return self.request.user.merchant


class MerchantOrderOutput(serializers.Serializer):
    order_id = serializers.IntegerField()
    out_trade_no = serializers.CharField()
    kind = serializers.CharField(help_text="qr | till | pay_code")
    status = serializers.CharField(
        help_text="pending | paid | partially_refunded | refunded | closed | expired"
    )
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    description = serializers.CharField()
    fee = serializers.IntegerField()
    net_amount = serializers.IntegerField()
    discount = serializers.IntegerField()
    refunded_amount = serializers.IntegerField()
    qr_payload = serializers.CharField()
    qr_svg_url = serializers.CharField()
    qr_png_url = serializers.CharField()
    expires_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class MerchantOrderCreateInput(serializers.Serializer):
    out_trade_no = serializers.RegexField(r"^[A-Za-z0-9_\-.:]{1,64}$", max_length=64)
    amount = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$")
    description = serializers.CharField(max_length=128, required=False, allow_blank=True)
    notify_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    expires_in = serializers.IntegerField(min_value=30, max_value=7200, required=False)
    qr_format = serializers.ChoiceField(choices=["url", "emvco"], required=False, default="url")


class MerchantOrderCreateView(MerchantApiView):
    @extend_schema(
        request=MerchantOrderCreateInput,
        responses={201: MerchantOrderOutput, 200: MerchantOrderOutput},
        summary="Create a QR order (idempotent on out_trade_no)",
    )
    def post(self, request):
        fields = plain_validated(MerchantOrderCreateInput, request.data)
        if fields is None:  # anything unusual: the serializer decides, and words the error
            data = MerchantOrderCreateInput(data=request.data)
            data.is_valid(raise_exception=True)
            fields = data.validated_data
        order, created = order_services.order_create(merchant=self.merchant, **fields)
        return Response(order_services.order_view(order), status=201 if created else 200)


def refund_view(refund: Refund) -> dict:
    return {
        "refund_id": refund.id,
        "out_refund_no": refund.out_refund_no,
        "order_id": refund.order_id,
        "amount": refund.amount,
        "fee_returned": refund.fee_returned,
        "status": "succeeded",
        "created_at": refund.created_at.isoformat().replace("+00:00", "Z"),
    }


class MerchantRefundOutput(serializers.Serializer):
    refund_id = serializers.IntegerField()
    out_refund_no = serializers.CharField()
    order_id = serializers.IntegerField()
    amount = serializers.IntegerField()
    fee_returned = serializers.IntegerField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class MerchantOrderDetailOutput(MerchantOrderOutput):
    refunds = MerchantRefundOutput(many=True)


class MerchantOrderDetailView(MerchantApiView):
    @extend_schema(responses=MerchantOrderDetailOutput, summary="Query an order")
    def get(self, request, order_id: int):
        order = order_services.order_get(merchant=self.merchant, order_id=order_id)
        body = order_services.order_view(order)
        body["refunds"] = [refund_view(r) for r in order.refunds.order_by("id")]
        return Response(body)


class MerchantOrderCloseView(MerchantApiView):
    @extend_schema(request=None, responses=MerchantOrderOutput, summary="Close a pending order")
    def post(self, request, order_id: int):
        order = order_services.order_close(merchant=self.merchant, order_id=order_id)
        return Response(order_services.order_view(order))


class MerchantRefundInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
    out_refund_no = serializers.RegexField(r"^[A-Za-z0-9_\-.:]{1,64}$", max_length=64)


class MerchantRefundCreateView(MerchantApiView):
    @extend_schema(
        request=MerchantRefundInput,
        responses={201: MerchantRefundOutput, 200: MerchantRefundOutput},
        summary="Refund part or all of a paid order (idempotent on out_refund_no)",
    )
    def post(self, request, order_id: int):
        from ..services.checkout import order_refund

        data = MerchantRefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund, created = order_refund(
            merchant=self.merchant, order_id=order_id, **data.validated_data
        )
        return Response(refund_view(refund), status=201 if created else 200)


class MerchantChargeInput(serializers.Serializer):
    pay_code = serializers.RegexField(r"^[0-9]{18}$")
    amount = serializers.IntegerField(min_value=1, max_value=MAX_MINOR)
    out_trade_no = serializers.RegexField(r"^[A-Za-z0-9_\-.:]{1,64}$", max_length=64)


class MerchantChargeView(MerchantApiView):
    @extend_schema(
        request=MerchantChargeInput,
        responses={201: MerchantOrderOutput, 200: MerchantOrderOutput},
        summary="Charge a buyer's pay code (idempotent on out_trade_no)",
    )
    def post(self, request):
        from ..services.checkout import pay_code_charge

        data = MerchantChargeInput(data=request.data)
        data.is_valid(raise_exception=True)
        order, created = pay_code_charge(merchant=self.merchant, **data.validated_data)
        return Response(order_services.order_view(order), status=201 if created else 200)


def delivery_view(delivery: WebhookDelivery) -> dict:
    def ts(v):
        return v.isoformat().replace("+00:00", "Z") if v else None

    return {
        "id": delivery.id,
        "event": delivery.event,
        "event_id": delivery.payload.get("id"),
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": ts(delivery.next_attempt_at),
        "delivered_at": ts(delivery.delivered_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": ts(delivery.created_at),
        "log": [
            {
                "number": a.number,
                "at": ts(a.started_at),
                "duration_ms": a.duration_ms,
                "status_code": a.status_code,
                "error": a.error,
            }
            for a in delivery.log.all()
        ],
    }


class MerchantWebhookAttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()


class MerchantWebhookDeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    event_id = serializers.CharField()
    url = serializers.CharField()
    status = serializers.CharField(help_text="pending | delivered | failed")
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    log = MerchantWebhookAttemptOutput(many=True)


class MerchantWebhookDeliveryList(serializers.Serializer):
    results = MerchantWebhookDeliveryOutput(many=True)
    next = serializers.CharField(allow_null=True)


class MerchantOrderWebhooksView(MerchantApiView):
    @extend_schema(
        responses=MerchantWebhookDeliveryList,
        summary="The webhook delivery log of an order",
    )
    def get(self, request, order_id: int):
        order = order_services.order_get(merchant=self.merchant, order_id=order_id)
        deliveries = (
            WebhookDelivery.objects.filter(order=order).prefetch_related("log").order_by("id")[:100]
        )
        return Response({"results": [delivery_view(d) for d in deliveries], "next": None})


class MerchantWebhookResendView(MerchantApiView):
    @extend_schema(
        request=None, responses={202: MerchantWebhookDeliveryOutput}, summary="Send a webhook again"
    )
    def post(self, request, order_id: int, delivery_id: int):
        delivery = webhook_services.webhook_resend(
            merchant=self.merchant, order_id=order_id, delivery_id=delivery_id
        )
        delivery.refresh_from_db()
        return Response(delivery_view(delivery), status=202)


class MerchantTillOutput(serializers.Serializer):
    merchant_id = serializers.IntegerField()
    name = serializers.CharField()
    currency = serializers.CharField()
    fee_bps = serializers.IntegerField()
    qr_payload = serializers.CharField()
    emvco_payload = serializers.CharField()
    qr_svg_url = serializers.CharField()
    qr_png_url = serializers.CharField()


class MerchantTillView(MerchantApiView):
    @extend_schema(responses=MerchantTillOutput, summary="This merchant and its static till QR")
    def get(self, request):
        m = self.merchant
        api_url = order_services.checkout_api_url(m.till_token)
        return Response(
            {
                "merchant_id": m.id,
                "name": m.name,
                "currency": m.currency,
                "fee_bps": m.fee_bps,
                "qr_payload": order_services.checkout_url(m.till_token),
                "emvco_payload": order_services.till_qr_payload(m, qr_format="emvco"),
                "qr_svg_url": api_url + "/qr.svg",
                "qr_png_url": api_url + "/qr.png",
            }
        )
