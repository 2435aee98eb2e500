"""Operator credits: money the platform puts into a wallet (goodwill, promotions, test
funding). A real entry from the `funding` system account, so the books stay balanced."""

from __future__ import annotations

from django.db import transaction

from config.errors import InvalidInput

from .. import ledger
from ..models import JournalEntry
from .events import wallet_changed


def operator_credit(
    *,
    user_id: int,
    amount: int,
    currency: str,
    reason: str = "operator credit",
    idempotency_key: str | None = None,
) -> JournalEntry:
    """Credit `amount` to the user's wallet from platform funding."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("amount must be a positive integer.", fields={"amount": ["> 0"]})
    with transaction.atomic():
        wallet = ledger.user_wallet(user_id=user_id, currency=currency)
        funding = ledger.system_account(code="funding", currency=currency)
        entry = ledger.post_entry(
            kind="operator.credit",
            postings=[(funding, -amount), (wallet, amount)],
            idempotency_key=idempotency_key,
            reference=f"user:{user_id}",
            metadata={"reason": reason[:200]},
        )
        wallet_changed(user_ids=[user_id], currency=currency)
    return entry
