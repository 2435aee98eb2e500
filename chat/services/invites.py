"""Invite links and QR codes into groups.

A token is 144 random bits (24 URL-safe characters), shown once to its creator and
stored only as SHA-256; the row cannot be turned back into a working link. Joining
locks the conversation row (as every membership change does) and then the invite row,
so under any concurrency a `max_uses` invite admits exactly `max_uses` people and a
group never passes its cap. Lookups and joins are rate limited per person, which,
with 144-bit tokens, makes guessing hopeless.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts import selectors as people
from config.errors import Conflict, DomainError, InvalidInput, NotFound
from config.ratelimit import check_rate

from ..models import Conversation, Membership
from ..models.groups import GroupBan, GroupJoinRequest, GroupPolicy
from ..models.invites import GroupInvite
from . import groups


class InviteNotFound(NotFound):
    code = "invite_not_found"
    message = "This invite link is not valid."


class InviteExpired(DomainError):
    status = 410
    code = "invite_expired"
    message = "This invite link has expired."


class InviteRevoked(DomainError):
    status = 410
    code = "invite_revoked"
    message = "This invite link was revoked."


class InviteUsedUp(DomainError):
    status = 410
    code = "invite_used_up"
    message = "This invite link has been used as many times as allowed."


class BannedFromGroup(DomainError):
    status = 403
    code = "banned_from_group"
    message = "You cannot join this group."


class JoinApprovalPending(Conflict):
    code = "join_approval_pending"
    message = "Your request to join is waiting for an admin."


class InvitesAdminsOnly(DomainError):
    status = 403
    code = "invites_admins_only"
    message = "In this group only the owner and admins can create invites."


TOKEN_BYTES = 18  # 144 bits


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_url(token: str) -> str:
    return f"{settings.PLAZA_PUBLIC_URL.rstrip('/')}/join/{token}"


def _max_ttl() -> int:
    return int(settings.CHAT_INVITE_MAX_TTL_SECONDS)


@dataclass
class CreatedInvite:
    invite: GroupInvite
    token: str


def invite_create(
    *, actor, conversation_id: int, expires_in: int | None = None, max_uses: int | None = None
) -> CreatedInvite:
    """A new invite link. `expires_in` seconds (default and maximum 7 days); `max_uses`
    None means unlimited (still bounded by the group cap)."""
    ttl = _max_ttl() if expires_in is None else int(expires_in)
    if not (60 <= ttl <= _max_ttl()):
        raise InvalidInput(
            f"expires_in is between 60 and {_max_ttl()} seconds.",
            fields={"expires_in": [f"Between 60 and {_max_ttl()}."]},
        )
    if max_uses is not None and not (1 <= int(max_uses) <= 100_000):
        raise InvalidInput(
            "max_uses is between 1 and 100000.", fields={"max_uses": ["Between 1 and 100000."]}
        )
    with transaction.atomic():
        group = groups._lock_group(conversation_id, actor_id=actor.pk)
        if group.policy.invites_admins_only and group.membership.role not in (
            Membership.Role.OWNER,
            Membership.Role.ADMIN,
        ):
            raise InvitesAdminsOnly()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = timezone.now()
        invite = GroupInvite.objects.create(
            conversation=group.conversation,
            created_by=actor,
            token_digest=token_digest(token),
            expires_at=now + dt.timedelta(seconds=ttl),
            max_uses=max_uses,
            created_at=now,
        )
    return CreatedInvite(invite=invite, token=token)


def invites_for(*, actor, conversation_id: int) -> list[GroupInvite]:
    """Live invites of a group: all of them for owner and admins, one's own for members."""
    with transaction.atomic():
        group = groups._lock_group(conversation_id, actor_id=actor.pk)
    qs = GroupInvite.objects.filter(
        conversation_id=conversation_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("created_by")
    if group.membership.role == Membership.Role.MEMBER:
        qs = qs.filter(created_by=actor)
    return list(qs.order_by("-id")[:200])


def _revoke(actor, invite: GroupInvite) -> None:
    m = Membership.objects.filter(
        conversation_id=invite.conversation_id, user=actor, left_at__isnull=True
    ).first()
    if m is None:
        raise InviteNotFound()
    if invite.created_by_id != actor.pk and m.role not in (
        Membership.Role.OWNER,
        Membership.Role.ADMIN,
    ):
        raise groups.NotGroupAdmin("Only its creator or an admin can revoke an invite.")
    if invite.revoked_at is None:
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])


def invite_revoke_by_token(*, actor, token: str) -> None:
    invite = _find(token)
    with transaction.atomic():
        invite = GroupInvite.objects.select_for_update().get(pk=invite.pk)
        _revoke(actor, invite)


def invite_revoke_by_id(*, actor, conversation_id: int, invite_id: int) -> None:
    with transaction.atomic():
        invite = (
            GroupInvite.objects.select_for_update()
            .filter(pk=invite_id, conversation_id=conversation_id)
            .first()
        )
        if invite is None:
            raise InviteNotFound()
        _revoke(actor, invite)


def _find(token: str) -> GroupInvite:
    if not token or len(token) > 64:
        raise InviteNotFound()
    invite = (
        GroupInvite.objects.select_related("conversation", "created_by")
        .filter(token_digest=token_digest(token))
        .first()
    )
    if invite is None:
        raise InviteNotFound()
    return invite


def _check_live(invite: GroupInvite, now: dt.datetime) -> None:
    if invite.revoked_at is not None:
        raise InviteRevoked()
    if invite.expires_at <= now:
        raise InviteExpired()
    if invite.max_uses is not None and invite.use_count >= invite.max_uses:
        raise InviteUsedUp()


def _hidden_by_block(invite: GroupInvite, user) -> bool:
    # A blocked person cannot be invited: the inviter's link looks like no link at all.
    return invite.created_by_id is not None and people.is_blocked_between(
        user_id=user.pk, other_id=invite.created_by_id
    )


def invite_for_viewer(*, viewer, token: str) -> GroupInvite:
    """The live invite behind `token` as `viewer` may see it (rate limited per viewer)."""
    check_rate("invite-lookup", str(viewer.pk), settings.CHAT_INVITE_LOOKUP_RATE)
    invite = _find(token)
    if _hidden_by_block(invite, viewer):
        raise InviteNotFound()
    is_member = Membership.objects.filter(
        conversation_id=invite.conversation_id, user=viewer, left_at__isnull=True
    ).exists()
    if not is_member:
        _check_live(invite, timezone.now())
    invite.viewer_is_member = is_member
    return invite


@dataclass
class JoinResult:
    status: str  # "joined" | "already_member" | "pending_approval"
    conversation_id: int
    request_id: int | None = None


def invite_join(*, user, token: str) -> JoinResult:
    """Join a group through an invite. Idempotent for members; the distinct refusals are
    invite_not_found (404, also when the inviter and you blocked each other),
    invite_expired / invite_revoked / invite_used_up (410), banned_from_group (403),
    group_full (409), join_approval_pending (409, asked before and still waiting)."""
    check_rate(
        "invite-join",
        str(user.pk),
        settings.CHAT_INVITE_JOIN_RATE,
        message="Too many join attempts; wait a little.",
    )
    found = _find(token)
    if _hidden_by_block(found, user):
        raise InviteNotFound()
    conv_id = found.conversation_id
    already = Membership.objects.filter(
        conversation_id=conv_id, user=user, left_at__isnull=True
    ).exists()
    if already:
        return JoinResult(status="already_member", conversation_id=conv_id)
    # Refuse a dead invite before queueing for the group lock: when a poster's last use
    # is gone, the crowd behind it is answered at once. Re-checked under the lock.
    _check_live(found, timezone.now())
    with transaction.atomic():
        # Lock order everywhere: the conversation row, then the invite row.
        group = groups._lock_group(conv_id, actor_id=None)
        invite = GroupInvite.objects.select_for_update().get(pk=found.pk)
        if Membership.objects.filter(
            conversation_id=conv_id, user=user, left_at__isnull=True
        ).exists():
            return JoinResult(status="already_member", conversation_id=conv_id)
        _check_live(invite, timezone.now())
        if GroupBan.objects.filter(conversation_id=conv_id, user=user).exists():
            raise BannedFromGroup()
        if group.policy.join_approval:
            pending = GroupJoinRequest.objects.filter(
                conversation_id=conv_id, user=user, status=GroupJoinRequest.Status.PENDING
            ).first()
            if pending is not None:
                raise JoinApprovalPending(request_id=pending.pk)
            jr = groups.join_request_open(group=group, user=user, invite_id=invite.pk)
            return JoinResult(status="pending_approval", conversation_id=conv_id, request_id=jr.pk)
        try:
            # The row is locked and checked above; the CHECK is the backstop. No savepoint:
            # if it fires, the whole join rolls back.
            GroupInvite.objects.filter(pk=invite.pk).update(use_count=F("use_count") + 1)
        except IntegrityError:
            raise InviteUsedUp()
        groups.join_through(
            group=group, user=user, via_user_id=invite.created_by_id, invite_id=invite.pk
        )
    return JoinResult(status="joined", conversation_id=conv_id)


def invite_preview(invite: GroupInvite) -> dict:
    """What a scanner sees before joining: never the member list."""
    conv: Conversation = invite.conversation
    policy = GroupPolicy.objects.filter(pk=conv.pk).first()
    count = policy.member_count if policy else groups.active_count(conv.pk)
    inviter = invite.created_by
    return {
        "title": conv.title,
        "avatar_url": conv.avatar_url,
        "member_count": count,
        "inviter": people.public_profile(inviter) if inviter else None,
        "expires_at": invite.expires_at,
        "requires_approval": bool(policy and policy.join_approval),
        "is_member": getattr(invite, "viewer_is_member", False),
        "conversation_id": conv.pk if getattr(invite, "viewer_is_member", False) else None,
    }
