"""Card gateways for top-ups: Stripe, or a clearly labelled sandbox for offline dev.

The contract is small (Saleor's habit): `create_intent(topup) -> IntentResult`. Stripe is
used when STRIPE_SECRET_KEY is set. Without it, and only with DEBUG on outside
production (PAYMENTS_SANDBOX_GATEWAY), the sandbox completes top-ups at once so
`make run` works with no network. Production refuses the sandbox at settings load and
here again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.errors import DomainError


@dataclass
class IntentResult:
    id: str
    status: str  # "requires_payment_method", "succeeded", ...
    client_secret: str


class Gateway(Protocol):
    name: str

    def create_intent(self, *, topup) -> IntentResult: ...


class GatewayError(DomainError):
    status = 502
    code = "gateway_error"
    message = "The card gateway did not answer; try again."


class TopupsUnavailable(DomainError):
    # 422, not 503: a server without a card gateway says "not here", it is not failing.
    status = 422
    code = "topups_unavailable"
    message = "Top-ups are not configured on this server."


def stripe_client() -> stripe.StripeClient:
    # Stripe's HTTP goes through `requests`, which tests replace with `responses`.
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        http_client=stripe.RequestsClient(),
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=2,
    )


class StripeGateway:
    name = "stripe"

    def create_intent(self, *, topup) -> IntentResult:
        try:
            intent = stripe_client().v1.payment_intents.create(
                params={
                    "amount": topup.amount,
                    "currency": topup.currency.lower(),
                    "automatic_payment_methods": {"enabled": True},
                    "metadata": {
                        "plaza_topup_id": str(topup.pk),
                        "plaza_user_id": str(topup.user_id),
                    },
                },
                options={"idempotency_key": f"plaza-topup-{topup.request_key}"},
            )
        except stripe.StripeError as exc:
            raise GatewayError(detail=str(getattr(exc, "user_message", "") or "")[:200])
        return IntentResult(
            id=intent["id"], status=intent["status"], client_secret=intent["client_secret"] or ""
        )


class SandboxGateway:
    """NOT A REAL GATEWAY. Pretends every card works; development only."""

    name = "sandbox"

    def __init__(self) -> None:
        if settings.PRODUCTION or not settings.PAYMENTS_SANDBOX_GATEWAY:
            raise ImproperlyConfigured("the sandbox gateway is refused outside development")

    def create_intent(self, *, topup) -> IntentResult:
        return IntentResult(
            id=f"sandbox_pi_{uuid.uuid4().hex}",
            status="succeeded",
            client_secret="sandbox-no-card-needed",
        )


def gateway() -> Gateway:
    if settings.STRIPE_SECRET_KEY:
        return StripeGateway()
    if settings.PAYMENTS_SANDBOX_GATEWAY and not settings.PRODUCTION:
        return SandboxGateway()
    raise TopupsUnavailable()
