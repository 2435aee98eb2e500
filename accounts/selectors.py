from __future__ import annotations

from django.db.models import QuerySet

from .models import Device, User


def user_devices(*, user: User) -> QuerySet[Device]:
    return Device.objects.filter(user=user, revoked_at__isnull=True).order_by("-last_used_at")


def user_get(*, user_id: int) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True, erased_at__isnull=True).first()


def public_profile(user: User) -> dict:
    """What anyone who can see a person may see: never the phone number."""
    return {"id": user.pk, "display_name": user.display_name, "avatar_url": user.avatar_url}
