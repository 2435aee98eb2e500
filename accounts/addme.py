"""Personal add-me codes: a QR on my phone screen that opens "add friend" for whoever
scans it. The code is 144 bits of HMAC output; resetting it kills the old one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import NotFound
from config.ratelimit import check_rate

from . import selectors
from .models import AddMeCode, User


class AddMeCodeNotFound(NotFound):
    code = "add_me_code_not_found"
    message = "This add-me code is not valid (it may have been reset)."


def _code_for(user_id: int, nonce: str) -> str:
    mac = hmac.new(
        settings.SECRET_KEY.encode(), f"plaza-add-me:{user_id}:{nonce}".encode(), hashlib.sha256
    ).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode()  # 24 characters, no padding


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def add_me_url(code: str) -> str:
    return f"{settings.PLAZA_PUBLIC_URL.rstrip('/')}/add/{code}"


def add_me_code_get(*, user: User) -> str:
    """My current code, created on first use."""
    row = AddMeCode.objects.filter(user=user).first()
    if row is None:
        nonce = secrets.token_hex(16)
        code = _code_for(user.pk, nonce)
        try:
            with transaction.atomic():
                row = AddMeCode.objects.create(user=user, nonce=nonce, code_digest=_digest(code))
        except IntegrityError:  # created concurrently by another device
            row = AddMeCode.objects.get(user=user)
    return _code_for(user.pk, row.nonce)


def add_me_code_reset(*, user: User) -> str:
    """Draw a new code; the old one stops resolving at once."""
    nonce = secrets.token_hex(16)
    code = _code_for(user.pk, nonce)
    with transaction.atomic():
        AddMeCode.objects.update_or_create(
            user=user,
            defaults={"nonce": nonce, "code_digest": _digest(code), "created_at": timezone.now()},
        )
    return code


def add_me_code_resolve(*, viewer: User, code: str) -> User:
    """The person behind a scanned code, as `viewer` may see them. Rate limited per
    viewer; an unknown code, a closed account and a block all answer the same 404."""
    check_rate("add-me-resolve", str(viewer.pk), settings.ADD_ME_RESOLVE_RATE)
    if not code or len(code) > 64:
        raise AddMeCodeNotFound()
    row = AddMeCode.objects.filter(code_digest=_digest(code)).first()
    if row is None:
        raise AddMeCodeNotFound()
    person = selectors.user_visible_to(viewer_id=viewer.pk, user_id=row.user_id)
    if person is None:
        raise AddMeCodeNotFound()
    return person
