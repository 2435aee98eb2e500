"""Group management state beside the conversation: the member cap, approval, bans.

Kept in its own tables (not on Conversation) so chat's core stays small; one row per
group, created on first use by `chat.services.groups.policy_for`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .conversations import Conversation


class GroupPolicy(models.Model):
    """Per-group settings and the member counter.

    `member_count` is recomputed from the memberships under the conversation row lock on
    every join and leave that goes through group management, and the database refuses a
    count above `max_members` (CHECK): even a code path that forgot to check the cap
    cannot overfill a group.
    """

    conversation = models.OneToOneField(
        Conversation, primary_key=True, on_delete=models.CASCADE, related_name="group_policy"
    )
    member_count = models.PositiveIntegerField(default=0)
    max_members = models.PositiveIntegerField()
    # Joins through an invite wait for an owner or admin.
    join_approval = models.BooleanField(default=False)
    # Only owner and admins may create invite links.
    invites_admins_only = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(member_count__lte=F("max_members")), name="chat_group_member_cap"
            )
        ]

    def __str__(self) -> str:
        return f"policy of {self.conversation_id}"


class GroupBan(models.Model):
    """Removed and kept out: cannot join through any invite or be added back."""

    # No index of its own: the index chat_group_ban_unique leads with it.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="chat_group_ban_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} banned from {self.conversation_id}"


class GroupJoinRequest(models.Model):
    """Someone asked to join a group that needs approval."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    # No index of its own: the index (conversation, status, id) leads with it.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    invite = models.ForeignKey(
        "chat.GroupInvite", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"],
                condition=Q(status="pending"),
                name="chat_group_join_request_one_pending",
            )
        ]
        indexes = [models.Index(fields=["conversation", "status", "id"])]

    def __str__(self) -> str:
        return f"{self.user_id} asks to join {self.conversation_id} ({self.status})"
