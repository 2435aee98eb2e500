"""Sticker store tables: creators, packs, stickers, purchases and entitlements.

Money columns are integer minor units with an ISO-4217 currency. What must never happen
is a database constraint: a person owns a pack at most once, a price is never negative,
a creator's share is a sane fraction, one purchase is refunded at most once.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def _position_now() -> int:
    # New entitlements go after everything the owner arranged: microseconds since the epoch
    # are larger than any position a reorder writes (1..n), with no query for a maximum.
    return time.time_ns() // 1000


class CreatorProfile(models.Model):
    """A person who may upload sticker packs, and the share of each sale they earn."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_profile"
    )
    display_name = models.CharField(max_length=64)
    bio = models.CharField(max_length=280, blank=True)
    # Basis points of the price paid to the creator; the rest is platform revenue.
    revenue_share_bps = models.PositiveIntegerField(default=7000)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(revenue_share_bps__lte=10000), name="creator_share_at_most_100pct"
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class Pack(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        IN_REVIEW = "in_review"
        PUBLISHED = "published"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"

    creator = models.ForeignKey(CreatorProfile, on_delete=models.PROTECT, related_name="packs")
    title = models.CharField(max_length=80)
    description = models.CharField(max_length=1000, blank=True)
    cover = models.FileField(upload_to="stickers/covers/", blank=True)
    category = models.CharField(max_length=32, blank=True, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    # Lower-cased title + tags: what `q` searches, so a search is one indexed-ish LIKE.
    search_text = models.CharField(max_length=600, blank=True, editable=False)
    price_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    animated = models.BooleanField(default=False)
    # No index of its own: the indexes pack_cat_new, pack_cat_popular and pack_cat_price lead with it.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    rejection_reason = models.CharField(max_length=500, blank=True)
    featured = models.BooleanField(default=False)
    popularity = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(price_amount__gte=0), name="pack_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(price_amount__lte=10**12), name="pack_price_bounded"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "-featured", "-popularity", "-id"], name="pack_cat_popular"
            ),
            models.Index(
                fields=["status", "-featured", "-published_at", "-id"], name="pack_cat_new"
            ),
            models.Index(
                fields=["status", "-featured", "price_amount", "id"], name="pack_cat_price"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_free(self) -> bool:
        return self.price_amount == 0


class Sticker(models.Model):
    # No index of its own: the index sticker_pack_position leads with it.
    pack = models.ForeignKey(
        Pack, on_delete=models.CASCADE, related_name="stickers", db_index=False
    )
    image = models.FileField(upload_to="stickers/images/")
    thumbnail = models.FileField(upload_to="stickers/thumbs/", blank=True)
    emoji = models.CharField(max_length=16, blank=True)
    position = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=8)  # PNG, WEBP, GIF: what Pillow found, not the name
    width = models.PositiveSmallIntegerField()
    height = models.PositiveSmallIntegerField()
    size_bytes = models.PositiveIntegerField()
    is_animated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pack_id", "position", "id"]
        indexes = [models.Index(fields=["pack", "position"], name="sticker_pack_position")]

    def __str__(self) -> str:
        return f"{self.emoji or 'sticker'} #{self.pk} in pack {self.pack_id}"


class Purchase(models.Model):
    """One paid or claimed acquisition of a pack. Gifts have a buyer and a recipient."""

    class Status(models.TextChoices):
        COMPLETED = "completed"
        REFUNDED = "refunded"

    # No index of its own: purchase_buyer_recent (buyer, -created_at) serves every lookup
    # by buyer, and one index fewer is one insert fewer per purchase.
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="sticker_purchases",
        db_index=False,
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sticker_gifts_received"
    )
    pack = models.ForeignKey(Pack, on_delete=models.PROTECT, related_name="purchases")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    creator_amount = models.BigIntegerField(default=0)
    platform_amount = models.BigIntegerField(default=0)
    # The ledger entries that moved the money (ids in payments' journal; none when free).
    entry_id = models.BigIntegerField(null=True, blank=True)
    refund_entry_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    created_at = models.DateTimeField(default=timezone.now)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refund_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(creator_amount__gte=0)
                & Q(platform_amount__gte=0)
                & Q(amount=models.F("creator_amount") + models.F("platform_amount")),
                name="purchase_split_adds_up",
            ),
        ]
        indexes = [models.Index(fields=["buyer", "-created_at"], name="purchase_buyer_recent")]

    def __str__(self) -> str:
        return f"purchase {self.pk} of pack {self.pack_id}"

    @property
    def is_gift(self) -> bool:
        return self.buyer_id != self.recipient_id


class Entitlement(models.Model):
    """The right to use a pack's stickers. At most one per person and pack."""

    # No index of its own: the unique (user, pack) and entitlement_user_order (user,
    # position) both lead with the user; one index insert fewer per purchase.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sticker_entitlements",
        db_index=False,
    )
    pack = models.ForeignKey(Pack, on_delete=models.PROTECT, related_name="entitlements")
    purchase = models.OneToOneField(
        Purchase, on_delete=models.SET_NULL, null=True, blank=True, related_name="entitlement"
    )
    position = models.BigIntegerField(default=_position_now)
    hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "pack"], name="entitlement_once_per_pack")
        ]
        indexes = [models.Index(fields=["user", "position"], name="entitlement_user_order")]

    def __str__(self) -> str:
        return f"user {self.user_id} owns pack {self.pack_id}"
