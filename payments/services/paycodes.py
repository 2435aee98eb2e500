"""Pay codes: the buyer's app shows an 18-digit code (and its barcode/QR); the merchant's
scanner charges it with POST /api/merchant/v1/charges. A code lives 60 seconds and works
once. Only a SHA-256 digest is stored: a code is a bearer credential for its minute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import DomainError
from config.ratelimit import check_rate

from ..models import PayCode

TTL = dt.timedelta(seconds=60)
PREFIX = "28"  # 18 digits: "28" + 16 random digits (53 bits of entropy)


@dataclass
class IssuedPayCode:
    code: str
    expires_at: dt.datetime


class PayCodeInvalid(DomainError):
    code = "pay_code_invalid"
    message = "This pay code is unknown, used or expired; ask the buyer to refresh it."


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def pay_code_issue(*, user) -> IssuedPayCode:
    check_rate("pay-code", str(user.id), "10/m,200/h")
    for _ in range(5):
        code = PREFIX + f"{secrets.randbelow(10**16):016d}"
        expires_at = timezone.now() + TTL
        try:
            with transaction.atomic():
                PayCode.objects.create(user=user, code_digest=_digest(code), expires_at=expires_at)
            return IssuedPayCode(code=code, expires_at=expires_at)
        except IntegrityError:  # a collision of 16 random digits; draw again
            continue
    raise DomainError("Could not issue a pay code; try again.", code="pay_code_unavailable")


def pay_code_consume(*, code: str):
    """Use the code up and return its owner, or raise PayCodeInvalid. Call inside the
    charge's transaction: if the charge fails, the code is not spent."""
    now = timezone.now()
    digest = _digest(code)
    used = PayCode.objects.filter(
        code_digest=digest, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if used != 1:
        raise PayCodeInvalid()
    return PayCode.objects.select_related("user").get(code_digest=digest).user


def pay_codes_prune(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Forget unused expired codes (used ones stay, linked to their order)."""
    cutoff = timezone.now() - older_than
    deleted, _ = PayCode.objects.filter(expires_at__lt=cutoff, used_at__isnull=True).delete()
    return deleted
