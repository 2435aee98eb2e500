"""REST edge for group management and invites: parse, call one service, render."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import public_profile
from config.qr import qr_response

from ..services import groups, invites

BIGINT = 2**63 - 1


class GroupPublicUser(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()


# --- invites ---------------------------------------------------------------------------


class InviteCreatedOut(serializers.Serializer):
    id = serializers.IntegerField()
    token = serializers.CharField()
    url = serializers.CharField()
    qr_svg_url = serializers.CharField()
    qr_png_url = serializers.CharField()
    expires_at = serializers.DateTimeField()
    max_uses = serializers.IntegerField(allow_null=True)
    use_count = serializers.IntegerField()


class InviteListItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    created_by = GroupPublicUser(allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    max_uses = serializers.IntegerField(allow_null=True)
    use_count = serializers.IntegerField()


class InviteListOut(serializers.Serializer):
    results = InviteListItemOut(many=True)
    next = serializers.CharField(allow_null=True)


class InvitePreviewOut(serializers.Serializer):
    title = serializers.CharField()
    avatar_url = serializers.CharField()
    member_count = serializers.IntegerField()
    inviter = GroupPublicUser(allow_null=True)
    expires_at = serializers.DateTimeField()
    requires_approval = serializers.BooleanField()
    is_member = serializers.BooleanField()
    conversation_id = serializers.IntegerField(allow_null=True)


class InviteJoinOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["joined", "already_member", "pending_approval"])
    conversation_id = serializers.IntegerField()
    request_id = serializers.IntegerField(allow_null=True)


def _qr_urls(request, token: str) -> dict:
    base = request.build_absolute_uri(f"/api/v1/invites/{token}")
    return {"qr_svg_url": f"{base}/qr.svg", "qr_png_url": f"{base}/qr.png"}


class ConversationInvitesView(APIView):
    class InviteCreateInput(serializers.Serializer):
        expires_in = serializers.IntegerField(
            required=False, allow_null=True, min_value=60, max_value=BIGINT
        )
        max_uses = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=100_000
        )

    @extend_schema(
        operation_id="conversation_invites_create",
        request=InviteCreateInput,
        responses={201: InviteCreatedOut},
        description="The token is shown only here; the server keeps its digest.",
    )
    def post(self, request, conversation_id: int):
        data = self.InviteCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = invites.invite_create(
            actor=request.user,
            conversation_id=conversation_id,
            expires_in=data.validated_data.get("expires_in"),
            max_uses=data.validated_data.get("max_uses"),
        )
        inv = created.invite
        body = {
            "id": inv.pk,
            "token": created.token,
            "url": invites.invite_url(created.token),
            **_qr_urls(request, created.token),
            "expires_at": inv.expires_at,
            "max_uses": inv.max_uses,
            "use_count": inv.use_count,
        }
        return Response(body, status=201)

    @extend_schema(operation_id="conversation_invites_list", responses=InviteListOut)
    def get(self, request, conversation_id: int):
        rows = invites.invites_for(actor=request.user, conversation_id=conversation_id)
        return Response(
            {
                "results": [
                    {
                        "id": i.pk,
                        "created_by": public_profile(i.created_by) if i.created_by else None,
                        "created_at": i.created_at,
                        "expires_at": i.expires_at,
                        "max_uses": i.max_uses,
                        "use_count": i.use_count,
                    }
                    for i in rows
                ],
                "next": None,
            }
        )


class ConversationInviteDetailView(APIView):
    @extend_schema(operation_id="conversation_invites_revoke", responses={204: None})
    def delete(self, request, conversation_id: int, invite_id: int):
        invites.invite_revoke_by_id(
            actor=request.user, conversation_id=conversation_id, invite_id=invite_id
        )
        return Response(status=204)


class InviteDetailView(APIView):
    @extend_schema(operation_id="invite_preview", responses=InvitePreviewOut)
    def get(self, request, token: str):
        invite = invites.invite_for_viewer(viewer=request.user, token=token)
        return Response(invites.invite_preview(invite))

    @extend_schema(operation_id="invite_revoke", responses={204: None})
    def delete(self, request, token: str):
        invites.invite_revoke_by_token(actor=request.user, token=token)
        return Response(status=204)


class InviteJoinView(APIView):
    @extend_schema(
        operation_id="invite_join",
        request=None,
        responses={200: InviteJoinOut, 202: InviteJoinOut},
        description=(
            "200 joined or already_member (idempotent); 202 pending_approval. Errors: "
            "invite_not_found 404, invite_expired / invite_revoked / invite_used_up 410, "
            "banned_from_group 403, group_full 409, join_approval_pending 409, "
            "rate_limited 429."
        ),
    )
    def post(self, request, token: str):
        result = invites.invite_join(user=request.user, token=token)
        body = {
            "status": result.status,
            "conversation_id": result.conversation_id,
            "request_id": result.request_id,
        }
        return Response(body, status=202 if result.status == "pending_approval" else 200)


class _InviteQrView(APIView):
    fmt = "svg"

    def get(self, request, token: str):
        invite = invites.invite_for_viewer(viewer=request.user, token=token)
        remaining = (invite.expires_at - timezone.now()).total_seconds()
        # Cached at most a day and never past the invite's own expiry; private because
        # the image is a bearer credential for the group.
        response = qr_response(
            invites.invite_url(token),
            self.fmt,
            max_age=int(min(86400, max(0, remaining))),
            private=True,
            expires=invite.expires_at,
        )
        response["ETag"] = f'"{invites.token_digest(token)[:16]}-{self.fmt}"'
        return response


class InviteQrSvgView(_InviteQrView):
    fmt = "svg"

    @extend_schema(
        operation_id="invite_qr_svg", responses={(200, "image/svg+xml"): OpenApiTypes.BINARY}
    )
    def get(self, request, token: str):
        return super().get(request, token)


class InviteQrPngView(_InviteQrView):
    fmt = "png"

    @extend_schema(
        operation_id="invite_qr_png", responses={(200, "image/png"): OpenApiTypes.BINARY}
    )
    def get(self, request, token: str):
        return super().get(request, token)


# --- group management ------------------------------------------------------------------


class GroupMemberRoleView(APIView):
    class GroupRoleInput(serializers.Serializer):
        role = serializers.ChoiceField(choices=["admin", "member"])

    class GroupRoleOut(serializers.Serializer):
        user_id = serializers.IntegerField()
        role = serializers.CharField()

    @extend_schema(
        operation_id="group_member_role_set", request=GroupRoleInput, responses=GroupRoleOut
    )
    def post(self, request, conversation_id: int, user_id: int):
        data = self.GroupRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        m = groups.group_role_set(
            actor=request.user,
            conversation_id=conversation_id,
            user_id=user_id,
            role=data.validated_data["role"],
        )
        return Response({"user_id": m.user_id, "role": m.role})


class GroupOwnerTransferView(APIView):
    class GroupOwnerTransferInput(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=BIGINT)

    @extend_schema(
        operation_id="group_owner_transfer", request=GroupOwnerTransferInput, responses={204: None}
    )
    def post(self, request, conversation_id: int):
        data = self.GroupOwnerTransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        groups.group_transfer_ownership(
            actor=request.user,
            conversation_id=conversation_id,
            user_id=data.validated_data["user_id"],
        )
        return Response(status=204)


class GroupLeaveView(APIView):
    @extend_schema(operation_id="group_leave", request=None, responses={204: None})
    def post(self, request, conversation_id: int):
        groups.group_leave(user=request.user, conversation_id=conversation_id)
        return Response(status=204)


class GroupBanOut(serializers.Serializer):
    user = GroupPublicUser()
    since = serializers.DateTimeField()


class GroupBansView(APIView):
    class GroupBanInput(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=BIGINT)

    class GroupBanPage(serializers.Serializer):
        results = GroupBanOut(many=True)
        next = serializers.CharField(allow_null=True)

    @extend_schema(operation_id="group_bans_create", request=GroupBanInput, responses={204: None})
    def post(self, request, conversation_id: int):
        data = self.GroupBanInput(data=request.data)
        data.is_valid(raise_exception=True)
        groups.group_member_remove(
            actor=request.user,
            conversation_id=conversation_id,
            user_id=data.validated_data["user_id"],
            ban=True,
        )
        return Response(status=204)

    @extend_schema(operation_id="group_bans_list", responses=GroupBanPage)
    def get(self, request, conversation_id: int):
        rows = groups.group_bans(actor=request.user, conversation_id=conversation_id)
        return Response(
            {
                "results": [{"user": public_profile(b.user), "since": b.created_at} for b in rows],
                "next": None,
            }
        )


class GroupBanDetailView(APIView):
    @extend_schema(operation_id="group_bans_remove", responses={204: None})
    def delete(self, request, conversation_id: int, user_id: int):
        groups.group_unban(actor=request.user, conversation_id=conversation_id, user_id=user_id)
        return Response(status=204)


class GroupSettingsOut(serializers.Serializer):
    member_count = serializers.IntegerField()
    max_members = serializers.IntegerField()
    join_approval = serializers.BooleanField()
    invites_admins_only = serializers.BooleanField()


def _settings_body(policy) -> dict:
    return {
        "member_count": policy.member_count,
        "max_members": policy.max_members,
        "join_approval": policy.join_approval,
        "invites_admins_only": policy.invites_admins_only,
    }


class GroupSettingsView(APIView):
    class GroupSettingsInput(serializers.Serializer):
        join_approval = serializers.BooleanField(required=False)
        invites_admins_only = serializers.BooleanField(required=False)

    @extend_schema(operation_id="group_settings_get", responses=GroupSettingsOut)
    def get(self, request, conversation_id: int):
        policy = groups.group_settings_get(user=request.user, conversation_id=conversation_id)
        return Response(_settings_body(policy))

    @extend_schema(
        operation_id="group_settings_update", request=GroupSettingsInput, responses=GroupSettingsOut
    )
    def patch(self, request, conversation_id: int):
        data = self.GroupSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        policy = groups.group_settings_update(
            actor=request.user, conversation_id=conversation_id, **data.validated_data
        )
        return Response(_settings_body(policy))


class GroupJoinRequestOut(serializers.Serializer):
    id = serializers.IntegerField()
    user = GroupPublicUser()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


def _join_request_body(jr) -> dict:
    return {
        "id": jr.pk,
        "user": public_profile(jr.user),
        "status": jr.status,
        "created_at": jr.created_at,
    }


class GroupJoinRequestsView(APIView):
    class GroupJoinRequestPage(serializers.Serializer):
        results = GroupJoinRequestOut(many=True)
        next = serializers.CharField(allow_null=True)

    @extend_schema(operation_id="group_join_requests_list", responses=GroupJoinRequestPage)
    def get(self, request, conversation_id: int):
        rows = groups.join_requests_pending(actor=request.user, conversation_id=conversation_id)
        return Response({"results": [_join_request_body(jr) for jr in rows], "next": None})


class GroupJoinRequestApproveView(APIView):
    approve = True

    @extend_schema(
        operation_id="group_join_requests_approve", request=None, responses=GroupJoinRequestOut
    )
    def post(self, request, conversation_id: int, request_id: int):
        jr = groups.join_request_decide(
            actor=request.user,
            conversation_id=conversation_id,
            request_id=request_id,
            approve=self.approve,
        )
        return Response(_join_request_body(jr))


class GroupJoinRequestRejectView(GroupJoinRequestApproveView):
    approve = False

    @extend_schema(
        operation_id="group_join_requests_reject", request=None, responses=GroupJoinRequestOut
    )
    def post(self, request, conversation_id: int, request_id: int):
        return super().post(request, conversation_id, request_id)
