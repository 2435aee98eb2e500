"""Creators' endpoints: a profile, packs in draft, sticker uploads (multipart), submission."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from config.ratelimit import check_rate

from .. import catalogue
from ..images import check_image, read_upload
from ..models import CreatorProfile
from ..services import creators
from .schemas import StoreCreatorPackOut, StoreCreatorPackPage, StoreCreatorProfileOut

UPLOAD_RATE = "30/m,500/d"


def _plain_text(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\n" for ch in value) or "\x7f" in value:
        raise serializers.ValidationError("Control characters are not allowed.")
    return value


def _profile_data(profile: CreatorProfile) -> dict:
    return {
        "id": profile.pk,
        "display_name": profile.display_name,
        "bio": profile.bio,
        "revenue_share_percent": profile.revenue_share_bps / 100,
    }


def _pack_data(*, creator: CreatorProfile, pack_id: int) -> dict:
    pack = catalogue.creator_packs(creator_id=creator.pk).filter(pk=pack_id).first()
    if pack is None:
        raise NotFound("No such pack.")
    return catalogue.creator_pack_data(pack)


class StoreCreatorProfileView(APIView):
    class StoreCreatorProfileInput(serializers.Serializer):
        display_name = serializers.CharField(max_length=64, validators=[_plain_text])
        bio = serializers.CharField(
            max_length=280, required=False, allow_blank=True, default="", validators=[_plain_text]
        )

    @extend_schema(operation_id="store_creator_profile_get", responses=StoreCreatorProfileOut)
    def get(self, request):
        return Response(_profile_data(creators.creator_of(request.user)))

    @extend_schema(
        operation_id="store_creator_profile_put",
        request=StoreCreatorProfileInput,
        responses=StoreCreatorProfileOut,
    )
    def put(self, request):
        data = self.StoreCreatorProfileInput(data=request.data)
        data.is_valid(raise_exception=True)
        profile = creators.creator_profile_upsert(user=request.user, **data.validated_data)
        return Response(_profile_data(profile))


class StorePackFields(serializers.Serializer):
    title = serializers.CharField(max_length=80, validators=[_plain_text])
    description = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, validators=[_plain_text]
    )
    category = serializers.RegexField(r"^[A-Za-z0-9_-]{0,32}$", required=False, allow_blank=True)
    tags = serializers.ListField(
        child=serializers.RegexField(r"^[^\x00-\x1f,]{1,32}$"), max_length=20, required=False
    )
    price = serializers.IntegerField(min_value=0, max_value=10**12, required=False)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        allowed = getattr(settings, "PAYMENTS_CURRENCIES", ["USD"])
        if value not in allowed:
            raise serializers.ValidationError(f"One of {', '.join(allowed)}.")
        return value


def _pack_changes(validated: dict) -> dict:
    changes = dict(validated)
    if "price" in changes:
        changes["price_amount"] = changes.pop("price")
    return changes


class StoreCreatorPackListView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class StoreCreatorPackCreateInput(StorePackFields):
        cover = serializers.FileField(required=False)

    @extend_schema(operation_id="store_creator_packs_list", responses=StoreCreatorPackPage)
    def get(self, request):
        creator = creators.creator_of(request.user)
        packs = catalogue.creator_packs(creator_id=creator.pk)[:200]
        return Response({"results": [catalogue.creator_pack_data(p) for p in packs], "next": None})

    @extend_schema(
        operation_id="store_creator_packs_create",
        request={
            "application/json": StorePackFields,
            "multipart/form-data": StoreCreatorPackCreateInput,
        },
        responses={201: StoreCreatorPackOut},
    )
    def post(self, request):
        creator = creators.creator_of(request.user)
        check_rate("store.upload", str(request.user.pk), UPLOAD_RATE)
        data = self.StoreCreatorPackCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = _pack_changes(data.validated_data)
        upload = fields.pop("cover", None)
        cover = check_image(read_upload(upload, field="cover"), field="cover") if upload else None
        pack = creators.pack_create(creator=creator, cover=cover, **fields)
        return Response(_pack_data(creator=creator, pack_id=pack.pk), status=201)


class StoreCreatorPackDetailView(APIView):
    class StoreCreatorPackUpdateInput(StorePackFields):
        title = serializers.CharField(max_length=80, required=False, validators=[_plain_text])

    @extend_schema(operation_id="store_creator_packs_retrieve", responses=StoreCreatorPackOut)
    def get(self, request, pack_id: int):
        return Response(_pack_data(creator=creators.creator_of(request.user), pack_id=pack_id))

    @extend_schema(
        operation_id="store_creator_packs_update",
        request=StoreCreatorPackUpdateInput,
        responses=StoreCreatorPackOut,
    )
    def patch(self, request, pack_id: int):
        creator = creators.creator_of(request.user)
        data = self.StoreCreatorPackUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        creators.pack_update(creator=creator, pack_id=pack_id, **_pack_changes(data.validated_data))
        return Response(_pack_data(creator=creator, pack_id=pack_id))

    @extend_schema(operation_id="store_creator_packs_delete", request=None, responses={204: None})
    def delete(self, request, pack_id: int):
        creators.pack_delete(creator=creators.creator_of(request.user), pack_id=pack_id)
        return Response(status=204)


class StoreCreatorPackCoverView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class StorePackCoverInput(serializers.Serializer):
        cover = serializers.FileField(help_text="PNG, WebP or GIF; at most 512×512 and 500 KB")

    @extend_schema(
        operation_id="store_creator_packs_cover",
        request={"multipart/form-data": StorePackCoverInput},
        responses=StoreCreatorPackOut,
    )
    def put(self, request, pack_id: int):
        creator = creators.creator_of(request.user)
        check_rate("store.upload", str(request.user.pk), UPLOAD_RATE)
        data = self.StorePackCoverInput(data=request.data)
        data.is_valid(raise_exception=True)
        cover = check_image(read_upload(data.validated_data["cover"], field="cover"), field="cover")
        creators.pack_cover_set(creator=creator, pack_id=pack_id, cover=cover)
        return Response(_pack_data(creator=creator, pack_id=pack_id))


class StoreCreatorStickerAddView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class StoreStickerUploadInput(serializers.Serializer):
        image = serializers.FileField(help_text="PNG, WebP or GIF; at most 512×512 and 500 KB")
        emoji = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="store_creator_stickers_add",
        request={"multipart/form-data": StoreStickerUploadInput},
        responses={201: StoreCreatorPackOut},
    )
    def post(self, request, pack_id: int):
        creator = creators.creator_of(request.user)
        check_rate("store.upload", str(request.user.pk), UPLOAD_RATE)
        data = self.StoreStickerUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        image = check_image(read_upload(data.validated_data["image"]))
        creators.sticker_add(
            creator=creator, pack_id=pack_id, image=image, emoji=data.validated_data["emoji"]
        )
        return Response(_pack_data(creator=creator, pack_id=pack_id), status=201)


class StoreCreatorStickerDeleteView(APIView):
    @extend_schema(
        operation_id="store_creator_stickers_delete", request=None, responses={204: None}
    )
    def delete(self, request, pack_id: int, sticker_id: int):
        creators.sticker_remove(
            creator=creators.creator_of(request.user), pack_id=pack_id, sticker_id=sticker_id
        )
        return Response(status=204)


class StoreCreatorPackSubmitView(APIView):
    @extend_schema(
        operation_id="store_creator_packs_submit", request=None, responses=StoreCreatorPackOut
    )
    def post(self, request, pack_id: int):
        creator = creators.creator_of(request.user)
        creators.pack_submit(creator=creator, pack_id=pack_id)
        return Response(_pack_data(creator=creator, pack_id=pack_id))
