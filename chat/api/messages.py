"""REST: history, send, edit, recall, hide, read receipts, sync."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import InvalidInput
from config.pagination import parse_limit

from .. import selectors
from ..ratelimits import check_send_rate
from ..services import messages as services
from ..services.stream import render_message
from . import serializers as s

BIGINT = 2**63 - 1


def _seq_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= BIGINT:
        raise InvalidInput(f"{name} is a message seq.", fields={name: ["Not a seq."]})
    return value


class MessageListCreateView(APIView):
    @extend_schema(
        operation_id="conversation_messages_list",
        parameters=[
            OpenApiParameter("before_seq", int, required=False),
            OpenApiParameter("after_seq", int, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=s.ChatMessagePage,
    )
    def get(self, request, conversation_id: int):
        before, after = _seq_param(request, "before_seq"), _seq_param(request, "after_seq")
        limit = parse_limit(request.query_params.get("limit"), default=50, maximum=200)
        rows, more = selectors.messages_page(
            request.user, conversation_id, before_seq=before, after_seq=after, limit=limit
        )
        nxt = None
        if more:
            nxt = str(rows[-1].seq)
        return Response({"results": [render_message(m) for m in rows], "next": nxt})

    @extend_schema(
        operation_id="conversation_messages_send",
        request=s.MessageSendInput,
        responses={200: s.ChatMessageOut, 201: s.ChatMessageOut},
    )
    def post(self, request, conversation_id: int):
        data = s.MessageSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        selectors.conversation_for_member(request.user, conversation_id)
        check_send_rate(request.user.pk)
        message = services.message_send(
            sender=request.user,
            conversation_id=conversation_id,
            client_id=v["client_id"],
            kind=v["kind"],
            text=v.get("text", ""),
            payload=v.get("payload"),
            reply_to_seq=v.get("reply_to_seq"),
            mentions=v.get("mentions"),
        )
        return Response(render_message(message), status=201)


class MessageDetailView(APIView):
    @extend_schema(
        operation_id="conversation_messages_edit",
        request=s.MessageEditInput,
        responses=s.ChatMessageOut,
    )
    def patch(self, request, conversation_id: int, seq: int):
        data = s.MessageEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(
            user=request.user,
            conversation_id=conversation_id,
            seq=seq,
            text=data.validated_data["text"],
        )
        return Response(render_message(message))

    @extend_schema(
        operation_id="conversation_messages_recall",
        parameters=[
            OpenApiParameter(
                "for", str, required=False, enum=["everyone", "me"], description="me = hide"
            )
        ],
        responses={200: s.ChatMessageOut, 204: None},
    )
    def delete(self, request, conversation_id: int, seq: int):
        if request.query_params.get("for") == "me":
            services.message_hide(user=request.user, conversation_id=conversation_id, seq=seq)
            return Response(status=204)
        message = services.message_recall(
            user=request.user, conversation_id=conversation_id, seq=seq
        )
        return Response(render_message(message))


class ReadReceiptView(APIView):
    @extend_schema(
        operation_id="conversation_read",
        request=s.ReadReceiptInput,
        responses=s.ReadReceiptOut,
    )
    def post(self, request, conversation_id: int):
        data = s.ReadReceiptInput(data=request.data)
        data.is_valid(raise_exception=True)
        seq = services.read_mark(
            user_id=request.user.pk,
            conversation_id=conversation_id,
            seq=data.validated_data["seq"],
        )
        return Response({"conversation_id": conversation_id, "seq": seq})


class DeliveredReceiptView(APIView):
    @extend_schema(
        operation_id="conversation_delivered",
        request=s.ReadReceiptInput,
        responses=s.ReadReceiptOut,
    )
    def post(self, request, conversation_id: int):
        data = s.ReadReceiptInput(data=request.data)
        data.is_valid(raise_exception=True)
        seq = services.delivered_mark(
            user_id=request.user.pk,
            conversation_id=conversation_id,
            seq=data.validated_data["seq"],
        )
        return Response({"conversation_id": conversation_id, "seq": seq})


class SyncView(APIView):
    @extend_schema(
        operation_id="chat_sync",
        parameters=[
            OpenApiParameter("since", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=s.ChatSyncOut,
    )
    def get(self, request):
        since = request.query_params.get("since")
        if not since:
            cursor = selectors.sync_cursor_now(request.user.pk)
            return Response({"events": [], "cursor": cursor, "has_more": False})
        if len(since) > 64 * 1024:
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
        limit = parse_limit(
            request.query_params.get("limit"), default=200, maximum=selectors.MAX_SYNC_PAGE
        )
        return Response(selectors.sync_page(request.user.pk, since, limit=limit))
