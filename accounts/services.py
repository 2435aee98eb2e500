"""Writes about people: login, devices, profile."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import DomainError, InvalidInput, NotFound
from config.ratelimit import check_rate

from .models import Device, PhoneOTP, User
from .phones import normalize_phone
from .tokens import new_token, otp_digest, token_digest


class OtpInvalid(DomainError):
    code = "otp_invalid"
    message = "The code is wrong."


class OtpExpired(DomainError):
    code = "otp_expired"
    message = "The code has expired or was used up; ask for a new one."


def _clean_phone(phone: str) -> str:
    normalized = normalize_phone(phone)
    if not normalized:
        raise InvalidInput(
            "Enter the phone number in international form, e.g. +14155550123.",
            code="invalid_phone",
            fields={"phone": ["Not a valid E.164 phone number."]},
        )
    return normalized


@dataclass
class OtpRequested:
    phone: str
    expires_at: dt.datetime
    debug_code: str | None


def otp_request(*, phone: str, client_ip: str) -> OtpRequested:
    """Create a new code for `phone` and send it by SMS after commit."""
    phone = _clean_phone(phone)
    check_rate("otp-ip", client_ip, settings.OTP_RATE_PER_IP)
    check_rate("otp-phone", phone, settings.OTP_RATE_PER_PHONE)
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        # Only the newest code counts: older ones die when a new one is issued.
        PhoneOTP.objects.filter(phone=phone, used_at__isnull=True).update(used_at=now)
        otp = PhoneOTP.objects.create(
            phone=phone,
            code_digest=otp_digest(phone, code),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.OTP_TTL_SECONDS),
            tries_left=settings.OTP_MAX_TRIES,
        )
        from .tasks import send_sms_task

        text = f"Your Plaza code is {code}. It expires in {settings.OTP_TTL_SECONDS // 60} minutes."
        transaction.on_commit(lambda: send_sms_task.delay(phone, text))
    return OtpRequested(
        phone=phone,
        expires_at=otp.expires_at,
        debug_code=code if settings.OTP_EXPOSE_DEBUG_CODE else None,
    )


@dataclass
class LoginResult:
    user: User
    device: Device
    token: str
    created: bool


def otp_login(
    *, phone: str, code: str, device_name: str = "", platform: str = "", client_ip: str
) -> LoginResult:
    """Check the code; on success create the account if new and a token for this device.

    A wrong try is counted in its own committed transaction before the error is raised,
    so five wrong codes kill it even though each answer is an error.
    """
    phone = _clean_phone(phone)
    check_rate("login-ip", client_ip, settings.LOGIN_RATE_PER_IP)
    failure: DomainError | None = None
    with transaction.atomic():
        otp = (
            PhoneOTP.objects.select_for_update()
            .filter(phone=phone, used_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        now = timezone.now()
        if otp is None or otp.expires_at <= now or otp.tries_left == 0:
            raise OtpExpired()
        if not secrets.compare_digest(otp.code_digest, otp_digest(phone, str(code))):
            otp.tries_left -= 1
            if otp.tries_left == 0:
                otp.used_at = now
                failure = OtpExpired("Too many wrong tries; ask for a new code.", tries_left=0)
            else:
                failure = OtpInvalid(tries_left=otp.tries_left)
            otp.save(update_fields=["tries_left", "used_at"])
        else:
            otp.used_at = now
            otp.save(update_fields=["used_at"])
            user, created = _get_or_create_user(phone)
            token = new_token()
            device = Device.objects.create(
                user=user,
                name=device_name[:100],
                platform=platform[:16],
                token_digest=token_digest(token),
            )
    if failure is not None:
        raise failure
    return LoginResult(user=user, device=device, token=token, created=created)


def _get_or_create_user(phone: str) -> tuple[User, bool]:
    user = User.objects.filter(phone=phone).first()
    if user:
        if not user.is_active:
            raise DomainError("This account is disabled.", code="account_disabled", status=403)
        return user, False
    try:
        with transaction.atomic():
            return User.objects.create_user(phone=phone), True
    except IntegrityError:
        return User.objects.get(phone=phone), False


def user_get_or_create_by_phone(*, phone: str) -> tuple[User, bool]:
    return _get_or_create_user(_clean_phone(phone))


def device_token_issue(*, user: User, device_name: str = "script") -> str:
    token = new_token()
    Device.objects.create(user=user, name=device_name, token_digest=token_digest(token))
    return token


def device_revoke(*, user: User, device_id: int) -> None:
    updated = Device.objects.filter(pk=device_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise NotFound("No such device.")


def device_set_push_token(*, device: Device, push_token: str) -> Device:
    device.push_token = push_token[:500]
    device.save(update_fields=["push_token"])
    return device


PROFILE_FIELDS = (
    "display_name",
    "avatar_url",
    "bio",
    "region",
    "language",
    "time_zone",
    "birth_year",
    "gender",
    "discoverable_by_phone",
)


def profile_update(*, user: User, **changes) -> User:
    fields = [f for f in changes if f in PROFILE_FIELDS]
    for f in fields:
        setattr(user, f, changes[f])
    if fields:
        user.save(update_fields=fields)
    return user


def otp_confirm(*, user: User, code: str) -> None:
    """Step-up check: `code` must be the newest live code sent to `user`'s phone (e.g. to
    change a payment PIN without the old one). Consumes the code; wrong tries count and
    are committed even though the caller gets an error."""
    if not user.phone:
        raise OtpExpired()
    failure: DomainError | None = None
    with transaction.atomic():
        otp = (
            PhoneOTP.objects.select_for_update()
            .filter(phone=user.phone, used_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        now = timezone.now()
        if otp is None or otp.expires_at <= now or otp.tries_left == 0:
            raise OtpExpired()
        if secrets.compare_digest(otp.code_digest, otp_digest(user.phone, str(code))):
            otp.used_at = now
            otp.save(update_fields=["used_at"])
            return
        otp.tries_left -= 1
        if otp.tries_left == 0:
            otp.used_at = now
            failure = OtpExpired("Too many wrong tries; ask for a new code.", tries_left=0)
        else:
            failure = OtpInvalid(tries_left=otp.tries_left)
        otp.save(update_fields=["tries_left", "used_at"])
    raise failure
