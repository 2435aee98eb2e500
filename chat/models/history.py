"""Chat history: disappearing-message periods and backup archives (issue 5)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .conversations import Conversation


class DisappearingPeriod(models.Model):
    """A stretch of a conversation's history during which messages disappear.

    Messages with `from_seq < seq <= until_seq` (no upper bound while `until_seq` is
    NULL, i.e. the setting still holds) are purged `ttl_seconds` after they were sent.
    A new setting closes the open period at the seq of its announcement, so a message
    keeps the timer it was sent under, as people expect. "Off" is no open period.
    `purged_through_seq` is the purge job's progress: everything up to it is done.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    ttl_seconds = models.PositiveIntegerField()
    from_seq = models.BigIntegerField()
    until_seq = models.BigIntegerField(null=True, blank=True)
    purged_through_seq = models.BigIntegerField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(until_seq__isnull=True),
                name="chat_disappearing_one_open_period",
            ),
            models.CheckConstraint(
                condition=Q(ttl_seconds__gt=0), name="chat_disappearing_ttl_gt_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ttl_seconds}s in {self.conversation_id} after #{self.from_seq}"


def _backup_path(instance: ChatBackup, filename: str) -> str:
    return f"backups/{instance.user_id}/{instance.token}.zip"


class ChatBackup(models.Model):
    """An archive of one person's chats, built by a Celery task, kept for 24 hours."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"
        EXPIRED = "expired"

    # No index of its own: the index chat_backup_user_recent leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    token = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(upload_to=_backup_path, max_length=300, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    conversations = models.IntegerField(default=0)
    messages = models.IntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"], name="chat_backup_user_recent"),
            models.Index(fields=["expires_at"], name="chat_backup_expiry"),
        ]

    def __str__(self) -> str:
        return f"backup {self.pk} of {self.user_id} ({self.status})"
