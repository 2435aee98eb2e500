"""Catalogue reads: public, the same for everyone, served as cached bytes with an ETag."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.errors import NotFound
from config.ratelimit import check_rate, client_ip

from .. import catalogue, edge
from .schemas import StorePackDetail, StorePackPage


def cached_response(request, served: catalogue.ServedPage) -> HttpResponse:
    page = served.page
    if edge.etag_matches(request.META.get("HTTP_IF_NONE_MATCH", ""), page.etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(page.body, content_type="application/json")
    response["ETag"] = page.etag
    # Public: no per-person data in it. Short max-age, then revalidate with the ETag.
    response["Cache-Control"] = "public, max-age=30, stale-while-revalidate=60"
    response["Vary"] = "Accept-Encoding"
    # The same for everyone: the ASGI edge (store.edge) may keep and replay it.
    edge.vouch(request, version=served.version, built_at=page.built_at, etag=page.etag)
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
        served = catalogue.pack_detail_page(pack_id, on_build=lambda: _limit_builds(request))
        if served is None:
            raise NotFound("No such pack.")
        return cached_response(request, served)
