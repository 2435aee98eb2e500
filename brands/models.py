"""Brands: official accounts, their teams, followers and consent, segments, campaigns,
offers and exclusive sales.

Brands never see who a person is; every table here that names a person is read only
through aggregates (selectors.py) floored at `PRIVACY_MIN_AUDIENCE`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Brand(models.Model):
    """An official account people can follow."""

    name = models.CharField(max_length=80)
    avatar_url = models.URLField(max_length=500, blank=True)
    description = models.CharField(max_length=500, blank=True)
    verified = models.BooleanField(default=False)
    # The merchant (payments) whose checkout applies this brand's offers and whose
    # orders count as "spent at this brand". An id, not a foreign key: payments owns it.
    merchant_id = models.BigIntegerField(null=True, blank=True)
    # The person whose wallet pays campaign fees and receives exclusive-sale revenue.
    wallet_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3, default="USD")
    # Platform commission on attributed redemptions, in basis points (500 = 5%).
    commission_bps = models.PositiveIntegerField(default=500)
    # Campaign messages free per calendar month; null = unlimited. Beyond it each
    # message costs `message_fee_minor` from the brand's wallet.
    monthly_free_messages = models.PositiveIntegerField(null=True, blank=True)
    message_fee_minor = models.PositiveIntegerField(default=0)
    # Secret salt for this brand's random buckets (holdouts, A/B), so buckets cannot be
    # predicted from ids alone.
    bucket_salt = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["name"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(commission_bps__lte=10000), name="brand_commission_le_100pct"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BrandMember(models.Model):
    """A console user in a brand's team."""

    class Role(models.TextChoices):
        OWNER = "owner"  # everything, including the team
        MARKETER = "marketer"  # segments, campaigns, offers, sales
        ANALYST = "analyst"  # read-only: estimates and funnels

    # No index of its own: the index brand_member_once leads with it.
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, related_name="members", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "user"], name="brand_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} of {self.brand_id}"


class Follow(models.Model):
    """A person follows a brand. Marketing consent is separate and explicit."""

    # No index of its own: the index follow_once leads with it.
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, related_name="follows", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    marketing_opt_in = models.BooleanField(default=False)
    consent_changed_at = models.DateTimeField(null=True, blank=True)
    # The person's `brand` conversation with this brand (chat owns it). The 48 h window
    # for free customer-service replies is read from chat's messages, not stored here.
    conversation_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "user"], name="follow_once"),
        ]
        indexes = [
            models.Index(fields=["brand", "marketing_opt_in", "user"]),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.brand_id}"


class BrandBlock(models.Model):
    """A person blocked a brand: no follow, no messages, no campaigns."""

    # No index of its own: the index brand_block_once leads with it.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "user"], name="brand_block_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} blocks {self.brand_id}"


class PersonTag(models.Model):
    """A tag a brand's own events put on a follower (claimed an offer, bought in a sale,
    clicked a link). Brands target tags; they never list the people behind them."""

    # No index of its own: the index person_tag_once leads with it.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "user", "tag"], name="person_tag_once"),
        ]
        indexes = [models.Index(fields=["brand", "tag"])]

    def __str__(self) -> str:
        return self.tag


class Segment(models.Model):
    """A saved audience: a rule tree (see segments.py) over the brand's followers."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=120)
    rules = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    """A discount at the brand's merchant: amount or percent off, one per person."""

    class Kind(models.TextChoices):
        AMOUNT = "amount"
        PERCENT = "percent"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="offers")
    title = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount_off_minor = models.BigIntegerField(default=0)
    percent_off = models.PositiveSmallIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    min_spend_minor = models.BigIntegerField(default=0)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    quantity_cap = models.PositiveIntegerField(null=True, blank=True)
    claimed_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity_cap__isnull=True) | Q(claimed_count__lte=F("quantity_cap")),
                name="offer_not_overclaimed",
            ),
            models.CheckConstraint(
                condition=(Q(kind="amount") & Q(amount_off_minor__gt=0))
                | (Q(kind="percent") & Q(percent_off__gt=0) & Q(percent_off__lte=100)),
                name="offer_discount_sane",
            ),
            models.CheckConstraint(
                condition=Q(min_spend_minor__gte=0), name="offer_min_spend_ge_0"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="offer_window_sane"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def discount_for(self, amount_minor: int) -> int:
        """The discount on an order of `amount_minor`; 0 below the minimum spend."""
        if amount_minor < self.min_spend_minor or amount_minor <= 0:
            return 0
        if self.kind == self.Kind.AMOUNT:
            return min(self.amount_off_minor, amount_minor)
        # Round down: the platform never gives away more than the percent says.
        return amount_minor * self.percent_off // 100


class OfferClaim(models.Model):
    """A person kept an offer; redeemed once at the brand's merchant checkout."""

    # No index of its own: the index offer_claim_once leads with it.
    offer = models.ForeignKey(
        Offer, on_delete=models.CASCADE, related_name="claims", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # No index of its own: the index (brand, user) leads with it.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    claimed_at = models.DateTimeField(default=timezone.now)
    # The campaign whose message the claim came from (attribution), if any.
    # No index of its own: the index (campaign, variant) leads with it.
    campaign = models.ForeignKey(
        "Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claims",
        db_index=False,
    )
    variant = models.CharField(max_length=1, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    order_ref = models.CharField(max_length=64, blank=True)
    discount_minor = models.BigIntegerField(default=0)
    net_paid_minor = models.BigIntegerField(default=0)
    commission_minor = models.BigIntegerField(default=0)
    refunded_minor = models.BigIntegerField(default=0)
    commission_reversed_minor = models.BigIntegerField(default=0)
    attributed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "user"], name="offer_claim_once"),
        ]
        indexes = [
            models.Index(fields=["brand", "user"]),
            models.Index(fields=["campaign", "variant"]),
        ]

    def __str__(self) -> str:
        return f"claim of {self.offer_id} by {self.user_id}"


class Campaign(models.Model):
    """A message to a segment, sent in batches into each person's brand conversation."""

    class Kind(models.TextChoices):
        TEXT = "text"
        CARD = "card"
        OFFER = "offer"
        SALE = "sale"

    class Status(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        SENDING = "sending"
        PAUSED = "paused"
        CANCELLED = "cancelled"
        DONE = "done"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # {"text": ..., "title": ..., "image_url": ..., "link": ...}; variant B optional.
    content = models.JSONField(default=dict)
    content_b = models.JSONField(null=True, blank=True)
    split_b_percent = models.PositiveSmallIntegerField(default=0)
    holdout_percent = models.PositiveSmallIntegerField(default=5)
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sale = models.ForeignKey(
        "ExclusiveSale", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns")
    # A frozen copy of the segment's rules at scheduling time: editing the segment
    # later does not change who a running campaign reaches.
    rules = models.JSONField(default=dict)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    respect_quiet_hours = models.BooleanField(default=True)
    # Highest user id fully processed by the current pass (resume point).
    cursor_user_id = models.BigIntegerField(default=0)
    passes = models.PositiveIntegerField(default=0)
    next_pass_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=50), name="campaign_holdout_le_50"
            ),
            models.CheckConstraint(
                condition=Q(split_b_percent__lte=100), name="campaign_split_le_100"
            ),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One person's outcome for one campaign. Unique per (campaign, person): the row is
    written in the same transaction as the chat message, so a resumed send skips it."""

    class Status(models.TextChoices):
        SENT = "sent"
        CAPPED = "capped"  # frequency cap: skipped and counted
        HOLDOUT = "holdout"  # control group: never messaged, measured for lift

    # No single-column indexes on campaign and user: `delivery_once` (campaign, user) and
    # `delivery_user_recent` (user, created_at) lead with them. A campaign writes a row per
    # person, so every index here is paid a million times per campaign.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    variant = models.CharField(max_length=1, default="A")  # A, B, or H (holdout)
    status = models.CharField(max_length=8, choices=Status.choices)
    created_at = models.DateTimeField(default=timezone.now)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="delivery_once"),
        ]
        indexes = [
            # Frequency caps: this person's recent campaign messages, per brand and overall.
            models.Index(fields=["user", "created_at"], name="delivery_user_recent"),
            models.Index(fields=["campaign", "variant", "status"], name="delivery_funnel"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} to {self.user_id}: {self.status}"


class ExclusiveSale(models.Model):
    """A limited stock sold to followers from a start time, one per person."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="sales")
    title = models.CharField(max_length=120)
    price_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    stock_total = models.PositiveIntegerField()
    stock_left = models.IntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    followers_only = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(stock_left__gte=0), name="sale_stock_not_negative"),
            models.CheckConstraint(
                condition=Q(stock_left__lte=F("stock_total")), name="sale_stock_le_total"
            ),
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="sale_price_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class SaleOrder(models.Model):
    """One unit bought in an exclusive sale. Unique per person: one each."""

    # No index of its own: the index sale_order_once_per_person leads with it.
    sale = models.ForeignKey(
        ExclusiveSale, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=100, blank=True)
    journal_entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sale", "user"], name="sale_order_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"sale {self.sale_id} to {self.user_id}"


# --- console: audit log, team invites, second factor (issue 11, docs/CONSOLE.md) ----------


class AuditEvent(models.Model):
    """Who did what in a brand, written by the brands services in the same transaction as
    the action itself (so a rolled-back action leaves no entry and a committed one always
    has one). Append-only: nothing updates or deletes these rows except the brand's own
    deletion."""

    class Action(models.TextChoices):
        CAMPAIGN_SENT = "campaign.sent", "sent a campaign"
        CAMPAIGN_SCHEDULED = "campaign.scheduled", "scheduled a campaign"
        CAMPAIGN_PAUSED = "campaign.paused", "paused a campaign"
        CAMPAIGN_RESUMED = "campaign.resumed", "resumed a campaign"
        CAMPAIGN_CANCELLED = "campaign.cancelled", "cancelled a campaign"
        CAMPAIGN_TEST = "campaign.test", "sent a test to themselves"
        OFFER_CREATED = "offer.created", "created an offer"
        OFFER_STOPPED = "offer.stopped", "stopped an offer"
        SALE_CREATED = "sale.created", "created an exclusive sale"
        SALE_STOPPED = "sale.stopped", "stopped an exclusive sale"
        SEGMENT_CREATED = "segment.created", "created a segment"
        TEAM_ADDED = "team.added", "added a team member"
        TEAM_ROLE = "team.role", "changed a role"
        TEAM_REMOVED = "team.removed", "removed a team member"
        INVITE_SENT = "invite.sent", "invited a colleague"
        INVITE_REVOKED = "invite.revoked", "revoked an invite"
        INVITE_ACCEPTED = "invite.accepted", "accepted an invite"

    # No index of its own: the index audit_brand_recent leads with it.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sale = models.ForeignKey(
        ExclusiveSale, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Names and values as they were at the time (objects get renamed or deleted later):
    # {"campaign": "...", "segment": "...", "member": "+1...", "role": "...", "at": "..."}.
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["brand", "-created_at", "-id"], name="audit_brand_recent")]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} in {self.brand_id}"


class TeamInvite(models.Model):
    """An owner's invitation to join a brand's team with a role, sent by email or SMS.
    The link carries a random token; only its SHA-256 digest is stored."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=10, choices=BrandMember.Role.choices)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(email="") & ~Q(phone="")) | (~Q(email="") & Q(phone="")),
                name="invite_email_xor_phone",
            ),
        ]

    def __str__(self) -> str:
        return f"invite to {self.brand_id} for {self.email or self.phone}"

    @property
    def address(self) -> str:
        return self.email or self.phone

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"


class ConsoleSecondFactor(models.Model):
    """A console user's TOTP authenticator (RFC 6238). Confirmed once a code from the app
    matched; until then sign-in does not ask for it. `last_step` refuses a code that was
    already used (replay within its 30 s window). Recovery codes are stored as digests
    and each works once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_second_factor"
    )
    # Fernet-encrypted with the at-rest keys of payments.merchant_secrets (never plain).
    secret = models.CharField(max_length=255)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)
    recovery_digests = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"second factor of {self.user_id}"
