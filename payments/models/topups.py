"""Wallet top-ups through a card gateway (Stripe, or the sandbox in development)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TopUpStatus(models.TextChoices):
    REQUIRES_PAYMENT = "requires_payment"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class TopUp(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    gateway = models.CharField(max_length=16)  # "stripe" | "sandbox"
    # The PaymentIntent id (pi_...) or the sandbox's own id.
    provider_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    client_secret = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=20, choices=TopUpStatus.choices, default=TopUpStatus.REQUIRES_PAYMENT
    )
    failure_message = models.CharField(max_length=300, blank=True, default="")
    # Our own key for the gateway call (Stripe's Idempotency-Key), unique per top-up.
    request_key = models.CharField(max_length=64, unique=True)
    # Money taken back by refunds and open/lost disputes (cumulative), and what of it the
    # wallet could not cover (the platform's loss, carried on the suspense account).
    refunded_amount = models.BigIntegerField(default=0)
    disputed_amount = models.BigIntegerField(default=0)
    shortfall = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0)
                & Q(disputed_amount__gte=0)
                & Q(shortfall__gte=0)
                & Q(amount__gte=models.F("refunded_amount") + models.F("disputed_amount")),
                name="topup_reversal_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"top-up {self.pk} {self.amount} {self.currency} {self.status}"


class StripeEvent(models.Model):
    """Every Stripe event we processed, once: the unique id dedupes webhook replays."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
