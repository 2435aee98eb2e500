"""QR / link invites into a group."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .conversations import Conversation


class GroupInvite(models.Model):
    """An invite link. The token (≥ 128 random bits) is shown once to its creator and
    stored only as its SHA-256 digest; the QR image endpoints take the token in the path.
    `use_count` can never pass `max_uses` (CHECK), whatever the concurrency."""

    # No index of its own: the index (conversation, -id) leads with it.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    use_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(use_count__lte=F("max_uses")),
                name="chat_invite_uses_within_max",
            )
        ]
        indexes = [models.Index(fields=["conversation", "-id"])]

    def __str__(self) -> str:
        return f"invite {self.pk} to {self.conversation_id}"
