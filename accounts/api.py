"""REST edge for identity: parse, call one service, render."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.ratelimit import client_ip

from . import privacy, selectors, services
from .models import User

LANGUAGES = {
    "en",
    "zh",
    "zh-Hans",
    "zh-Hant",
    "ja",
    "ko",
    "es",
    "fr",
    "de",
    "pt",
    "it",
    "ru",
    "ar",
    "hi",
    "id",
    "ms",
    "th",
    "vi",
    "tr",
    "nl",
    "pl",
    "sv",
    "uk",
    "he",
    "fa",
    "bn",
    "ta",
    "tl",
}


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\n" for ch in value) or "\x7f" in value:
        raise serializers.ValidationError("Control characters are not allowed.")
    return value


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "phone",
            "display_name",
            "avatar_url",
            "bio",
            "region",
            "language",
            "time_zone",
            "birth_year",
            "gender",
            "discoverable_by_phone",
            "date_joined",
        ]
        read_only_fields = ["id", "phone", "date_joined"]


# A ModelSerializer builds its fields from the model each time one is made (~0.6 ms, the
# largest cost of GET /me after authentication). Rendering reads nothing but the object it
# is given, so one instance's fields serve every request (the first use builds them).
_user_out = UserSerializer()


def user_data(user: User) -> dict:
    """The person as the API shows them (UserSerializer's representation)."""
    return _user_out.to_representation(user)


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(
        max_length=64, allow_blank=True, required=False, validators=[_no_control_chars]
    )
    avatar_url = serializers.URLField(max_length=500, allow_blank=True, required=False)
    bio = serializers.CharField(
        max_length=280, allow_blank=True, required=False, validators=[_no_control_chars]
    )
    region = serializers.RegexField(r"^[A-Z]{2}$", allow_blank=True, required=False)
    language = serializers.ChoiceField(choices=sorted(LANGUAGES), allow_blank=True, required=False)
    time_zone = serializers.CharField(max_length=64, allow_blank=True, required=False)
    birth_year = serializers.IntegerField(allow_null=True, required=False)
    gender = serializers.ChoiceField(choices=User.Gender.choices, allow_blank=True, required=False)
    discoverable_by_phone = serializers.BooleanField(required=False)

    def validate_time_zone(self, value: str) -> str:
        if value and value not in zoneinfo.available_timezones():
            raise serializers.ValidationError("Not an IANA time zone, e.g. Asia/Shanghai.")
        return value

    def validate_birth_year(self, value: int | None) -> int | None:
        if value is None:
            return value
        this_year = timezone.now().year
        if not (this_year - 120 <= value <= this_year - 13):
            raise serializers.ValidationError(
                f"Must be between {this_year - 120} and {this_year - 13} (age 13 to 120)."
            )
        return value


class OtpRequestView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OtpRequestInput(serializers.Serializer):
        phone = serializers.CharField(max_length=32)

    @extend_schema(
        request=OtpRequestInput,
        responses={
            202: inline_serializer(
                "OtpSent",
                {"phone": serializers.CharField(), "expires_at": serializers.DateTimeField()},
            )
        },
    )
    def post(self, request):
        data = self.OtpRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        sent = services.otp_request(
            phone=data.validated_data["phone"], client_ip=client_ip(request)
        )
        body = {"phone": sent.phone, "expires_at": sent.expires_at}
        if sent.debug_code:
            body["debug_code"] = sent.debug_code
        return Response(body, status=202)


class TokenView(APIView):
    class TokenRequestInput(serializers.Serializer):
        phone = serializers.CharField(max_length=32)
        code = serializers.RegexField(
            r"^\d{6}$", error_messages={"invalid": "The code is 6 digits."}
        )
        device = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        platform = serializers.ChoiceField(
            choices=["ios", "android", "web", "other"], required=False, default="other"
        )

    def get_authenticators(self):
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self):
        if self.request is not None and self.request.method == "POST":
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(
        request=TokenRequestInput,
        responses={
            201: inline_serializer(
                "TokenIssued", {"token": serializers.CharField(), "user": UserSerializer()}
            )
        },
        auth=[],
    )
    def post(self, request):
        data = self.TokenRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.otp_login(
            phone=v["phone"],
            code=v["code"],
            device_name=v["device"],
            platform=v["platform"],
            client_ip=client_ip(request),
        )
        return Response(
            {
                "token": result.token,
                "user": user_data(result.user),
                "device_id": result.device.pk,
                "created": result.created,
            },
            status=201,
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        services.device_revoke(user=request.user, device_id=request.auth.pk)
        return Response(status=204)


class MeView(APIView):
    @extend_schema(responses=UserSerializer)
    def get(self, request):
        return Response(user_data(request.user))

    @extend_schema(request=ProfileUpdateSerializer, responses=UserSerializer)
    def patch(self, request):
        data = ProfileUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.profile_update(user=request.user, **data.validated_data)
        return Response(user_data(user))

    @extend_schema(
        request=None,
        responses={204: None},
        description="Erase my account: profile, contacts, devices and tokens, the content "
        "of messages I sent. Money history stays, detached from me. See docs/PRIVACY.md.",
    )
    def delete(self, request):
        privacy.account_erase(user=request.user)
        return Response(status=204)


class DeviceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    platform = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    current = serializers.SerializerMethodField()

    def get_current(self, obj) -> bool:
        return obj.pk == self.context["current_id"]


class DeviceListView(APIView):
    @extend_schema(responses=DeviceSerializer(many=True))
    def get(self, request):
        devices = selectors.user_devices(user=request.user)
        data = DeviceSerializer(devices, many=True, context={"current_id": request.auth.pk}).data
        return Response({"results": data, "next": None})


class DeviceDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, device_id: int):
        services.device_revoke(user=request.user, device_id=device_id)
        return Response(status=204)


class PushTokenView(APIView):
    class PushTokenInput(serializers.Serializer):
        push_token = serializers.CharField(max_length=500, allow_blank=True)

    @extend_schema(request=PushTokenInput, responses={204: None})
    def put(self, request):
        data = self.PushTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.device_set_push_token(
            device=request.auth, push_token=data.validated_data["push_token"]
        )
        return Response(status=204)
