"""REST: uploads for image, file and voice messages."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.ratelimit import check_rate

from ..services.uploads import render_upload, upload_create


class ChatUploadInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["image", "file", "voice"])
    file = serializers.FileField(allow_empty_file=False)


class ChatUploadOut(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.CharField()
    url = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)


class UploadCreateView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="chat_uploads_create", request=ChatUploadInput, responses={201: ChatUploadOut}
    )
    def post(self, request):
        data = ChatUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        check_rate("chat.upload", str(request.user.pk), "30/m,300/h")
        upload = upload_create(
            owner=request.user,
            kind=data.validated_data["kind"],
            file=data.validated_data["file"],
        )
        return Response(render_upload(upload), status=201)
