"""REST edge for the person's own data: export it all, erase the account."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from config.ratelimit import check_rate

from . import privacy


class MyDataExportView(APIView):
    """GET /api/v1/me/export: everything held about me, as a JSON download."""

    @extend_schema(
        operation_id="me_export",
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A JSON file: format_version, profile, devices, and one "
                "section per app that holds data about the caller (contacts, chat, …).",
            )
        },
    )
    def get(self, request):
        # Building an export reads everything the person ever wrote: keep it rare.
        check_rate("privacy-export", str(request.user.pk), settings.PRIVACY_EXPORT_RATE)
        data = privacy.privacy_export(user=request.user)
        body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="plaza-export-{request.user.pk}.json"'
        )
        response["Cache-Control"] = "no-store"
        return response
