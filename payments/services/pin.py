"""The 6-digit payment PIN and `payment_authorize`, which every payment calls.

Call `payment_authorize` BEFORE the transaction that moves the money: a wrong PIN is
counted in its own committed transaction, and five in a row lock payments for 3 hours.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection, transaction
from django.utils import timezone

from accounts.services import otp_confirm
from config.errors import DomainError, InvalidInput

from ..models import PaymentPin

_PIN_RE = re.compile(r"^[0-9]{6}$")


class _PinHasher(Argon2PasswordHasher):
    """Argon2id always, even where tests swap password hashers for MD5: a PIN has only a
    million values, so its hash must be slow to brute-force if the table ever leaks. The
    cost comes from settings (tests lower it; the hash records its own parameters)."""

    @property
    def memory_cost(self) -> int:  # KiB
        return int(getattr(settings, "PAYMENTS_PIN_ARGON2_MEMORY_KIB", 65536))

    @property
    def time_cost(self) -> int:
        return int(getattr(settings, "PAYMENTS_PIN_ARGON2_TIME_COST", 2))

    parallelism = 1


_hasher = _PinHasher()


class PinNotSet(DomainError):
    code = "pin_not_set"
    message = "Set a payment PIN first."


class PinRequired(DomainError):
    code = "pin_required"
    message = "This payment needs your payment PIN."


class PinWrong(DomainError):
    code = "pin_wrong"
    message = "The payment PIN is wrong."


class PaymentsLocked(DomainError):
    code = "payments_locked"
    message = "Too many wrong PINs; payments are locked for a while."


def _max_tries() -> int:
    return int(getattr(settings, "PAYMENTS_PIN_MAX_TRIES", 5))


def _lock_for() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "PAYMENTS_PIN_LOCK_SECONDS", 3 * 3600)))


def _clean(pin: str, field: str = "pin") -> str:
    if not isinstance(pin, str) or not _PIN_RE.match(pin):
        raise InvalidInput(
            "A payment PIN is exactly 6 digits.",
            code="invalid_pin",
            fields={field: ["Must be exactly 6 digits."]},
        )
    return pin


def _hash(pin: str) -> str:
    return _hasher.encode(pin, _hasher.salt())


def pin_is_set(*, user) -> bool:
    return PaymentPin.objects.filter(user=user).exists()


def pin_set(
    *, user, pin: str, old_pin: str | None = None, otp_code: str | None = None
) -> PaymentPin:
    """Set the PIN, or change it: a change needs the old PIN or a fresh SMS code
    (`otp_code`, from POST /api/v1/auth/otp). A correct change also lifts a lock."""
    _clean(pin)
    existing = PaymentPin.objects.filter(user=user).first()
    if existing is not None:
        if otp_code:
            otp_confirm(user=user, code=otp_code)
        elif old_pin:
            _verify(user=user, pin=_clean(old_pin, "old_pin"))
        else:
            raise DomainError(
                "Changing the PIN needs the old PIN or a fresh SMS code.",
                code="pin_change_needs_proof",
            )
    with transaction.atomic():
        record, _ = PaymentPin.objects.select_for_update().get_or_create(
            user=user, defaults={"pin_hash": _hash(pin)}
        )
        record.pin_hash = _hash(pin)
        record.failed_attempts = 0
        record.locked_until = None
        record.updated_at = timezone.now()
        record.save()
    return record


def pin_free_limit_set(*, user, limit: int) -> PaymentPin:
    """Opt in to password-free payments up to `limit` minor units (capped by settings)."""
    cap = int(getattr(settings, "PAYMENTS_PIN_FREE_MAX", 20000))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= cap:
        raise InvalidInput(
            f"The limit must be between 0 and {cap}.",
            fields={"pin_free_limit": [f"Must be between 0 and {cap}."]},
        )
    record = PaymentPin.objects.filter(user=user).first()
    if record is None:
        raise PinNotSet()
    record.pin_free_limit = limit
    record.save(update_fields=["pin_free_limit"])
    return record


def _verify(*, user, pin: str) -> None:
    """Check the PIN, counting wrong tries in their own committed transaction."""
    failure: DomainError | None = None
    with transaction.atomic():
        record = PaymentPin.objects.select_for_update().filter(user=user).first()
        if record is None:
            raise PinNotSet()
        now = timezone.now()
        if record.locked_until and record.locked_until > now:
            raise PaymentsLocked(retry_after=int((record.locked_until - now).total_seconds()) + 1)
        if _hasher.verify(pin, record.pin_hash):
            if record.failed_attempts:
                record.failed_attempts = 0
                record.locked_until = None
                record.save(update_fields=["failed_attempts", "locked_until"])
            return
        record.failed_attempts += 1
        if record.failed_attempts >= _max_tries():
            record.failed_attempts = 0
            record.locked_until = now + _lock_for()
            failure = PaymentsLocked(retry_after=int(_lock_for().total_seconds()))
        else:
            failure = PinWrong(tries_left=_max_tries() - record.failed_attempts)
        record.save(update_fields=["failed_attempts", "locked_until"])
    raise failure


_UNREAD = object()


def payment_authorize(
    *, user, amount: int, currency: str, pin: str | None, pin_record=_UNREAD
) -> None:
    """Say yes or raise before a payment: `pin_not_set`, `pin_required`, `pin_wrong`
    (with `tries_left`) or `payments_locked` (with `retry_after`), all 422.

    No PIN is needed at or below the user's opted-in password-free limit, but a locked
    account stays locked for every payment. `pin_record` is `(pin_free_limit,
    locked_until)` of the person's PIN row (None: no PIN set) when the caller read it in
    a statement of its own (a transfer reads it with the recipient and the wallets)."""
    if pin_record is _UNREAD:
        # Plain SQL and no model: this read is on every payment, and building it with the
        # ORM (or a raw() model) cost more CPU than the round trip (docs/LEDGER.md).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pin_free_limit, locked_until FROM payments_paymentpin WHERE user_id = %s",
                [user.pk],
            )
            row = cursor.fetchone()
    else:
        row = pin_record
    if row is None:
        raise PinNotSet()
    pin_free_limit, locked = row
    if locked is not None:  # locked now or before: the ORM parses the time (rare)
        locked_until = PaymentPin.objects.get(user_id=user.pk).locked_until
        now = timezone.now()
        if locked_until and locked_until > now:
            raise PaymentsLocked(retry_after=int((locked_until - now).total_seconds()) + 1)
    if not pin:
        if 0 < amount <= pin_free_limit:
            return
        raise PinRequired()
    if not isinstance(pin, str) or not _PIN_RE.match(pin):
        raise PinWrong("A payment PIN is exactly 6 digits.")
    _verify(user=user, pin=pin)
