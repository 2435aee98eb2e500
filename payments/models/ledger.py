"""The double-entry ledger: accounts, immutable journal entries, postings, holds.

Modelled on TigerBeetle: an account has a kind that says whether it may go negative; a
journal entry is a set of postings whose signed amounts sum to zero per currency; money
that is promised but not yet moved is a pending `Hold` (two-phase transfer) counted in the
debit account's `pending_debits`. Entries never change: a correction is a new entry.
Write through `payments.ledger`, never through these models.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class AccountKind(models.TextChoices):
    USER_WALLET = "user_wallet"
    CREATOR_EARNINGS = "creator_earnings"
    MERCHANT_SETTLEMENT = "merchant_settlement"
    BRAND_WALLET = "brand_wallet"
    PLATFORM_REVENUE = "platform_revenue"
    PLATFORM_FUNDING = "platform_funding"
    STRIPE_CLEARING = "stripe_clearing"
    ESCROW = "escrow"
    SUSPENSE = "suspense"


# Kinds that may go below zero: the outside world's side of the books (money that came in
# through Stripe, operator funding) and nothing that belongs to a person or a business.
NEGATIVE_ALLOWED_KINDS = frozenset(
    {AccountKind.STRIPE_CLEARING, AccountKind.PLATFORM_FUNDING, AccountKind.SUSPENSE}
)


class Account(models.Model):
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    # For owners that are not people: "merchant:12", "brand:3", "system:revenue:0".
    owner_ref = models.CharField(max_length=64, blank=True, default="")
    allow_negative = models.BooleanField(default=False)
    # Cached sum of this account's postings, updated under the row lock with each entry.
    balance = models.BigIntegerField(default=0)
    # Sum of this account's pending holds (money promised, not yet moved).
    pending_debits = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # The rule that must never break: what belongs to someone never goes below 0,
            # counting money already promised away by a pending hold.
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=F("pending_debits")),
                name="ledger_account_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(pending_debits__gte=0), name="ledger_account_pending_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(allow_negative=False)
                | Q(kind__in=sorted(str(k) for k in NEGATIVE_ALLOWED_KINDS)),
                name="ledger_account_negative_only_for_system_kinds",
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=False) | ~Q(owner_ref=""),
                name="ledger_account_has_owner",
            ),
            models.UniqueConstraint(
                fields=["kind", "owner", "currency"],
                condition=Q(owner__isnull=False),
                name="ledger_account_one_per_user_kind_currency",
            ),
            models.UniqueConstraint(
                fields=["kind", "owner_ref", "currency"],
                condition=Q(owner__isnull=True),
                name="ledger_account_one_per_ref_kind_currency",
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.owner_id}" if self.owner_id else self.owner_ref
        return f"{self.kind} {self.currency} of {who}"

    @property
    def available(self) -> int:
        return self.balance - self.pending_debits


class JournalEntry(models.Model):
    kind = models.CharField(max_length=48)
    # Client-supplied id: a second post with the same key returns the first entry (or a
    # Conflict when its content differs). Callers namespace it ("transfer:12:post").
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    reference = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["reference"], name="ledger_entry_reference")]

    def __str__(self) -> str:
        return f"entry {self.pk} {self.kind}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    # No index of its own: the index ledger_posting_account_id leads with it.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_index=False
    )
    amount = models.BigIntegerField()  # signed: + credit (money in), - debit (money out)
    currency = models.CharField(max_length=3)  # copied from the account, for per-entry sums
    # The account's balance right after this posting (the account row was locked), which
    # makes a statement with running balance a plain indexed read.
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_not_zero"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="ledger_posting_account_id")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on account {self.account_id}"


class HoldStatus(models.TextChoices):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class Hold(models.Model):
    """A pending two-phase transfer: `amount` is reserved on the debit account (counted in
    its `pending_debits`) until it is posted (an entry moves the money) or voided."""

    kind = models.CharField(max_length=48)
    debit_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="debit_holds")
    credit_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=8, choices=HoldStatus.choices, default="pending")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    reference = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    posted_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_hold_positive"),
            models.CheckConstraint(
                condition=~Q(debit_account=F("credit_account")), name="ledger_hold_two_accounts"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "expires_at"],
                name="ledger_hold_pending_expiry",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} {self.amount} {self.currency} {self.status}"
