"""Payment PIN: argon2, 5 wrong tries lock payments for 3 h, change needs proof."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import sms
from accounts.services import otp_request
from config.errors import DomainError, InvalidInput
from payments.models import PaymentPin
from payments.services.pin import payment_authorize, pin_free_limit_set, pin_set


def test_pin_is_stored_as_argon2_and_authorizes(user):
    pin_set(user=user, pin="246810")
    record = PaymentPin.objects.get(user=user)
    assert record.pin_hash.startswith("argon2$argon2id$") and "246810" not in record.pin_hash
    payment_authorize(user=user, amount=100, currency="USD", pin="246810")


@pytest.mark.parametrize("bad", ["12345", "1234567", "abcdef", "12 456", ""])
def test_pin_must_be_six_digits(user, bad):
    with pytest.raises(InvalidInput):
        pin_set(user=user, pin=bad)


def test_no_pin_set_and_missing_pin_are_refused(user):
    with pytest.raises(DomainError) as exc:
        payment_authorize(user=user, amount=1, currency="USD", pin="123456")
    assert exc.value.code == "pin_not_set"
    pin_set(user=user, pin="123456")
    with pytest.raises(DomainError) as exc:
        payment_authorize(user=user, amount=1, currency="USD", pin=None)
    assert exc.value.code == "pin_required"


def test_five_wrong_pins_lock_payments_for_three_hours(user):
    pin_set(user=user, pin="123456")
    for left in (4, 3, 2, 1):
        with pytest.raises(DomainError) as exc:
            payment_authorize(user=user, amount=1, currency="USD", pin="000000")
        assert (exc.value.code, exc.value.extra["tries_left"]) == ("pin_wrong", left)
    with pytest.raises(DomainError) as exc:
        payment_authorize(user=user, amount=1, currency="USD", pin="000000")
    assert exc.value.code == "payments_locked"
    # Even the right PIN is refused while locked.
    with pytest.raises(DomainError) as exc:
        payment_authorize(user=user, amount=1, currency="USD", pin="123456")
    assert exc.value.code == "payments_locked"
    assert 3 * 3600 - 5 <= exc.value.extra["retry_after"] <= 3 * 3600 + 1
    # After three hours it opens again.
    PaymentPin.objects.filter(user=user).update(
        locked_until=timezone.now() - dt.timedelta(seconds=1)
    )
    payment_authorize(user=user, amount=1, currency="USD", pin="123456")


def test_a_right_pin_resets_the_wrong_try_count(user):
    pin_set(user=user, pin="123456")
    for _ in range(4):
        with pytest.raises(DomainError):
            payment_authorize(user=user, amount=1, currency="USD", pin="000000")
    payment_authorize(user=user, amount=1, currency="USD", pin="123456")
    with pytest.raises(DomainError) as exc:
        payment_authorize(user=user, amount=1, currency="USD", pin="000000")
    assert exc.value.extra["tries_left"] == 4


def test_change_needs_old_pin_or_fresh_otp(user):
    pin_set(user=user, pin="123456")
    with pytest.raises(DomainError) as exc:
        pin_set(user=user, pin="654321")
    assert exc.value.code == "pin_change_needs_proof"
    with pytest.raises(DomainError) as exc:
        pin_set(user=user, pin="654321", old_pin="111111")
    assert exc.value.code == "pin_wrong"
    pin_set(user=user, pin="654321", old_pin="123456")
    payment_authorize(user=user, amount=1, currency="USD", pin="654321")

    otp_request(phone=user.phone, client_ip="127.0.0.1")
    code = next(w for w in sms.outbox[-1]["text"].split() if w.rstrip(".").isdigit()).rstrip(".")
    with pytest.raises(DomainError) as exc:
        pin_set(user=user, pin="999999", otp_code="000000" if code != "000000" else "000001")
    assert exc.value.code == "otp_invalid"
    pin_set(user=user, pin="999999", otp_code=code)
    payment_authorize(user=user, amount=1, currency="USD", pin="999999")
    # The code is used up.
    with pytest.raises(DomainError) as exc:
        pin_set(user=user, pin="111111", otp_code=code)
    assert exc.value.code == "otp_expired"


def test_password_free_small_payments_below_the_users_limit(user, settings):
    pin_set(user=user, pin="123456")
    pin_free_limit_set(user=user, limit=500)
    payment_authorize(user=user, amount=500, currency="USD", pin=None)
    with pytest.raises(DomainError) as exc:
        payment_authorize(user=user, amount=501, currency="USD", pin=None)
    assert exc.value.code == "pin_required"
    with pytest.raises(InvalidInput):
        pin_free_limit_set(user=user, limit=settings.PAYMENTS_PIN_FREE_MAX + 1)
