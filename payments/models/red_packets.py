"""Red packets: money split into shares that members of a chat grab.

Payments knows people, not chats: a packet records where it was sent as an opaque
`context_ref` ("conversation:42") that chat writes and reads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class RedPacketStatus(models.TextChoices):
    OPEN = "open"  # shares left to claim
    EMPTY = "empty"  # every share claimed
    EXPIRED = "expired"  # 24 h passed; the unclaimed rest went back to the sender


class RedPacket(models.Model):
    class Split(models.TextChoices):
        RANDOM = "random"
        EQUAL = "equal"

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="red_packets_sent"
    )
    context_ref = models.CharField(max_length=64, db_index=True)
    currency = models.CharField(max_length=3)
    total = models.BigIntegerField()
    count = models.PositiveIntegerField()
    split = models.CharField(max_length=8, choices=Split.choices)
    greeting = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=8, choices=RedPacketStatus.choices, default=RedPacketStatus.OPEN
    )
    claimed_count = models.PositiveIntegerField(default=0)
    claimed_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    # The packet's own escrow account holds exactly the unclaimed rest (ledger_check
    # proves it); one account per packet keeps claims on different packets apart.
    escrow_account = models.ForeignKey(
        "payments.Account", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(total__gt=0), name="red_packet_total_positive"),
            models.CheckConstraint(
                condition=Q(count__gt=0) & Q(total__gte=F("count")),
                name="red_packet_at_least_one_unit_per_share",
            ),
            models.CheckConstraint(
                condition=Q(claimed_count__lte=F("count")), name="red_packet_not_overclaimed"
            ),
            models.CheckConstraint(
                condition=Q(claimed_amount__gte=0)
                & Q(refunded_amount__gte=0)
                & Q(total__gte=F("claimed_amount") + F("refunded_amount")),
                name="red_packet_money_accounted",
            ),
        ]

    def __str__(self) -> str:
        return f"red packet {self.pk}: {self.total} {self.currency} in {self.count}"

    @property
    def remaining(self) -> int:
        return self.total - self.claimed_amount - self.refunded_amount


class RedPacketShare(models.Model):
    """One pre-cut share. Claiming takes a free share row, so two claimers never get the
    same share and a person never gets two (a unique constraint, not only a check)."""

    # No index of its own: the index red_packet_share_position leads with it.
    packet = models.ForeignKey(
        RedPacket, on_delete=models.CASCADE, related_name="shares", db_index=False
    )
    position = models.PositiveIntegerField()
    amount = models.BigIntegerField()
    claimer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="red_packet_shares",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    entry = models.ForeignKey(
        "payments.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="red_packet_share_positive"),
            models.UniqueConstraint(
                fields=["packet", "position"], name="red_packet_share_position"
            ),
            models.UniqueConstraint(
                fields=["packet", "claimer"],
                condition=Q(claimer__isnull=False),
                name="red_packet_one_share_per_person",
            ),
            models.CheckConstraint(
                condition=Q(claimer__isnull=True, claimed_at__isnull=True)
                | Q(claimer__isnull=False, claimed_at__isnull=False),
                name="red_packet_share_claim_consistent",
            ),
        ]
        indexes = [models.Index(fields=["packet", "claimer"])]

    def __str__(self) -> str:
        return f"share {self.position} of packet {self.packet_id}"
