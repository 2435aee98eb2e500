"""REST: backups (create, status, download, restore) and disappearing messages."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import InvalidInput, NotFound

from ..models import ChatBackup
from ..selectors import conversation_for_member
from ..services import backups, disappearing
from ..services.stream import iso


class ChatBackupOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ChatBackup.Status.choices)
    created_at = serializers.CharField()
    finished_at = serializers.CharField(allow_null=True)
    expires_at = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_blank=True)
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    download_url = serializers.CharField(allow_null=True)


def render_backup(request, backup: ChatBackup) -> dict:
    url = None
    if backup.status == ChatBackup.Status.READY:
        url = request.build_absolute_uri(
            f"/api/v1/backups/{backup.pk}/download?token={backups.download_token(backup)}"
        )
    return {
        "id": backup.pk,
        "status": backup.status,
        "created_at": iso(backup.created_at),
        "finished_at": iso(backup.finished_at),
        "expires_at": iso(backup.expires_at),
        "size": backup.size,
        "sha256": backup.sha256,
        "conversations": backup.conversations,
        "messages": backup.messages,
        "error": backup.error,
        "download_url": url,
    }


class BackupCreateView(APIView):
    @extend_schema(operation_id="backups_create", request=None, responses={202: ChatBackupOut})
    def post(self, request):
        backup = backups.backup_request(user=request.user)
        backup.refresh_from_db()  # built eagerly in tests / dev: show the latest state
        return Response(render_backup(request, backup), status=202)


class BackupDetailView(APIView):
    @extend_schema(operation_id="backups_retrieve", responses=ChatBackupOut)
    def get(self, request, backup_id: int):
        backup = backups.backup_get(user=request.user, backup_id=backup_id)
        return Response(render_backup(request, backup))


class BackupDownloadView(APIView):
    """The signed URL is the credential (it can be opened by a browser or download
    manager without the bearer token); it names one backup and dies after 24 hours."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="backups_download",
        auth=[],
        parameters=[OpenApiParameter("token", str, required=True)],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY),
            404: OpenApiResponse(OpenApiTypes.OBJECT),
            410: OpenApiResponse(OpenApiTypes.OBJECT),
        },
    )
    def get(self, request, backup_id: int):
        token = request.query_params.get("token", "")
        if not token or len(token) > 500:
            raise InvalidInput("token is required.", fields={"token": ["Required."]})
        backup = backups.backup_for_download(backup_id=backup_id, token=token)
        try:
            handle = backup.file.open("rb")
        except OSError:  # deleted from storage behind our back: gone, not a 500
            raise NotFound("No such backup.", code="backup_not_found")
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"plaza-chats-{backup.created_at:%Y%m%d-%H%M%S}.zip",
            content_type="application/zip",
        )
        response["Cache-Control"] = "private, no-store"
        return response


class BackupRestoreInput(serializers.Serializer):
    archive = serializers.FileField()


class BackupRestoreOut(serializers.Serializer):
    conversations = serializers.IntegerField()
    messages_added = serializers.IntegerField()
    messages_skipped = serializers.IntegerField()
    conversations_skipped = serializers.IntegerField()
    attachments_restored = serializers.IntegerField()


class BackupRestoreView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="backups_restore",
        request={"multipart/form-data": BackupRestoreInput},
        responses={200: BackupRestoreOut},
    )
    def post(self, request):
        data = BackupRestoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = backups.backup_restore(user=request.user, upload=data.validated_data["archive"])
        return Response(BackupRestoreOut(result).data)


DURATIONS = sorted(disappearing.CHOICES)


class DisappearingOut(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    ttl_seconds = serializers.IntegerField(help_text="0 (off), 86400, 604800 or 7776000")
    set_by = serializers.IntegerField(allow_null=True)
    set_at = serializers.CharField(allow_null=True)


class DisappearingInput(serializers.Serializer):
    ttl_seconds = serializers.ChoiceField(choices=DURATIONS)


def render_disappearing(conversation_id: int, period) -> dict:
    return {
        "conversation_id": conversation_id,
        "ttl_seconds": period.ttl_seconds if period else 0,
        "set_by": period.set_by_id if period else None,
        "set_at": iso(period.created_at) if period else None,
    }


class DisappearingView(APIView):
    @extend_schema(operation_id="conversation_disappearing_get", responses=DisappearingOut)
    def get(self, request, conversation_id: int):
        conv = conversation_for_member(request.user, conversation_id)
        period = disappearing.disappearing_get(conversation_id=conv.pk)
        return Response(render_disappearing(conv.pk, period))

    @extend_schema(
        operation_id="conversation_disappearing_set",
        request=DisappearingInput,
        responses=DisappearingOut,
    )
    def put(self, request, conversation_id: int):
        data = DisappearingInput(data=request.data)
        data.is_valid(raise_exception=True)
        period = disappearing.disappearing_set(
            actor=request.user,
            conversation_id=conversation_id,
            ttl_seconds=data.validated_data["ttl_seconds"],
        )
        return Response(render_disappearing(conversation_id, period))
