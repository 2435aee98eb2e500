"""Conversations and who is in them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Conversation(models.Model):
    """A direct chat, a group, or a brand's official-account chat.

    `last_seq` counts messages and `last_event_seq` counts stream events (messages,
    edits, recalls, receipts, membership and settings changes). Both grow under a row lock
    taken by `chat.services.stream.bump`, so within one conversation they are gapless and
    in commit order: that is what sync cursors rely on.
    """

    class Kind(models.TextChoices):
        DIRECT = "direct"
        GROUP = "group"
        BRAND = "brand"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    title = models.CharField(max_length=100, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    announcement = models.TextField(max_length=2000, blank=True)
    # "<smaller user id>:<larger user id>" for direct chats: exactly one per pair.
    direct_key = models.CharField(max_length=41, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)
    last_event_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="direct", direct_key__isnull=False)
                | (~Q(kind="direct") & Q(direct_key__isnull=True)),
                name="chat_conversation_direct_key_iff_direct",
            ),
            models.CheckConstraint(condition=Q(last_seq__gte=0), name="chat_conv_last_seq_gte_0"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.kind} {self.pk}"

    @staticmethod
    def direct_key_for(a: int, b: int) -> str:
        lo, hi = sorted((int(a), int(b)))
        return f"{lo}:{hi}"


class Membership(models.Model):
    """A person in a conversation. A member sees messages with seq > `joined_seq` and
    stream events with event_seq >= `joined_event_seq` (until `left_event_seq`)."""

    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    # No index of its own: the index chat_membership_unique leads with it.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    # No index of its own: the index chat_member_user_active leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chat_memberships",
        db_index=False,
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    last_read_seq = models.BigIntegerField(default=0)
    last_delivered_seq = models.BigIntegerField(default=0)
    muted = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)
    joined_seq = models.BigIntegerField(default=0)
    joined_event_seq = models.BigIntegerField(default=0)
    left_at = models.DateTimeField(null=True, blank=True)
    left_event_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="chat_membership_unique")
        ]
        indexes = [models.Index(fields=["user", "left_at"], name="chat_member_user_active")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id} ({self.role})"

    @property
    def is_active(self) -> bool:
        return self.left_at is None

    @property
    def is_admin(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)
