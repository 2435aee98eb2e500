"""Catalogue reads: public, the same for everyone, served as cached bytes with an ETag."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.errors import NotFound
from config.ratelimit import check_rate, client_ip

from .. import catalogue
from .schemas import StorePackDetail, StorePackPage


def _not_modified(request, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags


def cached_response(request, page: catalogue.CataloguePage) -> HttpResponse:
    if _not_modified(request, page.etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(page.body, content_type="application/json")
    response["ETag"] = page.etag
    # Public: no per-person data in it. Short max-age, then revalidate with the ETag.
    response["Cache-Control"] = "public, max-age=30, stale-while-revalidate=60"
    response["Vary"] = "Accept-Encoding"
    return response


def _limit_builds(request) -> None:
    # Reads served from the cache are free; a page that must be built from the database
    # (an unusual query, a new version) counts against the caller's IP, so random `q`
    # values cannot turn into unbounded database work.
    check_rate("store.catalogue_build", client_ip(request), settings.STORE_CATALOGUE_BUILD_RATE)


class StorePackListView(APIView):
    # The catalogue is public and per-person free, so it needs no token lookup: a request
    # whose page is cached costs two cache reads and no database query.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="store_packs_list",
        parameters=[
            OpenApiParameter("q", str, description="search in titles and tags"),
            OpenApiParameter("category", str),
            OpenApiParameter("sort", str, enum=["popular", "new", "price"]),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int, description="1..100, default 20"),
            OpenApiParameter("If-None-Match", str, location=OpenApiParameter.HEADER),
        ],
        responses={
            200: StorePackPage,
            304: OpenApiResponse(description="not modified (If-None-Match)"),
        },
        auth=[],
    )
    def get(self, request):
        return cached_response(
            request, catalogue.catalogue_page(request.GET, on_build=lambda: _limit_builds(request))
        )


class StorePackDetailView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="store_packs_retrieve",
        parameters=[OpenApiParameter("If-None-Match", str, location=OpenApiParameter.HEADER)],
        responses={
            200: StorePackDetail,
            304: OpenApiResponse(description="not modified (If-None-Match)"),
        },
        auth=[],
    )
    def get(self, request, pack_id: int):
        page = catalogue.pack_detail_page(pack_id)
        if page is None:
            raise NotFound("No such pack.")
        return cached_response(request, page)
