"""Team invites: an owner invites a colleague by email or phone with a role; the invitee
follows a link to set a password (or sign in) and joins the team with that role.

- The link carries a random 192-bit token; only its SHA-256 digest is stored. An invite
  expires (CONSOLE_INVITE_TTL_HOURS, default 72 h), can be revoked by any owner, and works
  once. A newer invite to the same address in the same brand replaces the pending one.
- Phone invites go out by SMS through accounts' SMS backend (holding the link proves the
  phone, as an SMS code would); email invites through Django's email backend, and the
  invitee then proves which Plaza account is theirs with an SMS code to its phone
  (console views, docs/CONSOLE.md). Both are sent after commit, from Celery.
- Creating, revoking and accepting are audited (brands.audit) in their transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.phones import normalize_phone
from config.errors import Conflict, DomainError, InvalidInput, NotFound
from config.ratelimit import check_rate

from . import audit
from .models import Brand, BrandMember, TeamInvite
from .selectors import CAN_MANAGE_TEAM, brand_for_member

Role = BrandMember.Role
INVITE_RATE_PER_BRAND = "20/h,100/d"


class InviteUnusable(DomainError):
    status = 410
    code = "invite_unusable"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ttl() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "CONSOLE_INVITE_TTL_HOURS", 72))


def parse_address(raw: str) -> tuple[str, str]:
    """(email, phone) from what the owner typed: one of them, normalized."""
    raw = (raw or "").strip()
    if "@" in raw:
        try:
            validate_email(raw)
        except ValidationError:
            raise InvalidInput("That email address does not look right.", code="invalid_email")
        local, _, domain = raw.rpartition("@")
        return f"{local}@{domain.lower()}", ""
    phone = normalize_phone(raw)
    if not phone:
        raise InvalidInput(
            "Give an email address, or a phone number in international form (+14155550123).",
            code="invalid_address",
        )
    return "", phone


def invite_create(
    *, brand_id: int, acting_user, address: str, role: str, base_url: str
) -> tuple[TeamInvite, str]:
    """Owners only. Returns the invite and its link (sent to the address after commit)."""
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MANAGE_TEAM)
    if role not in Role.values:
        raise InvalidInput("Unknown role.", fields={"role": [", ".join(Role.values)]})
    email, phone = parse_address(address)
    if phone and BrandMember.objects.filter(brand=brand, user__phone=phone).exists():
        raise Conflict("That phone is already in the team.", code="already_member")
    check_rate("brands.invite", str(brand.pk), INVITE_RATE_PER_BRAND)
    token = secrets.token_urlsafe(24)
    link = f"{base_url.rstrip('/')}/console/invite/{token}/"
    now = timezone.now()
    with transaction.atomic():
        TeamInvite.objects.filter(
            brand=brand,
            email=email,
            phone=phone,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now)
        invite = TeamInvite.objects.create(
            brand=brand,
            role=role,
            email=email,
            phone=phone,
            token_digest=_digest(token),
            invited_by=acting_user,
            created_at=now,
            expires_at=now + _ttl(),
        )
        audit.record(
            brand=brand,
            actor=acting_user,
            action=audit.Action.INVITE_SENT,
            member=email or phone,
            role=role,
        )
        _send_after_commit(invite, brand, acting_user, link)
    return invite, link


def _send_after_commit(invite: TeamInvite, brand: Brand, inviter, link: str) -> None:
    who = inviter.display_name or inviter.phone or "A colleague"
    hours = int(_ttl().total_seconds() // 3600)
    if invite.phone:
        from accounts.tasks import send_sms_task

        text = (
            f"{who} invites you to {brand.name} on the Plaza brand console as {invite.role}. "
            f"Open within {hours} h: {link}"
        )
        transaction.on_commit(lambda: send_sms_task.delay(invite.phone, text))
    else:
        from .tasks import invite_email_task

        subject = f"Join {brand.name} on the Plaza brand console"
        body = (
            f"{who} invites you to join {brand.name} on the Plaza brand console as "
            f"{invite.role}.\n\nOpen this link within {hours} hours to set your password "
            f"(or sign in) and join:\n\n{link}\n\nYou will need the phone number of your "
            "Plaza account: we send it a code to confirm it is yours.\n\n"
            "If you did not expect this, ignore this email; the link expires by itself.\n"
        )
        transaction.on_commit(lambda: invite_email_task.delay(invite.email, subject, body))


def invite_revoke(*, brand_id: int, acting_user, invite_id: int) -> TeamInvite:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MANAGE_TEAM)
    with transaction.atomic():
        invite = TeamInvite.objects.select_for_update().filter(brand=brand, pk=invite_id).first()
        if invite is None:
            raise NotFound("No such invite.", code="invite_not_found")
        if invite.state() != "pending":
            raise Conflict(f"This invite is already {invite.state()}.", code="invite_not_pending")
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])
        audit.record(
            brand=brand,
            actor=acting_user,
            action=audit.Action.INVITE_REVOKED,
            member=invite.address,
            role=invite.role,
        )
    return invite


def invite_for_token(*, token: str) -> TeamInvite:
    """The pending invite behind a link, or a clear reason it no longer works."""
    invite = (
        TeamInvite.objects.select_related("brand").filter(token_digest=_digest(token or "")).first()
    )
    if invite is None:
        raise NotFound("This invite link is not valid. Check you copied all of it.")
    state = invite.state()
    if state != "pending":
        raise InviteUnusable(
            {
                "accepted": "This invite was already used. Sign in instead.",
                "revoked": "This invite was withdrawn. Ask the brand's owner for a new one.",
                "expired": "This invite has expired. Ask the brand's owner for a new one.",
            }[state]
        )
    return invite


def invite_accept(*, token: str, user) -> BrandMember:
    """Join the team with the invite's role. `user` must have proved the phone (the
    views: the SMS link for phone invites, an SMS code for email invites). Someone
    already in the team keeps their role."""
    with transaction.atomic():
        invite = invite_for_token(token=token)
        invite = TeamInvite.objects.select_for_update().get(pk=invite.pk)
        if invite.state() != "pending":  # accepted or revoked while we looked
            raise InviteUnusable("This invite is no longer usable.")
        if invite.phone and invite.phone != user.phone:
            raise DomainError("This invite is for another phone number.", code="invite_other")
        list(BrandMember.objects.select_for_update().filter(brand=invite.brand).order_by("id"))
        member, _created = BrandMember.objects.get_or_create(
            brand=invite.brand, user=user, defaults={"role": invite.role}
        )
        invite.accepted_at = timezone.now()
        invite.accepted_by = user
        invite.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(
            brand=invite.brand,
            actor=user,
            action=audit.Action.INVITE_ACCEPTED,
            member=user.phone,
            role=member.role,
        )
    return member


def invites_of(*, brand: Brand):
    return TeamInvite.objects.filter(brand=brand).order_by("-created_at", "-id")
