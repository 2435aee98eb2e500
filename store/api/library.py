"""A person's own packs: list in their order, reorder, hide."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import public_profile
from config.errors import InvalidInput
from config.pagination import decode_cursor, encode_cursor, parse_limit

from .. import catalogue, selectors
from ..models import Entitlement
from ..services import library
from .schemas import StoreOwnedPack, StoreOwnedPackPage


def owned_pack_data(ent: Entitlement) -> dict:
    pack = ent.pack
    data = catalogue.pack_with_stickers(pack)
    purchase = ent.purchase
    gift = purchase is not None and purchase.buyer_id != purchase.recipient_id
    data.update(
        status=pack.status,
        hidden=ent.hidden,
        acquired_at=ent.created_at.isoformat().replace("+00:00", "Z"),
        gift_from=public_profile(purchase.buyer) if gift else None,
    )
    return data


def _position_after(cursor: dict) -> tuple[int, int]:
    try:
        position, pk = int(cursor["p"]), int(cursor["i"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    if not (-(2**63) < position < 2**63 and 0 <= pk < 2**63):
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    return position, pk


class MyStickerPacksView(APIView):
    @extend_schema(
        operation_id="me_sticker_packs_list",
        parameters=[
            OpenApiParameter("include_hidden", bool, description="default false"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int, description="1..200, default 100"),
        ],
        responses=StoreOwnedPackPage,
    )
    def get(self, request):
        from django.db.models import Q

        include_hidden = request.GET.get("include_hidden", "") in ("1", "true", "yes")
        limit = parse_limit(request.GET.get("limit"), default=100, maximum=200)
        qs = selectors.user_entitlements(user_id=request.user.pk, include_hidden=include_hidden)
        cursor = decode_cursor(request.GET.get("cursor"))
        if cursor is not None:
            position, pk = _position_after(cursor)
            qs = qs.filter(Q(position__gt=position) | Q(position=position, pk__gt=pk))
        rows = list(qs[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            encode_cursor({"p": rows[-1].position, "i": rows[-1].pk}) if more and rows else None
        )
        return Response({"results": [owned_pack_data(e) for e in rows], "next": next_cursor})


class MyStickerPacksOrderView(APIView):
    class StorePackOrderInput(serializers.Serializer):
        pack_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
            max_length=library.MAX_REORDER,
        )

    @extend_schema(
        operation_id="me_sticker_packs_reorder",
        request=StorePackOrderInput,
        responses=inline_serializer(
            "StorePackOrder", {"pack_ids": serializers.ListField(child=serializers.IntegerField())}
        ),
    )
    def put(self, request):
        data = self.StorePackOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = library.library_reorder(user=request.user, pack_ids=data.validated_data["pack_ids"])
        return Response({"pack_ids": order})


class MyStickerPackView(APIView):
    class StoreOwnedPackUpdateInput(serializers.Serializer):
        hidden = serializers.BooleanField()

    @extend_schema(
        operation_id="me_sticker_packs_update",
        request=StoreOwnedPackUpdateInput,
        responses=StoreOwnedPack,
    )
    def patch(self, request, pack_id: int):
        data = self.StoreOwnedPackUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        library.library_set_hidden(
            user=request.user, pack_id=pack_id, hidden=data.validated_data["hidden"]
        )
        ent = selectors.user_entitlements(user_id=request.user.pk).filter(pack_id=pack_id).first()
        return Response(owned_pack_data(ent))
