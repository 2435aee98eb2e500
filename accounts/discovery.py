"""Contact discovery: which numbers of my address book are on Plaza.

The client sends SHA-256 hashes of E.164 numbers. Unsalted phone hashes can be reversed
offline by trying every number, so the hashing is not the protection; what protects
people is (1) only those who opted in (`discoverable_by_phone`, off by default) can be
found, (2) a per-account daily quota of NEW hashes checked, (3) a per-IP rate limit.
See docs/PRIVACY-DISCOVERY.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import RateLimited
from config.ratelimit import check_rate

from . import selectors
from .models import DiscoveryCheck, User, phone_sha256


@dataclass
class DiscoveryMatch:
    phone_hash: str
    user: User
    is_contact: bool


def _keyed(phone_hash: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"discovery:{phone_hash}".encode(), hashlib.sha256
    ).hexdigest()


def contacts_discover(
    *, user: User, phone_hashes: list[str], client_ip: str
) -> list[DiscoveryMatch]:
    check_rate(
        "discover-ip",
        client_ip,
        settings.CONTACT_DISCOVERY_RATE_PER_IP,
        code="discovery_rate_limited",
    )
    hashes = list(dict.fromkeys(h.lower() for h in phone_hashes))
    if not hashes:
        return []
    keyed = {h: _keyed(h) for h in hashes}
    now = timezone.now()
    quota = settings.CONTACT_DISCOVERY_DAILY_NEW
    with transaction.atomic():
        # One discovery at a time per account, so two parallel calls cannot both spend
        # the last of the quota.
        User.objects.select_for_update().filter(pk=user.pk).first()
        seen = set(
            DiscoveryCheck.objects.filter(
                user=user, hash_digest__in=list(keyed.values())
            ).values_list("hash_digest", flat=True)
        )
        new = [d for d in keyed.values() if d not in seen]
        if new:
            used = DiscoveryCheck.objects.filter(
                user=user, checked_at__gt=now - dt.timedelta(days=1)
            ).count()
            if used + len(new) > quota:
                raise RateLimited(
                    f"You can check {quota} new numbers a day.",
                    code="discovery_quota_exceeded",
                    retry_after=3600,
                    remaining=max(0, quota - used),
                    requested_new=len(new),
                )
            DiscoveryCheck.objects.bulk_create(
                [DiscoveryCheck(user=user, hash_digest=d, checked_at=now) for d in new],
                ignore_conflicts=True,
            )
    hidden = selectors.blocked_ids(user_id=user.pk)
    people = (
        User.objects.filter(
            phone_hash__in=hashes,
            discoverable_by_phone=True,
            is_active=True,
            erased_at__isnull=True,
        )
        .exclude(pk=user.pk)
        .exclude(pk__in=hidden)
    )
    contacts = set(selectors.contact_ids(user_id=user.pk))
    matches = []
    for person in people:
        # The stored hash is derived; check it against the live number anyway.
        if person.phone and phone_sha256(person.phone) == person.phone_hash:
            matches.append(
                DiscoveryMatch(
                    phone_hash=person.phone_hash, user=person, is_contact=person.pk in contacts
                )
            )
    return matches
