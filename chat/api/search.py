"""REST: GET /api/v1/search/messages — full-text search of my own history."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import parse_limit
from config.ratelimit import check_rate

from .. import selectors_search
from .serializers import ChatMessageOut

BIGINT = 2**63 - 1


class MessageSearchQuery(serializers.Serializer):
    q = serializers.CharField(max_length=selectors_search.MAX_QUERY, trim_whitespace=True)
    conversation_id = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)
    # `from` is a Python keyword: declared below under its real name.
    before = serializers.DateTimeField(required=False)
    cursor = serializers.CharField(max_length=500, required=False)


MessageSearchQuery._declared_fields["from"] = serializers.IntegerField(
    min_value=1, max_value=BIGINT, required=False
)


class MessageSearchHitOut(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField()
    rank = serializers.FloatField()
    snippet = serializers.CharField(
        help_text="HTML-escaped text around the match; matches wrapped in <mark>…</mark>."
    )
    message = ChatMessageOut()


class MessageSearchPage(serializers.Serializer):
    results = MessageSearchHitOut(many=True)
    next = serializers.CharField(allow_null=True)


class MessageSearchView(APIView):
    @extend_schema(
        operation_id="search_messages",
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description='websearch syntax: words, "a phrase", -exclude, or',
            ),
            OpenApiParameter("conversation_id", int, required=False),
            OpenApiParameter("from", int, required=False, description="sender user id"),
            OpenApiParameter("before", str, required=False, description="RFC 3339 timestamp"),
            OpenApiParameter("cursor", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=MessageSearchPage,
    )
    def get(self, request):
        data = MessageSearchQuery(data=request.query_params)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        limit = parse_limit(request.query_params.get("limit"), default=20, maximum=50)
        check_rate("chat-search", str(request.user.pk), settings.CHAT_SEARCH_RATE)
        hits, nxt = selectors_search.message_search(
            user=request.user,
            q=v["q"],
            conversation_id=v.get("conversation_id"),
            sender_id=v.get("from"),
            before=v.get("before"),
            cursor=v.get("cursor"),
            limit=limit,
        )
        return Response({"results": [selectors_search.render_hit(h) for h in hits], "next": nxt})
