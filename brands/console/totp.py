"""Optional TOTP second factor for console sign-in (RFC 6238, via pyotp).

- `totp_begin` creates (or restarts) an unconfirmed authenticator with a new random secret,
  stored Fernet-encrypted (payments.merchant_secrets' at-rest keys). Sign-in ignores it
  until `totp_confirm` sees a correct code from the app; confirming returns ten one-time
  recovery codes, shown once and stored as SHA-256 digests.
- `totp_check` accepts the code of the current 30 s step or the one before or after (clock
  drift), but never a step at or before the last one accepted: a code seen over a
  shoulder or replayed from a log is refused. The step is advanced with a conditional
  UPDATE, so two sign-ins racing with one code cannot both pass. A recovery code works
  instead of a code, once.
- `totp_disable` needs a valid code (or a recovery code).
- Callers rate-limit the attempts (views: per person and per IP).
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
from django.db import transaction
from django.utils import timezone

from brands.models import ConsoleSecondFactor
from config.errors import Conflict, DomainError
from payments.merchant_secrets import decrypt, encrypt

ISSUER = "Plaza console"
RECOVERY_CODES = 10


class CodeWrong(DomainError):
    code = "totp_invalid"
    message = "That code is not right (or was already used). Try the newest code."


def _digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _totp(factor: ConsoleSecondFactor) -> pyotp.TOTP:
    secret = decrypt(factor.secret)
    if not secret:
        raise DomainError("The authenticator's secret cannot be read; ask an operator.")
    return pyotp.TOTP(secret)


def totp_enabled(*, user) -> bool:
    return ConsoleSecondFactor.objects.filter(user=user, confirmed_at__isnull=False).exists()


def totp_begin(*, user) -> tuple[str, str]:
    """A fresh secret for the authenticator app: (base32 secret, otpauth:// URI)."""
    if totp_enabled(user=user):
        raise Conflict("Two-step sign-in is already on.", code="totp_enabled")
    secret = pyotp.random_base32()
    ConsoleSecondFactor.objects.update_or_create(
        user=user,
        defaults={"secret": encrypt(secret), "confirmed_at": None, "last_step": 0},
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.phone or str(user.pk), issuer_name=ISSUER)
    return secret, uri


def totp_pending_secret(*, user) -> tuple[str, str] | None:
    """The unconfirmed secret and URI (to show the QR code again), if set-up is under way."""
    factor = ConsoleSecondFactor.objects.filter(user=user, confirmed_at__isnull=True).first()
    if factor is None:
        return None
    try:
        totp = _totp(factor)
    except DomainError:  # encrypted with a key since dropped: start the set-up over
        factor.delete()
        return None
    uri = totp.provisioning_uri(name=user.phone or str(user.pk), issuer_name=ISSUER)
    return totp.secret, uri


def _accept_step(factor: ConsoleSecondFactor, code: str, now: float) -> bool:
    """Match `code` against the steps around `now` newer than the last accepted one and
    claim that step atomically."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = _totp(factor)
    current = totp.timecode(int(now))
    for step in (current - 1, current, current + 1):
        if step <= factor.last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return bool(
                ConsoleSecondFactor.objects.filter(pk=factor.pk, last_step__lt=step).update(
                    last_step=step
                )
            )
    return False


def _use_recovery(factor: ConsoleSecondFactor, code: str) -> bool:
    digest = _digest(code or "")
    with transaction.atomic():
        locked = ConsoleSecondFactor.objects.select_for_update().get(pk=factor.pk)
        if digest not in locked.recovery_digests:
            return False
        locked.recovery_digests = [d for d in locked.recovery_digests if d != digest]
        locked.save(update_fields=["recovery_digests"])
    return True


def totp_confirm(*, user, code: str, now: float | None = None) -> list[str]:
    """Turn two-step sign-in on with a code from the app; returns the recovery codes."""
    factor = ConsoleSecondFactor.objects.filter(user=user, confirmed_at__isnull=True).first()
    if factor is None:
        raise Conflict("Start the set-up first.", code="totp_not_started")
    if not _accept_step(factor, code, time.time() if now is None else now):
        raise CodeWrong()
    codes = [
        f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"
        for _ in range(RECOVERY_CODES)
    ]
    ConsoleSecondFactor.objects.filter(pk=factor.pk).update(
        confirmed_at=timezone.now(), recovery_digests=[_digest(c) for c in codes]
    )
    return codes


def totp_check(*, user, code: str, now: float | None = None) -> str:
    """Sign-in's second step: "code" or "recovery" when accepted, else CodeWrong."""
    factor = ConsoleSecondFactor.objects.filter(user=user, confirmed_at__isnull=False).first()
    if factor is None:
        return "none"
    if _accept_step(factor, code, time.time() if now is None else now):
        return "code"
    if _use_recovery(factor, code):
        return "recovery"
    raise CodeWrong()


def recovery_codes_left(*, user) -> int:
    factor = ConsoleSecondFactor.objects.filter(user=user, confirmed_at__isnull=False).first()
    return len(factor.recovery_digests) if factor else 0


def totp_disable(*, user, code: str, now: float | None = None) -> None:
    totp_check(user=user, code=code, now=now)
    ConsoleSecondFactor.objects.filter(user=user).delete()
