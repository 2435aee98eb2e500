"""Output shapes, for the OpenAPI schema. Views render plain dicts built by the store's
selectors (the catalogue is rendered to bytes once and cached), so these classes only
document what is sent; names are globally unique (OpenAPI components)."""

from rest_framework import serializers


class StoreCreatorRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class StorePersonRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()


class StorePackCard(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    creator = StoreCreatorRef()
    description = serializers.CharField()
    cover_url = serializers.CharField(allow_null=True)
    category = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    price = serializers.IntegerField(help_text="minor units; 0 = free")
    currency = serializers.CharField()
    is_free = serializers.BooleanField()
    animated = serializers.BooleanField()
    featured = serializers.BooleanField()
    popularity = serializers.IntegerField()
    sticker_count = serializers.IntegerField()
    published_at = serializers.DateTimeField(allow_null=True)


class StoreStickerOut(serializers.Serializer):
    id = serializers.IntegerField()
    pack_id = serializers.IntegerField()
    emoji = serializers.CharField()
    image_url = serializers.CharField()
    thumbnail_url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    animated = serializers.BooleanField()


class StorePackDetail(StorePackCard):
    stickers = StoreStickerOut(many=True)


class StorePackPage(serializers.Serializer):
    results = StorePackCard(many=True)
    next = serializers.CharField(allow_null=True)


class StorePurchaseOut(serializers.Serializer):
    id = serializers.IntegerField()
    pack_id = serializers.IntegerField()
    buyer_id = serializers.IntegerField()
    recipient_id = serializers.IntegerField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()
    gift = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class StoreOwnedPack(StorePackDetail):
    status = serializers.CharField(help_text="the pack's status in the store now")
    hidden = serializers.BooleanField()
    acquired_at = serializers.DateTimeField()
    gift_from = StorePersonRef(allow_null=True, help_text="who gave it, when it was a gift")


class StoreOwnedPackPage(serializers.Serializer):
    results = StoreOwnedPack(many=True)
    next = serializers.CharField(allow_null=True)


class StoreCreatorProfileOut(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    bio = serializers.CharField()
    revenue_share_percent = serializers.FloatField()


class StoreCreatorPackOut(StorePackDetail):
    status = serializers.CharField()
    rejection_reason = serializers.CharField()


class StoreCreatorPackPage(serializers.Serializer):
    results = StoreCreatorPackOut(many=True)
    next = serializers.CharField(allow_null=True)
