"""What Plaza holds about a person: export it all, or erase it.

`accounts` imports no other app, so the other apps come to it: each registers an
exporter (`export(user) -> dict | list`, JSON-serialisable) and an eraser (`erase(user)`) for
the personal data it keeps, usually from its `AppConfig.ready()`:

    from accounts import privacy
    privacy.register("chat", export=export_user_data, erase=erase_user_data)

`privacy_export(user=)` calls every exporter; `account_erase(user=)` calls every eraser
in one transaction (the other apps first, the person's own row last) and leaves the user
row as a tombstone, so foreign keys that must outlive the person (ledger rows: money
history is kept by law) still point somewhere, but at nobody. See docs/PRIVACY.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import Device, PhoneOTP, User

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

Exporter = Callable[[User], Any]  # anything JSON-serialisable: a dict or a list
Eraser = Callable[[User], None]


@dataclass(frozen=True)
class DataHolder:
    name: str
    export: Exporter | None
    erase: Eraser | None
    # Erasers run in ascending order; accounts' own runs last (1000) so the others still
    # see the person's phone and profile while they erase.
    order: int


_holders: dict[str, DataHolder] = {}


def register(
    name: str,
    *,
    export: Exporter | None = None,
    erase: Eraser | None = None,
    order: int = 100,
) -> None:
    """Register (or replace, so a re-run `ready()` is harmless) an app's handlers."""
    _holders[name] = DataHolder(name=name, export=export, erase=erase, order=order)


def registered() -> list[DataHolder]:
    return sorted(_holders.values(), key=lambda h: (h.order, h.name))


def privacy_export(*, user: User) -> dict[str, Any]:
    """Everything held about `user`, one section per registered app."""
    sections: dict[str, Any] = {}
    # The person first, then the apps, in a stable order.
    for holder in sorted(registered(), key=lambda h: (-h.order, h.name)):
        if holder.export is not None:
            sections[holder.name] = holder.export(user)
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "user_id": user.pk,
        **sections,
    }


def account_erase(*, user: User) -> User:
    """Erase the person: every app's personal data, then the profile itself.

    One transaction: if any eraser fails nothing is erased and the account still works.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.erased_at is not None:
            return locked
        for holder in registered():
            if holder.erase is not None:
                holder.erase(locked)
    log.info("account %s erased", user.pk)
    return locked


# --- accounts' own data -------------------------------------------------------------


def _export_profile(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "phone": user.phone,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "bio": user.bio,
        "region": user.region,
        "language": user.language,
        "time_zone": user.time_zone,
        "birth_year": user.birth_year,
        "gender": user.gender,
        "discoverable_by_phone": user.discoverable_by_phone,
        "verification_tier": user.verification_tier,
        "date_joined": user.date_joined.isoformat(),
        "last_seen_at": user.last_seen_at.isoformat() if user.last_seen_at else None,
    }


def _export_devices(user: User) -> list[dict[str, Any]]:
    devices = Device.objects.filter(user=user).order_by("pk")
    # Never the token digests: they are credentials, not information about a person.
    return [
        {
            "id": d.pk,
            "name": d.name,
            "platform": d.platform,
            "created_at": d.created_at.isoformat(),
            "last_used_at": d.last_used_at.isoformat(),
            "revoked_at": d.revoked_at.isoformat() if d.revoked_at else None,
            "has_push_token": bool(d.push_token),
        }
        for d in devices
    ]


def _erase_devices(user: User) -> None:
    # Every device goes, with its bearer token and push token: nothing can log in as
    # the tombstone, and no push reaches the old phone.
    Device.objects.filter(user=user).delete()


def _erase_profile(user: User) -> None:
    if user.phone:
        PhoneOTP.objects.filter(phone=user.phone).delete()
    user.phone = None
    user.display_name = ""
    user.avatar_url = ""
    user.bio = ""
    user.region = ""
    user.language = ""
    user.time_zone = ""
    user.birth_year = None
    user.gender = ""
    user.discoverable_by_phone = False
    user.last_seen_at = None
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.erased_at = timezone.now()
    user.set_unusable_password()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()


register("profile", export=_export_profile, erase=_erase_profile, order=1000)
register("devices", export=_export_devices, erase=_erase_devices, order=900)
