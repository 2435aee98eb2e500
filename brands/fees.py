"""Campaign message fees: charged to the brand's wallet beyond its free monthly quota."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from config.errors import DomainError

from .models import Brand


class CampaignFundsLow(DomainError):
    code = "brand_wallet_insufficient"
    message = "The brand's wallet cannot pay for more campaign messages."


def charge_message_fees(*, brand: Brand, count: int, at: dt.datetime | None = None) -> int:
    """One ledger entry per batch: brand wallet → platform revenue. Raises
    CampaignFundsLow (the batch rolls back and the campaign pauses) if the wallet is short."""
    from payments import ledger

    from .sales import brand_wallet_account

    amount = count * brand.message_fee_minor
    if amount <= 0:
        return 0
    at = at or timezone.now()
    try:
        ledger.post_entry(
            kind="brands.campaign_fee",
            postings=[
                (brand_wallet_account(brand=brand), -amount),
                (ledger.revenue_account(currency=brand.currency), amount),
            ],
            reference=f"brand:{brand.pk}",
            metadata={
                "messages": count,
                "fee_minor": brand.message_fee_minor,
                "at": at.isoformat(),
            },
        )
    except ledger.InsufficientFunds as exc:
        raise CampaignFundsLow() from exc
    return amount
