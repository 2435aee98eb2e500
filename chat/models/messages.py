"""Messages, per-user hiding (delete-for-me) and uploads they point at."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .conversations import Conversation


class Message(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        FILE = "file"
        VOICE = "voice"
        STICKER = "sticker"
        LOCATION = "location"
        TRANSFER = "transfer"
        RED_PACKET = "red_packet"
        OFFER = "offer"
        SYSTEM = "system"

    # No index of its own: the unique (conversation, seq) serves every lookup by
    # conversation, and each index is one more insert per message sent.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    seq = models.BigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    text = models.TextField(blank=True)
    # Kind-specific data (upload id/url, sticker id, lat/lng, transfer id, ...).
    payload = models.JSONField(default=dict, blank=True)
    reply_to_seq = models.BigIntegerField(null=True, blank=True)
    mentions = models.JSONField(default=list, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    recalled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="chat_message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_id"],
                condition=~Q(client_id=""),
                name="chat_message_client_id_unique",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="chat_message_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.conversation_id}"


class HiddenMessage(models.Model):
    """Delete-for-me: the message stays for everyone else."""

    # No index of its own: the index chat_hidden_unique leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="chat_hidden_unique")
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} hidden for {self.user_id}"


def _upload_path(instance: Upload, filename: str) -> str:
    return f"chat/{instance.kind}/{timezone.now():%Y/%m}/{instance.token}{instance.extension}"


class Upload(models.Model):
    """A sniffed, size-checked file that image/file/voice messages point at."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        FILE = "file"
        VOICE = "voice"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    file = models.FileField(upload_to=_upload_path, max_length=300)
    extension = models.CharField(max_length=10, blank=True)
    name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} upload {self.token}"
