"""REST: red packets in conversations."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.idempotency import IDEMPOTENCY_KEY_HEADER, idempotent

from ..services import money
from ..services.stream import render_message

MAX_AMOUNT = 2**62


class RedPacketSendInput(serializers.Serializer):
    total = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT)
    count = serializers.IntegerField(min_value=1, max_value=10_000)
    split = serializers.ChoiceField(choices=["random", "equal"], default="random")
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD")
    greeting = serializers.CharField(max_length=100, allow_blank=True, default="")
    pin = serializers.RegexField(r"^\d{6}$", required=False, allow_blank=True)


class RedPacketClaimOut(serializers.Serializer):
    red_packet_id = serializers.IntegerField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()


RedPacketDetailOut = inline_serializer(
    "RedPacketDetail",
    {
        "id": serializers.IntegerField(),
        "conversation_id": serializers.IntegerField(),
        "total": serializers.IntegerField(),
        "count": serializers.IntegerField(),
        "currency": serializers.CharField(),
        "split": serializers.CharField(),
        "greeting": serializers.CharField(),
        "status": serializers.CharField(),
        "claimed_count": serializers.IntegerField(),
        "claimed_amount": serializers.IntegerField(),
        "refunded_amount": serializers.IntegerField(),
        "my_amount": serializers.IntegerField(allow_null=True),
        "expires_at": serializers.DateTimeField(),
        "sender": serializers.DictField(),
        "claims": serializers.ListField(child=serializers.DictField()),
        "luckiest": serializers.DictField(allow_null=True),
    },
)


class RedPacketSendView(APIView):
    @extend_schema(
        operation_id="red_packet_send",
        request=RedPacketSendInput,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={
            201: inline_serializer(
                "RedPacketSent",
                {"red_packet": RedPacketDetailOut, "message": serializers.DictField()},
            )
        },
    )
    @idempotent
    def post(self, request, conversation_id: int):
        data = RedPacketSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        packet, message = money.red_packet_send(
            sender=request.user,
            conversation_id=conversation_id,
            total=v["total"],
            count=v["count"],
            split=v["split"],
            currency=v["currency"],
            greeting=v["greeting"],
            pin=v.get("pin") or None,
        )
        detail = money.red_packet_detail(user=request.user, packet_id=packet.pk)
        return Response({"red_packet": detail, "message": render_message(message)}, status=201)


class RedPacketClaimView(APIView):
    @extend_schema(
        operation_id="red_packet_claim",
        request=None,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: RedPacketClaimOut},
    )
    @idempotent
    def post(self, request, packet_id: int):
        share = money.red_packet_grab(user=request.user, packet_id=packet_id)
        packet = share.packet
        return Response(
            {"red_packet_id": packet_id, "amount": share.amount, "currency": packet.currency},
            status=201,
        )


class RedPacketDetailView(APIView):
    @extend_schema(operation_id="red_packet_detail", responses=RedPacketDetailOut)
    def get(self, request, packet_id: int):
        return Response(money.red_packet_detail(user=request.user, packet_id=packet_id))
