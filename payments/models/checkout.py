"""Merchant orders (dynamic QR, till QR, pay code charges), refunds and pay codes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .merchants import Merchant


class Order(models.Model):
    class Kind(models.TextChoices):
        QR = "qr"  # dynamic merchant-presented QR, one per sale
        TILL = "till"  # static till QR, the buyer typed the amount
        PAY_CODE = "pay_code"  # customer-presented code scanned by the merchant

    class Status(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        PARTIALLY_REFUNDED = "partially_refunded"
        REFUNDED = "refunded"
        CLOSED = "closed"
        EXPIRED = "expired"

    # No index of its own: the index order_out_trade_no_unique_per_merchant leads with it.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    out_trade_no = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.QR)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=128, blank=True)
    notify_url = models.URLField(max_length=500, blank=True)
    qr_format = models.CharField(max_length=8, default="url")
    token = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Filled in when paid: what the buyer was charged (amount - discount), our fee, and the
    # extra postings order adjusters (payments.hooks) added, kept to reverse them pro rata.
    buyer_paid = models.BigIntegerField(default=0)
    discount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)
    adjustments = models.JSONField(default=list, blank=True)
    entry_id = models.BigIntegerField(
        null=True, blank=True, help_text="ledger entry of the payment"
    )
    refunded_amount = models.BigIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "out_trade_no"], name="order_out_trade_no_unique_per_merchant"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="order_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(fee__gte=0) & Q(discount__gte=0) & Q(buyer_paid__gte=0),
                name="order_money_fields_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"order {self.id} {self.out_trade_no} {self.status}"


class Refund(models.Model):
    # No index of its own: the index refund_out_refund_no_unique_per_merchant leads with it.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    fee_returned = models.BigIntegerField(default=0)
    buyer_received = models.BigIntegerField(default=0)
    entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "out_refund_no"],
                name="refund_out_refund_no_unique_per_merchant",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"refund {self.out_refund_no} of order {self.order_id}"


class PayCode(models.Model):
    """A customer-presented code (18 digits, 60 s, single use). Only its digest is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"pay code of user {self.user_id}"
