from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import Device
from .tokens import token_digest


def device_for_token(token: str) -> Device | None:
    if not token or len(token) > 200:
        return None
    device = (
        Device.objects.select_related("user")
        .filter(token_digest=token_digest(token), revoked_at__isnull=True)
        .first()
    )
    if device is None or not device.user.is_active:
        return None
    return device


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; request.auth is the Device."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Malformed token.")
        device = device_for_token(token)
        if device is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if (timezone.now() - device.last_used_at).total_seconds() > 300:
            device.touch_if_stale()
        return device.user, device

    def authenticate_header(self, request):
        return self.keyword
