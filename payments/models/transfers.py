"""Person-to-person transfers: pending (a ledger hold) until the recipient accepts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .ledger import Hold


class TransferStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    RETURNED = "returned"  # the recipient sent it back
    EXPIRED = "expired"  # not accepted in time: returned automatically


class Transfer(models.Model):
    # No index of its own: the index transfer_sender_day leads with it.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="transfers_sent",
        db_index=False,
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfers_received"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    note = models.CharField(max_length=200, blank=True, default="")
    # The chat it was sent in (chat owns conversations; payments stores only the id).
    conversation_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=TransferStatus.choices, default="pending")
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="transfer")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=~Q(sender=F("recipient")), name="transfer_not_to_self"
            ),
        ]
        indexes = [
            models.Index(fields=["sender", "created_at"], name="transfer_sender_day"),
            models.Index(
                fields=["expires_at"],
                name="transfer_pending_expiry",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"transfer {self.pk} {self.amount} {self.currency} {self.status}"
