"""The per-conversation event stream that /api/v1/sync replays (see docs/CHAT.md)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .conversations import Conversation
from .messages import Message


class ChatEvent(models.Model):
    """One event of a conversation, shaped like the WebSocket frame of the same `type`.

    Written once per event, not once per member: a 500-member group costs one row per
    message. `message` events render the message as it is now (so a recall scrubs the
    text from replays too); other events keep their fields in `data`.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    event_seq = models.BigIntegerField()
    type = models.CharField(max_length=32)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "event_seq"], name="chat_event_seq_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.event_seq} in {self.conversation_id}"
