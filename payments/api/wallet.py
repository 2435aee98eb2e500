"""Wallet REST: balances, statement (cursor pages + CSV), payment PIN."""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import InvalidInput
from config.pagination import decode_cursor, encode_cursor, parse_limit

from ..selectors import wallet_balances, wallet_statement
from ..services.pin import pin_free_limit_set, pin_is_set, pin_set


class WalletBalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.IntegerField(help_text="posted money, minor units")
    available = serializers.IntegerField(help_text="what can be spent now")
    pending = serializers.IntegerField(help_text="reserved by transfers not yet accepted")


class WalletOutput(serializers.Serializer):
    balances = WalletBalanceOutput(many=True)
    pin_set = serializers.BooleanField()


class WalletView(APIView):
    @extend_schema(responses=WalletOutput, summary="My balances per currency")
    def get(self, request):
        return Response(
            {"balances": wallet_balances(request.user.pk), "pin_set": pin_is_set(user=request.user)}
        )


class WalletEntryOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="posting id")
    entry_id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = serializers.IntegerField(help_text="signed: + in, - out")
    currency = serializers.CharField()
    balance_after = serializers.IntegerField(help_text="running balance after this line")
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class WalletEntriesPage(serializers.Serializer):
    results = WalletEntryOutput(many=True)
    next = serializers.CharField(allow_null=True)


_CURRENCY_PARAM = OpenApiParameter("currency", OpenApiTypes.STR, required=False)


def _currency_param(request) -> str | None:
    raw = request.query_params.get("currency")
    if raw in (None, ""):
        return None
    if len(raw) != 3 or not raw.isalpha():
        raise InvalidInput("currency is a 3-letter code.", fields={"currency": ["3 letters."]})
    return raw.upper()


def _entry_row(p) -> dict:
    return {
        "id": p.pk,
        "entry_id": p.entry_id,
        "kind": p.entry.kind,
        "amount": p.amount,
        "currency": p.currency,
        "balance_after": p.balance_after,
        "reference": p.entry.reference,
        "created_at": p.created_at,
    }


class WalletEntriesView(APIView):
    @extend_schema(
        parameters=[
            _CURRENCY_PARAM,
            OpenApiParameter("cursor", OpenApiTypes.STR, required=False),
            OpenApiParameter("limit", OpenApiTypes.INT, required=False),
        ],
        responses=WalletEntriesPage,
        summary="My statement, newest first, with running balance",
    )
    def get(self, request):
        limit = parse_limit(request.query_params.get("limit"))
        cursor = decode_cursor(request.query_params.get("cursor"))
        before = cursor.get("before") if cursor else None
        if before is not None and (
            isinstance(before, bool) or not isinstance(before, int) or not 0 < before < 2**63
        ):
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
        rows = list(
            wallet_statement(
                user_id=request.user.pk, currency=_currency_param(request), before_id=before
            )[: limit + 1]
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Response(
            {
                "results": [_entry_row(p) for p in rows],
                "next": encode_cursor({"before": rows[-1].pk}) if more and rows else None,
            }
        )


class _Echo:
    def write(self, value):
        return value


class WalletEntriesCsvView(APIView):
    @extend_schema(
        parameters=[_CURRENCY_PARAM],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="My whole statement as CSV",
    )
    def get(self, request):
        qs = wallet_statement(user_id=request.user.pk, currency=_currency_param(request))
        writer = csv.writer(_Echo())
        header = [
            "id",
            "entry_id",
            "created_at",
            "kind",
            "currency",
            "amount",
            "balance_after",
            "reference",
        ]

        def rows():
            yield writer.writerow(header)
            for p in qs.iterator(chunk_size=500):
                r = _entry_row(p)
                yield writer.writerow(
                    [r[h] if h != "created_at" else r[h].isoformat() for h in header]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="plaza-statement.csv"'
        return response


class WalletPinInput(serializers.Serializer):
    pin = serializers.RegexField(r"^[0-9]{6}$", required=False, help_text="the new 6-digit PIN")
    old_pin = serializers.CharField(required=False, max_length=6, min_length=6)
    otp_code = serializers.CharField(required=False, max_length=12)
    pin_free_limit = serializers.IntegerField(
        required=False, min_value=0, max_value=2**53, help_text="password-free up to (minor units)"
    )

    def validate(self, attrs):
        if "pin" not in attrs and "pin_free_limit" not in attrs:
            raise serializers.ValidationError({"pin": ["Give a new pin or a pin_free_limit."]})
        return attrs


class WalletPinOutput(serializers.Serializer):
    pin_set = serializers.BooleanField()
    pin_free_limit = serializers.IntegerField()


class WalletPinView(APIView):
    @extend_schema(
        request=WalletPinInput,
        responses=WalletPinOutput,
        summary="Set or change my payment PIN (a change needs old_pin or a fresh otp_code)",
    )
    def post(self, request):
        data = WalletPinInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        record = None
        if "pin" in v:
            record = pin_set(
                user=request.user,
                pin=v["pin"],
                old_pin=v.get("old_pin"),
                otp_code=v.get("otp_code"),
            )
        if "pin_free_limit" in v:
            record = pin_free_limit_set(user=request.user, limit=v["pin_free_limit"])
        return Response({"pin_set": True, "pin_free_limit": record.pin_free_limit})
