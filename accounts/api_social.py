"""REST edge for the friend graph, contact discovery and add-me codes."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import InvalidInput
from config.pagination import decode_cursor, encode_cursor, parse_limit
from config.qr import qr_response
from config.ratelimit import client_ip

from . import addme, discovery, friends, selectors

MAX_ID = 2**63 - 1


class SocialProfileOut(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()


class FriendRequestOut(serializers.Serializer):
    id = serializers.IntegerField()
    from_user = SocialProfileOut()
    to_user = SocialProfileOut()
    direction = serializers.ChoiceField(choices=["incoming", "outgoing"])
    message = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "accepted", "declined", "cancelled"])
    created_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)


class FriendRequestPage(serializers.Serializer):
    results = FriendRequestOut(many=True)
    next = serializers.CharField(allow_null=True)


def _cursor_id(request, key: str) -> int | None:
    cursor = decode_cursor(request.query_params.get("cursor"))
    if cursor is None:
        return None
    value = cursor.get(key)
    if not isinstance(value, int) or not (0 < value <= MAX_ID):
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    return value


class FriendRequestListCreateView(APIView):
    class FriendRequestCreateInput(serializers.Serializer):
        to_user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
        add_me_code = serializers.CharField(max_length=64, required=False)
        message = serializers.CharField(
            max_length=200, allow_blank=True, required=False, default=""
        )

        def validate(self, attrs):
            if ("to_user_id" in attrs) == ("add_me_code" in attrs):
                raise serializers.ValidationError(
                    {"to_user_id": ["Give exactly one of to_user_id and add_me_code."]}
                )
            return attrs

    @extend_schema(
        parameters=[
            OpenApiParameter("direction", str, enum=["incoming", "outgoing"]),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
        ],
        responses=FriendRequestPage,
    )
    def get(self, request):
        direction = request.query_params.get("direction", "incoming")
        if direction not in ("incoming", "outgoing"):
            raise InvalidInput(
                "direction is incoming or outgoing.",
                fields={"direction": ["Must be incoming or outgoing."]},
            )
        limit = parse_limit(request.query_params.get("limit"))
        rows = selectors.friend_requests_page(
            user_id=request.user.pk,
            direction=direction,
            before_id=_cursor_id(request, "b"),
            limit=limit,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Response(
            {
                "results": [
                    friends.request_event_body(fr, viewer_id=request.user.pk) for fr in rows
                ],
                "next": encode_cursor({"b": rows[-1].pk}) if more else None,
            }
        )

    @extend_schema(
        request=FriendRequestCreateInput,
        responses={201: FriendRequestOut, 200: FriendRequestOut},
        description=(
            "Send by `to_user_id` or by a scanned `add_me_code`. Sending twice answers 200 "
            "with the first request; if they already asked you, you become contacts and "
            "their request comes back `accepted` (200)."
        ),
    )
    def post(self, request):
        data = self.FriendRequestCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "add_me_code" in v:
            target = addme.add_me_code_resolve(viewer=request.user, code=v["add_me_code"])
            sent = friends.friend_request_send(
                from_user=request.user, to_user=target, message=v["message"]
            )
        else:
            sent = friends.friend_request_send(
                from_user=request.user, to_user_id=v["to_user_id"], message=v["message"]
            )
        body = friends.request_event_body(sent.request, viewer_id=request.user.pk)
        return Response(body, status=201 if sent.created else 200)


class FriendRequestCancelView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, request_id: int):
        friends.friend_request_cancel(user=request.user, request_id=request_id)
        return Response(status=204)


class FriendRequestAcceptView(APIView):
    @extend_schema(request=None, responses=FriendRequestOut)
    def post(self, request, request_id: int):
        fr = friends.friend_request_accept(user=request.user, request_id=request_id)
        return Response(friends.request_event_body(fr, viewer_id=request.user.pk))


class FriendRequestDeclineView(APIView):
    @extend_schema(request=None, responses=FriendRequestOut)
    def post(self, request, request_id: int):
        fr = friends.friend_request_decline(user=request.user, request_id=request_id)
        return Response(friends.request_event_body(fr, viewer_id=request.user.pk))


class ContactOut(serializers.Serializer):
    user = SocialProfileOut()
    since = serializers.DateTimeField()


class ContactPage(serializers.Serializer):
    results = ContactOut(many=True)
    next = serializers.CharField(allow_null=True)


class ContactListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses=ContactPage,
    )
    def get(self, request):
        limit = parse_limit(request.query_params.get("limit"), default=100, maximum=500)
        rows = selectors.contacts_page(
            user_id=request.user.pk, after_id=_cursor_id(request, "a"), limit=limit
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Response(
            {
                "results": [
                    {"user": selectors.public_profile(c.other), "since": c.created_at} for c in rows
                ],
                "next": encode_cursor({"a": rows[-1].pk}) if more else None,
            }
        )


class ContactDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, user_id: int):
        friends.contact_remove(user=request.user, other_id=user_id)
        return Response(status=204)


class BlockOut(serializers.Serializer):
    user = SocialProfileOut()
    since = serializers.DateTimeField()


class BlockPage(serializers.Serializer):
    results = BlockOut(many=True)
    next = serializers.CharField(allow_null=True)


class BlockListCreateView(APIView):
    class BlockCreateInput(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses=BlockPage,
    )
    def get(self, request):
        limit = parse_limit(request.query_params.get("limit"), default=100, maximum=500)
        rows = selectors.blocks_page(
            user_id=request.user.pk, after_id=_cursor_id(request, "a"), limit=limit
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Response(
            {
                "results": [
                    {"user": selectors.public_profile(b.blocked), "since": b.created_at}
                    for b in rows
                ],
                "next": encode_cursor({"a": rows[-1].pk}) if more else None,
            }
        )

    @extend_schema(request=BlockCreateInput, responses={201: BlockOut})
    def post(self, request):
        data = self.BlockCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        block = friends.block_create(user=request.user, other_id=data.validated_data["user_id"])
        return Response(
            {"user": selectors.public_profile(block.blocked), "since": block.created_at},
            status=201,
        )


class BlockDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, user_id: int):
        friends.block_remove(user=request.user, other_id=user_id)
        return Response(status=204)


class ContactDiscoverMatchOut(serializers.Serializer):
    phone_hash = serializers.CharField()
    user = SocialProfileOut()
    is_contact = serializers.BooleanField()


class ContactDiscoverView(APIView):
    class ContactDiscoverInput(serializers.Serializer):
        phone_hashes = serializers.ListField(
            child=serializers.RegexField(r"^[0-9a-fA-F]{64}$"),
            allow_empty=True,
        )

        def validate_phone_hashes(self, value):
            from django.conf import settings

            if len(value) > settings.CONTACT_DISCOVERY_MAX_BATCH:
                raise serializers.ValidationError(
                    f"At most {settings.CONTACT_DISCOVERY_MAX_BATCH} hashes per call."
                )
            return value

    @extend_schema(
        request=ContactDiscoverInput,
        responses=inline_serializer(
            "ContactDiscoverPage",
            {
                "results": ContactDiscoverMatchOut(many=True),
                "next": serializers.CharField(allow_null=True),
            },
        ),
        description=(
            "SHA-256 hex of E.164 numbers. Only people who turned on discoverable_by_phone "
            "are returned. New hashes count against a daily quota (429 "
            "discovery_quota_exceeded); hashes this account checked before are free."
        ),
    )
    def post(self, request):
        data = self.ContactDiscoverInput(data=request.data)
        data.is_valid(raise_exception=True)
        matches = discovery.contacts_discover(
            user=request.user,
            phone_hashes=data.validated_data["phone_hashes"],
            client_ip=client_ip(request),
        )
        return Response(
            {
                "results": [
                    {
                        "phone_hash": m.phone_hash,
                        "user": selectors.public_profile(m.user),
                        "is_contact": m.is_contact,
                    }
                    for m in matches
                ],
                "next": None,
            }
        )


class AddMeCodeOut(serializers.Serializer):
    code = serializers.CharField()
    url = serializers.CharField()
    qr_svg_url = serializers.CharField()
    qr_png_url = serializers.CharField()


def _add_me_body(request, code: str) -> dict:
    return {
        "code": code,
        "url": addme.add_me_url(code),
        "qr_svg_url": request.build_absolute_uri("/api/v1/me/qr.svg"),
        "qr_png_url": request.build_absolute_uri("/api/v1/me/qr.png"),
    }


class MyAddMeCodeView(APIView):
    @extend_schema(responses=AddMeCodeOut)
    def get(self, request):
        return Response(_add_me_body(request, addme.add_me_code_get(user=request.user)))


class MyAddMeCodeResetView(APIView):
    @extend_schema(request=None, responses=AddMeCodeOut)
    def post(self, request):
        return Response(_add_me_body(request, addme.add_me_code_reset(user=request.user)))


class _MyQrView(APIView):
    fmt = "svg"

    def get(self, request):
        code = addme.add_me_code_get(user=request.user)
        # Private and short-lived: a reset must show the new code within a minute.
        response = qr_response(addme.add_me_url(code), self.fmt, max_age=60, private=True)
        response["Vary"] = "Authorization"
        return response


class MyQrSvgView(_MyQrView):
    fmt = "svg"

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.BINARY})
    def get(self, request):
        return super().get(request)


class MyQrPngView(_MyQrView):
    fmt = "png"

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request):
        return super().get(request)


class AddMeResolveOut(serializers.Serializer):
    user = SocialProfileOut()
    is_contact = serializers.BooleanField()
    is_me = serializers.BooleanField()


class AddMeResolveView(APIView):
    @extend_schema(responses=AddMeResolveOut)
    def get(self, request, code: str):
        person = addme.add_me_code_resolve(viewer=request.user, code=code)
        return Response(
            {
                "user": selectors.public_profile(person),
                "is_contact": selectors.are_contacts(user_id=request.user.pk, other_id=person.pk),
                "is_me": person.pk == request.user.pk,
            }
        )
