"""Top-ups: a card payment (Stripe PaymentIntent) that credits the wallet exactly once.

Money enters the books only when Stripe says it arrived (`payment_intent.succeeded`):
one entry `stripe_clearing -> wallet`, keyed by the top-up, in the same transaction that
records the Stripe event id, so a webhook delivered ten times (even at once) credits
once. Refunds and disputes are reversing entries; what the wallet can no longer cover
(the person already spent it) is carried on the `suspense` account as the platform's loss.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import InvalidInput

from .. import ledger
from ..gateways import gateway
from ..models import StripeEvent, TopUp, TopUpStatus
from .events import wallet_changed
from .transfers import check_currency

log = logging.getLogger(__name__)


def topup_create(*, user, amount: int, currency: str) -> TopUp:
    """Start a top-up: a PaymentIntent the app confirms with the card (client_secret).

    The gateway call runs outside any transaction of ours (Saleor's habit: never hold
    rows locked while waiting on the network); the sandbox gateway succeeds at once."""
    currency = check_currency(currency)
    minimum = settings.PAYMENTS_TOPUP_MIN.get(currency, 50)
    maximum = settings.PAYMENTS_TOPUP_MAX
    if isinstance(amount, bool) or not isinstance(amount, int) or not minimum <= amount <= maximum:
        raise InvalidInput(
            f"A top-up is between {minimum} and {maximum} minor units of {currency}.",
            code="invalid_amount",
            fields={"amount": [f"Must be between {minimum} and {maximum}."]},
        )
    gw = gateway()
    topup = TopUp.objects.create(
        user=user,
        amount=amount,
        currency=currency,
        gateway=gw.name,
        request_key=uuid.uuid4().hex,
    )
    try:
        intent = gw.create_intent(topup=topup)
    except Exception:
        TopUp.objects.filter(pk=topup.pk).update(
            status=TopUpStatus.FAILED, failure_message="gateway error", updated_at=timezone.now()
        )
        raise
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup.pk)
        topup.provider_id = intent.id
        topup.client_secret = intent.client_secret
        topup.updated_at = timezone.now()
        topup.save(update_fields=["provider_id", "client_secret", "updated_at"])
        if gw.name == "sandbox" and intent.status == "succeeded":
            _credit(topup, amount=topup.amount)
    return topup


def _credit(topup: TopUp, *, amount: int) -> None:
    """Credit a locked top-up's wallet once (the entry key guards a second time)."""
    if topup.status == TopUpStatus.SUCCEEDED:
        return
    wallet = ledger.user_wallet(user_id=topup.user_id, currency=topup.currency)
    clearing = ledger.system_account(code="stripe_clearing", currency=topup.currency)
    ledger.post_entry(
        kind="topup.succeeded",
        postings=[(clearing, -amount), (wallet, amount)],
        idempotency_key=f"topup:{topup.pk}:credit",
        reference=f"topup:{topup.pk}",
        metadata={"gateway": topup.gateway, "provider_id": topup.provider_id or ""},
    )
    topup.status = TopUpStatus.SUCCEEDED
    topup.updated_at = timezone.now()
    topup.save(update_fields=["status", "updated_at"])
    wallet_changed(user_ids=[topup.user_id], currency=topup.currency)


def _take_back(topup: TopUp, *, amount: int, key: str, kind: str) -> None:
    """Reverse `amount` of a top-up: from the wallet as far as it is available, the rest
    from suspense (the platform's loss, recorded on the top-up as `shortfall`)."""
    if amount <= 0:
        return
    wallet = ledger.user_wallet(user_id=topup.user_id, currency=topup.currency)
    clearing = ledger.system_account(code="stripe_clearing", currency=topup.currency)
    suspense = ledger.system_account(code="suspense", currency=topup.currency)
    locked = ledger.lock_accounts(accounts=[wallet, clearing, suspense])
    take = max(0, min(amount, locked[wallet.pk].available))
    shortfall = amount - take
    postings = [(clearing, amount)]
    if take:
        postings.append((wallet, -take))
    if shortfall:
        postings.append((suspense, -shortfall))
    ledger.post_entry(
        kind=kind, postings=postings, idempotency_key=key, reference=f"topup:{topup.pk}"
    )
    topup.shortfall += shortfall
    if take:
        wallet_changed(user_ids=[topup.user_id], currency=topup.currency)


def _give_back(topup: TopUp, *, amount: int, key: str, kind: str) -> None:
    """Reinstate `amount` (a dispute won): first repay what suspense covered."""
    if amount <= 0:
        return
    wallet = ledger.user_wallet(user_id=topup.user_id, currency=topup.currency)
    clearing = ledger.system_account(code="stripe_clearing", currency=topup.currency)
    suspense = ledger.system_account(code="suspense", currency=topup.currency)
    to_suspense = min(amount, topup.shortfall)
    to_wallet = amount - to_suspense
    postings = [(clearing, -amount)]
    if to_suspense:
        postings.append((suspense, to_suspense))
    if to_wallet:
        postings.append((wallet, to_wallet))
    ledger.post_entry(
        kind=kind, postings=postings, idempotency_key=key, reference=f"topup:{topup.pk}"
    )
    topup.shortfall -= to_suspense
    if to_wallet:
        wallet_changed(user_ids=[topup.user_id], currency=topup.currency)


def _locked_topup(intent_id: str | None) -> TopUp | None:
    if not intent_id:
        return None
    return TopUp.objects.select_for_update().filter(provider_id=intent_id).first()


def stripe_event_handle(*, event: dict) -> str:
    """Apply one verified Stripe event exactly once. Returns what happened (for logs and
    the webhook's answer): "duplicate", "ignored", "credited", ..."""
    event_id, etype = event.get("id"), event.get("type", "")
    obj = (event.get("data") or {}).get("object") or {}
    if not event_id:
        raise InvalidInput("The event has no id.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                # A concurrent delivery of the same event waits here until we commit,
                # then fails on the unique id: exactly one delivery does the work.
                StripeEvent.objects.create(event_id=event_id, type=etype[:100])
        except IntegrityError:
            return "duplicate"
        return _dispatch(etype, obj)


def _dispatch(etype: str, obj: dict) -> str:
    if etype == "payment_intent.succeeded":
        topup = _locked_topup(obj.get("id"))
        if topup is None:
            return "ignored"
        received = obj.get("amount_received", obj.get("amount"))
        if received != topup.amount or str(obj.get("currency", "")).upper() != topup.currency:
            log.error("top-up %s: Stripe received %s %s", topup.pk, received, obj.get("currency"))
            if not isinstance(received, int) or received <= 0:
                return "ignored"
        if topup.status == TopUpStatus.SUCCEEDED:
            return "already_credited"
        _credit(topup, amount=received)
        return "credited"
    if etype in ("payment_intent.payment_failed", "payment_intent.canceled"):
        topup = _locked_topup(obj.get("id"))
        if topup is None or topup.status != TopUpStatus.REQUIRES_PAYMENT:
            return "ignored"
        topup.status = TopUpStatus.FAILED if etype.endswith("failed") else TopUpStatus.CANCELED
        error = obj.get("last_payment_error") or {}
        topup.failure_message = str(error.get("message", ""))[:300]
        topup.updated_at = timezone.now()
        topup.save(update_fields=["status", "failure_message", "updated_at"])
        return topup.status
    if etype == "charge.refunded":
        topup = _locked_topup(obj.get("payment_intent"))
        if topup is None or topup.status != TopUpStatus.SUCCEEDED:
            return "ignored"
        total = int(obj.get("amount_refunded") or 0)
        total = min(total, topup.amount - topup.disputed_amount)
        delta = total - topup.refunded_amount
        if delta <= 0:
            return "ignored"
        _take_back(topup, amount=delta, key=f"topup:{topup.pk}:refund:{total}", kind="topup.refund")
        topup.refunded_amount = total
        topup.updated_at = timezone.now()
        topup.save(update_fields=["refunded_amount", "shortfall", "updated_at"])
        return "refunded"
    if etype in ("charge.dispute.created", "charge.dispute.closed"):
        topup = _locked_topup(obj.get("payment_intent"))
        if topup is None or topup.status != TopUpStatus.SUCCEEDED:
            return "ignored"
        dispute_id = str(obj.get("id", ""))
        if etype == "charge.dispute.created":
            amount = min(int(obj.get("amount") or 0), topup.amount - topup.refunded_amount)
            amount -= topup.disputed_amount
            _take_back(
                topup,
                amount=amount,
                key=f"topup:{topup.pk}:dispute:{dispute_id}",
                kind="topup.dispute",
            )
            topup.disputed_amount += max(0, amount)
            result = "disputed"
        elif obj.get("status") == "won" and topup.disputed_amount:
            amount = topup.disputed_amount
            _give_back(
                topup,
                amount=amount,
                key=f"topup:{topup.pk}:dispute:{dispute_id}:won",
                kind="topup.dispute_won",
            )
            topup.disputed_amount = 0
            result = "dispute_won"
        else:
            return "ignored"
        topup.updated_at = timezone.now()
        topup.save(update_fields=["disputed_amount", "shortfall", "updated_at"])
        return result
    return "ignored"
