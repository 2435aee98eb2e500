"""The per-conversation event stream that /api/v1/sync replays (see docs/CHAT.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
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

    # No index of its own: the unique (conversation, event_seq) serves every lookup by
    # conversation, and each index is one more insert per message sent.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
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


class UserStream(models.Model):
    """The per-person counter for `UserEvent.seq` (bumped with one upsert … RETURNING,
    which also locks the row until commit: seqs are gapless and commit-ordered)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"stream of {self.user_id} at {self.last_seq}"


class UserEvent(models.Model):
    """An event for one person outside any conversation stream — `wallet.updated`,
    `store.gift_received`, `friend_request.new`, my own mute or delete-for-me — recorded
    from `config.realtime.push_to_users` so `/api/v1/sync` replays it."""

    # No index of its own: the index chat_user_event_seq_unique leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    seq = models.BigIntegerField()
    event = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "seq"], name="chat_user_event_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.event.get('type')} #{self.seq} for {self.user_id}"
