"""The 6-digit payment PIN (argon2 hash only) and its wrong-try lock."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PaymentPin(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payment_pin"
    )
    pin_hash = models.CharField(max_length=255)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # Payments up to this many minor units need no PIN (0 = always ask). Opt-in per user,
    # capped by settings.PAYMENTS_PIN_FREE_MAX.
    pin_free_limit = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"payment PIN of {self.user_id}"
