"""Merchants and their API keys."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Merchant(models.Model):
    """A business that takes payments: a shop, a chain's till, a vending machine."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    name = models.CharField(max_length=64)
    mcc = models.CharField("category code (MCC)", max_length=4, default="5999")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    city = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, help_text="ISO 4217 alpha code")
    fee_bps = models.PositiveIntegerField(
        "fee rate (basis points)", default=60, help_text="60 = 0.6% of each payment"
    )
    notify_url = models.URLField(max_length=500, blank=True, help_text="default webhook URL")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The static QR printed at a till: the buyer scans it and types the amount.
    till_token = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(fee_bps__lte=10000), name="merchant_fee_bps_at_most_100_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


class MerchantApiKey(models.Model):
    """A key id and its secret. The secret is shown once and stored Fernet-encrypted
    (settings.MERCHANT_SECRET_KEYS); a merchant may have two active keys during rotation."""

    # No index of its own: the index (merchant, revoked_at) leads with it.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="api_keys", db_index=False
    )
    key_id = models.CharField(max_length=40, unique=True)
    secret_encrypted = models.TextField()
    label = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "revoked_at"])]

    def __str__(self) -> str:
        return self.key_id
