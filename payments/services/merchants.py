"""Merchants and their API keys: create, rotate, revoke."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from config.errors import Conflict, InvalidInput, NotFound

from .. import emvco, merchant_secrets
from ..models import Merchant, MerchantApiKey

MAX_ACTIVE_KEYS = 2


@dataclass
class IssuedKey:
    key_id: str
    secret: str  # shown once, never stored in clear


def _validate(*, currency: str, country: str, mcc: str, fee_bps: int) -> None:
    fields = {}
    if currency not in emvco.CURRENCIES:
        fields["currency"] = [f"Unsupported currency; one of {', '.join(emvco.CURRENCIES)}."]
    if len(country) != 2 or not country.isalpha():
        fields["country"] = ["An ISO 3166-1 alpha-2 code, e.g. US."]
    if len(mcc) != 4 or not mcc.isdigit():
        fields["mcc"] = ["A four-digit merchant category code, e.g. 5814."]
    if not 0 <= fee_bps <= 10000:
        fields["fee_bps"] = ["Between 0 and 10000 basis points."]
    if fields:
        raise InvalidInput("Invalid merchant.", fields=fields)


def _new_key(merchant: Merchant, label: str = "") -> IssuedKey:
    key_id = "mk_" + secrets.token_hex(10)
    secret = "sk_" + secrets.token_urlsafe(32)
    MerchantApiKey.objects.create(
        merchant=merchant,
        key_id=key_id,
        secret_encrypted=merchant_secrets.encrypt(secret),
        label=label,
    )
    return IssuedKey(key_id=key_id, secret=secret)


def merchant_create(
    *,
    name: str,
    country: str,
    city: str,
    currency: str,
    mcc: str = "5999",
    fee_bps: int = 60,
    notify_url: str = "",
) -> tuple[Merchant, IssuedKey]:
    """A new merchant with its first API key (the secret is returned once)."""
    currency, country = currency.upper(), country.upper()
    _validate(currency=currency, country=country, mcc=mcc, fee_bps=fee_bps)
    if notify_url:
        from .webhooks import check_notify_url

        check_notify_url(notify_url)
    with transaction.atomic():
        merchant = Merchant.objects.create(
            name=name,
            country=country,
            city=city,
            currency=currency,
            mcc=mcc,
            fee_bps=fee_bps,
            notify_url=notify_url,
            till_token="t_" + secrets.token_urlsafe(24),
        )
        key = _new_key(merchant, label="first key")
    return merchant, key


def merchant_key_rotate(*, merchant_id: int, label: str = "") -> IssuedKey:
    """Issue a second key; both work until the old one is revoked (the overlap)."""
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().filter(id=merchant_id).first()
        if merchant is None:
            raise NotFound("No such merchant.")
        active = MerchantApiKey.objects.filter(merchant=merchant, revoked_at__isnull=True).count()
        if active >= MAX_ACTIVE_KEYS:
            raise Conflict(
                "This merchant already has two active keys; revoke the old one first.",
                code="too_many_active_keys",
            )
        _forget_signing_key(merchant.id)
        return _new_key(merchant, label=label)


def merchant_key_revoke(*, key_id: str) -> None:
    with transaction.atomic():
        key = MerchantApiKey.objects.select_for_update().filter(key_id=key_id).first()
        if key is None:
            raise NotFound("No such key.")
        _forget_signing_key(key.merchant_id)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])


def merchant_secrets_reencrypt() -> int:
    """Re-encrypt every stored secret with the newest MERCHANT_SECRET_KEYS key."""
    count = 0
    for key in MerchantApiKey.objects.only("id", "secret_encrypted").iterator():
        MerchantApiKey.objects.filter(id=key.id).update(
            secret_encrypted=merchant_secrets.reencrypt(key.secret_encrypted)
        )
        count += 1
    return count


# (merchant id, created_at) -> (when read, key): the creation time guards against an id
# that comes back (a rolled-back test transaction on SQLite reuses ids).
_signing_keys: dict[tuple, tuple[float, tuple[str, str] | None]] = {}
SIGNING_KEY_CACHE_SECONDS = 30.0


def signing_key_for(merchant: Merchant) -> tuple[str, str] | None:
    """The newest active key (key id, secret): what outgoing webhooks are signed with.
    Remembered per process for 30 s (a worker sends many webhooks per merchant); a key
    revoked meanwhile may sign webhooks for that long, which the merchant still verifies
    while it holds the key."""
    now = time.monotonic()
    ident = (merchant.id, merchant.created_at)
    cached = _signing_keys.get(ident)
    if cached is not None and now - cached[0] < SIGNING_KEY_CACHE_SECONDS:
        return cached[1]
    found = _newest_key(merchant)
    if len(_signing_keys) > 10000:
        _signing_keys.clear()
    _signing_keys[ident] = (now, found)
    return found


def _forget_signing_key(merchant_id: int) -> None:
    for ident in list(_signing_keys):  # a snapshot: worker threads may add meanwhile
        if ident[0] == merchant_id:
            _signing_keys.pop(ident, None)


def _newest_key(merchant: Merchant) -> tuple[str, str] | None:
    key = (
        MerchantApiKey.objects.filter(merchant=merchant, revoked_at__isnull=True)
        .order_by("-id")
        .first()
    )
    if key is None:
        return None
    secret = merchant_secrets.decrypt(key.secret_encrypted)
    return (key.key_id, secret) if secret else None
