"""Top-ups REST and the Stripe webhook."""

from __future__ import annotations

import logging

import stripe
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import DomainError, InvalidInput, NotFound

from ..idempotency import IDEMPOTENCY_KEY_HEADER, idempotent
from ..models import TopUp
from ..services.topups import stripe_event_handle, topup_create

log = logging.getLogger(__name__)


class TopUpCreateInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    currency = serializers.CharField(min_length=3, max_length=3)


class TopUpOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    client_secret = serializers.CharField(help_text="confirm the PaymentIntent with the card")
    gateway = serializers.CharField(help_text='"stripe", or "sandbox" (development only)')
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()


def _topup_data(topup: TopUp) -> dict:
    return TopUpOutput(topup).data


class TopUpCreateView(APIView):
    @extend_schema(
        request=TopUpCreateInput,
        responses={201: TopUpOutput},
        parameters=[IDEMPOTENCY_KEY_HEADER],
        summary="Top up my wallet by card (Stripe PaymentIntent)",
    )
    @idempotent
    def post(self, request):
        data = TopUpCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        topup = topup_create(user=request.user, **data.validated_data)
        return Response(_topup_data(topup), status=201)


class TopUpDetailView(APIView):
    @extend_schema(responses=TopUpOutput, summary="One of my top-ups")
    def get(self, request, topup_id: int):
        topup = TopUp.objects.filter(pk=topup_id, user=request.user).first()
        if topup is None:
            raise NotFound("No such top-up.")
        return Response(_topup_data(topup))


class StripeWebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter("Stripe-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER)
        ],
        responses={200: OpenApiTypes.OBJECT},
        summary="Stripe events (signature-checked, each applied once)",
    )
    def post(self, request):
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise DomainError(
                "Stripe webhooks are not configured.", code="webhook_disabled", status=503
            )
        payload = request.body
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("Stripe-Signature"), secret, tolerance=300
            )
        except stripe.SignatureVerificationError:
            raise InvalidInput("The Stripe-Signature does not verify.", code="invalid_signature")
        except ValueError:
            raise InvalidInput("The payload is not a Stripe event.", code="invalid_payload")
        data = event.to_dict()
        result = stripe_event_handle(event=data)
        log.info("stripe event %s %s: %s", data.get("id"), data.get("type"), result)
        return Response({"received": True, "result": result})
