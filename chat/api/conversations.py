"""REST: conversations and members."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from config.pagination import decode_cursor, encode_cursor, parse_limit

from .. import selectors
from ..services import conversations as services
from ..services import groups
from . import serializers as s


class ConversationListCreateView(APIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            OpenApiParameter("cursor", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=s.ConversationPage,
    )
    def get(self, request):
        limit = parse_limit(request.query_params.get("limit"), default=50, maximum=200)
        offset = (decode_cursor(request.query_params.get("cursor")) or {}).get("o", 0)
        if not isinstance(offset, int) or not 0 <= offset <= 10**9:
            offset = 0
        rows, more = selectors.conversation_summaries(request.user, offset=offset, limit=limit)
        nxt = encode_cursor({"o": offset + limit}) if more else None
        return Response({"results": rows, "next": nxt})

    @extend_schema(
        operation_id="conversations_create",
        request=s.ConversationCreateInput,
        responses={200: s.ConversationOut, 201: s.ConversationOut},
    )
    def post(self, request):
        data = s.ConversationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["kind"] == "direct":
            conv, created = services.conversation_get_or_create_direct(
                user=request.user, other_user_id=v["user_id"]
            )
        else:
            # Group management checks the contacts rule, the cap, and writes the system line.
            conv = groups.group_create(
                creator=request.user,
                title=v["title"],
                member_ids=v.get("member_ids", []),
                avatar_url=v.get("avatar_url", ""),
            )
            created = True
        body = selectors.conversation_detail(request.user, conv.pk)
        return Response(body, status=201 if created else 200)


class ConversationDetailView(APIView):
    @extend_schema(operation_id="conversations_retrieve", responses=s.ConversationOut)
    def get(self, request, conversation_id: int):
        return Response(selectors.conversation_detail(request.user, conversation_id))

    @extend_schema(
        operation_id="conversations_update",
        request=s.ConversationUpdateInput,
        responses=s.ConversationOut,
    )
    def patch(self, request, conversation_id: int):
        data = s.ConversationUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        own = {k: v.pop(k) for k in ("muted", "pinned") if k in v}
        selectors.conversation_for_member(request.user, conversation_id)
        if v:
            # Through group management: renames and announcements get a system line.
            groups.group_update(actor=request.user, conversation_id=conversation_id, **v)
        if own:
            services.membership_settings_update(
                user=request.user, conversation_id=conversation_id, **own
            )
        return Response(selectors.conversation_detail(request.user, conversation_id))


class ConversationMembersView(APIView):
    @extend_schema(operation_id="conversation_members_list", responses=s.ChatMemberList)
    def get(self, request, conversation_id: int):
        conv = selectors.conversation_for_member(request.user, conversation_id)
        return Response({"results": selectors.members(conv.pk), "next": None})

    @extend_schema(
        operation_id="conversation_members_add",
        request=s.ChatMembersAddInput,
        responses={201: s.ChatMembersAdded},
    )
    def post(self, request, conversation_id: int):
        # Any member may add people to a group; approval and roles are group management's.
        data = s.ChatMembersAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        conv = selectors.conversation_for_member(request.user, conversation_id)
        # Group management: only contacts, bans, approval mode, the cap, a system line.
        added = groups.group_members_add(
            actor=request.user, conversation_id=conv.pk, user_ids=data.validated_data["user_ids"]
        )
        return Response({"added": added}, status=201)


class ConversationMemberDetailView(APIView):
    @extend_schema(operation_id="conversation_members_remove", responses={204: None})
    def delete(self, request, conversation_id: int, user_id: int):
        conv = selectors.conversation_for_member(request.user, conversation_id)
        if user_id != request.user.pk:
            if conv.kind != "group" or not conv.membership.is_admin:
                raise NotFound("No such member.", code="member_not_found")
        elif conv.kind == "direct":
            raise NotFound("You cannot leave a direct chat.", code="direct_is_closed")
        # Group management: roles, owner hand-over on leaving, the counter, a system line.
        groups.group_member_remove(actor=request.user, conversation_id=conv.pk, user_id=user_id)
        return Response(status=204)
