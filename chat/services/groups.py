"""Group management: creating with contacts, adding, roles, ownership, removal, bans,
leaving (with hand-over), approval of joins, and the member cap.

Built on chat's membership building blocks (`chat.services.conversations.member_add` /
`member_remove`, which write member.joined / member.left into the stream) and on
`message_send_system` for the visible "Alice joined" lines, so everything a member sees
has a seq and comes back through sync.

Concurrency: every membership change here first locks the conversation row
(`_lock_group`), the same row chat's `stream.bump` locks, so joins, leaves and the cap
check are serialised per group; the member counter in `GroupPolicy` has a CHECK
(`member_count <= max_members`) as the last line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import selectors as people
from config.errors import Conflict, DomainError, InvalidInput, NotFound
from config.realtime import push_to_users

from ..models import Conversation, Membership
from ..models.groups import GroupBan, GroupJoinRequest, GroupPolicy
from . import conversations as core
from . import stream
from .messages import message_send_system

Role = Membership.Role


class GroupFull(DomainError):
    # 422 like chat's own size check at creation, so clients see one status for it.
    code = "group_full"
    message = "This group is full."


class NotGroupAdmin(DomainError):
    status = 403
    code = "not_group_admin"
    message = "Only the group's owner and admins can do this."


class NotGroupOwner(DomainError):
    status = 403
    code = "not_group_owner"
    message = "Only the group's owner can do this."


class NotAGroup(DomainError):
    code = "not_a_group"
    message = "Only groups have members to manage."


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message = "No such conversation."


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No such member."


@dataclass
class LockedGroup:
    conversation: Conversation
    policy: GroupPolicy
    membership: Membership | None  # the actor's, if active


# --- helpers ---------------------------------------------------------------------------


def name_of(user) -> str:
    return (getattr(user, "display_name", "") or "").strip() or f"User {user.pk}"


def _lock_group(conversation_id: int, *, actor_id: int | None) -> LockedGroup:
    """Lock the conversation row, check the actor is an active member (404 otherwise, so
    ids cannot be probed) and that it is a group, and return its policy."""
    conv = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    membership = None
    if conv is not None and actor_id is not None:
        membership = Membership.objects.filter(
            conversation=conv, user_id=actor_id, left_at__isnull=True
        ).first()
        if membership is None:
            conv = None
    if conv is None:
        raise ConversationNotFound()
    if conv.kind != Conversation.Kind.GROUP:
        raise NotAGroup()
    return LockedGroup(conversation=conv, policy=policy_for(conv), membership=membership)


def active_count(conversation_id: int) -> int:
    return Membership.objects.filter(conversation_id=conversation_id, left_at__isnull=True).count()


def policy_for(conv: Conversation) -> GroupPolicy:
    """The group's policy row, created on first use. Call under the conversation lock."""
    cap = settings.CHAT_GROUP_MAX_MEMBERS
    policy = GroupPolicy.objects.filter(pk=conv.pk).first()
    if policy is None:
        count = active_count(conv.pk)
        policy, _ = GroupPolicy.objects.get_or_create(
            conversation=conv, defaults={"member_count": count, "max_members": max(cap, count)}
        )
    elif policy.max_members != cap and cap >= policy.member_count:
        # The operator changed CHAT_GROUP_MAX_MEMBERS: existing groups follow (never
        # below the people already in).
        policy.max_members = cap
        policy.save(update_fields=["max_members"])
    return policy


def _sync_count(policy: GroupPolicy, count: int | None = None) -> int:
    """Store the active member count (recounted unless the caller, holding the lock,
    knows it). The CHECK constraint refuses a count above max_members; that surfaces as
    GroupFull, and the caller's transaction rolls the whole change back (no savepoint:
    nothing may continue after it)."""
    if count is None:
        count = active_count(policy.pk)
    try:
        GroupPolicy.objects.filter(pk=policy.pk).update(member_count=count)
    except IntegrityError:
        raise GroupFull(max_members=policy.max_members)
    policy.member_count = count
    return count


def _ensure_room(policy: GroupPolicy, joining: int) -> int:
    """Refuse if `joining` more people would pass the cap; returns the current count."""
    count = active_count(policy.pk)
    if joining and count + joining > policy.max_members:
        raise GroupFull(
            f"This group is full ({policy.max_members} members).", max_members=policy.max_members
        )
    return count


def _require_admin(group: LockedGroup) -> Membership:
    m = group.membership
    if m is None or m.role not in (Role.OWNER, Role.ADMIN):
        raise NotGroupAdmin()
    return m


def _require_owner(group: LockedGroup) -> Membership:
    m = group.membership
    if m is None or m.role != Role.OWNER:
        raise NotGroupOwner()
    return m


def _active_member(conversation_id: int, user_id: int) -> Membership:
    m = (
        Membership.objects.select_related("user")
        .filter(conversation_id=conversation_id, user_id=user_id, left_at__isnull=True)
        .first()
    )
    if m is None:
        raise MemberNotFound()
    return m


def _system(conv_id: int, text: str, **payload) -> None:
    message_send_system(conversation_id=conv_id, text=text, payload=payload)


def _member_event(conv_id: int, type_: str, data: dict) -> None:
    """A stream event (replayed by sync) to every active member."""
    counters = stream.bump(conv_id)
    (event,) = stream.append(conv_id, counters, [(type_, data, None)])
    stream.publish(core._member_ids(conv_id), stream.render_event(event))


def _check_addable(actor, user_ids: list[int], conv_id: int) -> dict:
    """People `actor` may add directly: their contacts, not blocked either way, not
    banned from the group. Returns {id: user}."""
    found = {}
    for uid in user_ids:
        person = people.user_visible_to(viewer_id=actor.pk, user_id=uid)
        if person is None:
            raise NotFound("No such user.", code="user_not_found", user_id=uid)
        if not people.are_contacts(user_id=actor.pk, other_id=uid):
            raise DomainError(
                "You can add only your contacts directly; send them an invite instead.",
                code="not_a_contact",
                user_id=uid,
            )
        found[uid] = person
    banned = set(
        GroupBan.objects.filter(conversation_id=conv_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    if banned:
        raise DomainError(
            "Someone you are adding was banned from this group; unban them first.",
            code="user_banned",
            user_ids=sorted(banned),
        )
    return found


# --- creating and adding -------------------------------------------------------------


def group_create(
    *, creator, title: str, member_ids: Iterable[int] = (), avatar_url: str = ""
) -> Conversation:
    """A new group with the creator as owner and some of their contacts as members."""
    ids = [i for i in dict.fromkeys(int(i) for i in member_ids) if i != creator.pk]
    cap = settings.CHAT_GROUP_MAX_MEMBERS
    if len(ids) + 1 > cap:
        raise GroupFull(f"A group holds at most {cap} people.", max_members=cap)
    if not title.strip():
        raise InvalidInput("A group needs a title.", fields={"title": ["Required."]})
    users = _check_addable(creator, ids, conv_id=0)
    with transaction.atomic():
        conv = core.group_create(
            creator=creator, title=title, member_ids=ids, avatar_url=avatar_url
        )
        conv = Conversation.objects.select_for_update().get(pk=conv.pk)
        policy = policy_for(conv)
        _sync_count(policy)
        names = ", ".join(name_of(u) for u in users.values())
        text = f"{name_of(creator)} created the group “{conv.title}”"
        _system(
            conv.pk,
            text + (f" with {names}" if names else ""),
            event="group_created",
            by=creator.pk,
            user_ids=ids,
        )
    return conv


def group_members_add(*, actor, conversation_id: int, user_ids: Iterable[int]) -> list[int]:
    """Add contacts to a group. Any member may add, unless the group needs approval, in
    which case only owner and admins may add directly. Returns who actually joined."""
    ids = [i for i in dict.fromkeys(int(i) for i in user_ids) if i != actor.pk]
    if not ids:
        return []
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        if group.policy.join_approval:
            _require_admin(group)
        users = _check_addable(actor, ids, conversation_id)
        present = set(
            Membership.objects.filter(
                conversation_id=conversation_id, user_id__in=ids, left_at__isnull=True
            ).values_list("user_id", flat=True)
        )
        joining = [i for i in ids if i not in present]
        _ensure_room(group.policy, len(joining))
        if not joining:
            return []
        added = core.member_add(conversation_id=conversation_id, user_ids=joining, actor=actor)
        _sync_count(group.policy)
        GroupJoinRequest.objects.filter(
            conversation_id=conversation_id,
            user_id__in=added,
            status=GroupJoinRequest.Status.PENDING,
        ).update(
            status=GroupJoinRequest.Status.APPROVED, decided_by=actor, decided_at=timezone.now()
        )
        names = ", ".join(name_of(users[i]) for i in added)
        _system(
            conversation_id,
            f"{name_of(actor)} added {names}",
            event="members_added",
            by=actor.pk,
            user_ids=added,
        )
    return added


def join_through(
    *, group: LockedGroup, user, via_user_id: int | None, invite_id: int | None
) -> None:
    """Put `user` into a locked group (invite joins and approvals). Caller checked the
    rules; the cap is checked here."""
    count = _ensure_room(group.policy, 1)
    conv_id = group.conversation.pk
    added = core.member_add(conversation_id=conv_id, user_ids=[user.pk], actor=via_user_id)
    _sync_count(group.policy, count + len(added))
    via = people.user_get(user_id=via_user_id) if via_user_id else None
    text = f"{name_of(user)} joined"
    if via is not None and invite_id is not None:
        text += f" via {name_of(via)}'s invite"
    elif via is not None:
        text += f", approved by {name_of(via)}"
    _system(
        conv_id, text, event="member_joined", user_id=user.pk, by=via_user_id, invite_id=invite_id
    )


# --- removing, banning, leaving --------------------------------------------------------


def _may_manage(actor_m: Membership, target_m: Membership) -> None:
    if target_m.role == Role.OWNER:
        raise DomainError(
            "The owner cannot be removed; they can hand over ownership.",
            code="cannot_remove_owner",
            status=403,
        )
    if target_m.role == Role.ADMIN and actor_m.role != Role.OWNER:
        raise NotGroupOwner("Only the owner can remove an admin.")


def group_member_remove(*, actor, conversation_id: int, user_id: int, ban: bool = False) -> None:
    """An admin removes someone (and with `ban`, keeps them out). Removing yourself is
    leaving."""
    if user_id == actor.pk and not ban:
        group_leave(user=actor, conversation_id=conversation_id)
        return
    if user_id == actor.pk:
        raise InvalidInput("You cannot ban yourself.", code="cannot_ban_self")
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        actor_m = _require_admin(group)
        target_m = Membership.objects.filter(
            conversation_id=conversation_id, user_id=user_id, left_at__isnull=True
        ).first()
        if target_m is None and not ban:
            raise MemberNotFound()
        if target_m is not None:
            _may_manage(actor_m, target_m)
        target = people.user_get(user_id=user_id)
        if target is None:
            raise MemberNotFound()
        if ban:
            GroupBan.objects.get_or_create(
                conversation_id=conversation_id, user_id=user_id, defaults={"banned_by": actor}
            )
            GroupJoinRequest.objects.filter(
                conversation_id=conversation_id,
                user_id=user_id,
                status=GroupJoinRequest.Status.PENDING,
            ).update(
                status=GroupJoinRequest.Status.REJECTED, decided_by=actor, decided_at=timezone.now()
            )
        if target_m is not None:
            core.member_remove(conversation_id=conversation_id, user_id=user_id, actor=actor)
            _sync_count(group.policy)
            _system(
                conversation_id,
                f"{name_of(actor)} removed {name_of(target)}",
                event="member_removed",
                user_id=user_id,
                by=actor.pk,
            )


def group_unban(*, actor, conversation_id: int, user_id: int) -> None:
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        _require_admin(group)
        deleted, _ = GroupBan.objects.filter(
            conversation_id=conversation_id, user_id=user_id
        ).delete()
        if not deleted:
            raise NotFound("That person is not banned here.", code="ban_not_found")


def group_leave(*, user, conversation_id: int) -> None:
    """Leave a group. The last owner leaving hands the group to the oldest admin, or
    failing that the oldest member, so a group is never left without an owner."""
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=user.pk)
        me = group.membership
        successor = None
        if me.role == Role.OWNER:
            others = Membership.objects.filter(
                conversation_id=conversation_id, left_at__isnull=True
            ).exclude(user_id=user.pk)
            successor = (
                others.filter(role=Role.ADMIN).order_by("joined_at", "id").first()
                or others.order_by("joined_at", "id").first()
            )
        core.member_remove(conversation_id=conversation_id, user_id=user.pk, actor=user)
        _sync_count(group.policy)
        _system(conversation_id, f"{name_of(user)} left", event="member_left", user_id=user.pk)
        if successor is not None:
            successor.role = Role.OWNER
            successor.save(update_fields=["role"])
            _member_event(
                conversation_id,
                "member.updated",
                {"user_id": successor.user_id, "role": Role.OWNER, "by": None},
            )
            _system(
                conversation_id,
                f"{name_of(successor.user)} is now the owner",
                event="owner_changed",
                user_id=successor.user_id,
            )


# --- roles and ownership ---------------------------------------------------------------


def group_role_set(*, actor, conversation_id: int, user_id: int, role: str) -> Membership:
    """The owner makes a member an admin or an admin a member."""
    if role not in (Role.ADMIN, Role.MEMBER):
        raise InvalidInput("role is admin or member.", fields={"role": ["admin or member."]})
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        _require_owner(group)
        target = _active_member(conversation_id, user_id)
        if target.role == Role.OWNER:
            raise InvalidInput(
                "Hand over ownership to change the owner's role.", code="owner_role_fixed"
            )
        if target.role != role:
            target.role = role
            target.save(update_fields=["role"])
            _member_event(
                conversation_id,
                "member.updated",
                {"user_id": user_id, "role": role, "by": actor.pk},
            )
            verb = "made {} an admin" if role == Role.ADMIN else "made {} a member"
            _system(
                conversation_id,
                f"{name_of(actor)} {verb.format(name_of(target.user))}",
                event="role_changed",
                user_id=user_id,
                role=role,
                by=actor.pk,
            )
    return target


def group_transfer_ownership(*, actor, conversation_id: int, user_id: int) -> Membership:
    """The owner hands the group to another member and becomes an admin."""
    if user_id == actor.pk:
        raise InvalidInput("You already own this group.", code="already_owner")
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        me = _require_owner(group)
        target = _active_member(conversation_id, user_id)
        target.role = Role.OWNER
        target.save(update_fields=["role"])
        me.role = Role.ADMIN
        me.save(update_fields=["role"])
        for uid, role in ((user_id, Role.OWNER), (actor.pk, Role.ADMIN)):
            _member_event(
                conversation_id, "member.updated", {"user_id": uid, "role": role, "by": actor.pk}
            )
        _system(
            conversation_id,
            f"{name_of(actor)} made {name_of(target.user)} the owner",
            event="owner_changed",
            user_id=user_id,
            by=actor.pk,
        )
    return target


# --- title, announcement, settings -----------------------------------------------------


def group_update(*, actor, conversation_id: int, **changes) -> Conversation:
    """Rename, change the avatar or the announcement (owner and admins), with a system
    line for each visible change."""
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        before = group.conversation
        old = {k: getattr(before, k) for k in core.UPDATABLE_FIELDS}
        conv = core.conversation_update(actor=actor, conversation_id=conversation_id, **changes)
        if "title" in changes and changes["title"] is not None and changes["title"] != old["title"]:
            _system(
                conversation_id,
                f"{name_of(actor)} renamed the group to “{conv.title}”",
                event="renamed",
                title=conv.title,
                by=actor.pk,
            )
        if (
            changes.get("announcement") is not None
            and changes["announcement"] != old["announcement"]
        ):
            _system(
                conversation_id,
                f"{name_of(actor)} updated the announcement",
                event="announcement",
                by=actor.pk,
            )
    return conv


def group_settings_get(*, user, conversation_id: int) -> GroupPolicy:
    with transaction.atomic():
        return _lock_group(conversation_id, actor_id=user.pk).policy


def group_settings_update(
    *,
    actor,
    conversation_id: int,
    join_approval: bool | None = None,
    invites_admins_only: bool | None = None,
) -> GroupPolicy:
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        _require_admin(group)
        policy = group.policy
        changes = {}
        if join_approval is not None and join_approval != policy.join_approval:
            changes["join_approval"] = policy.join_approval = join_approval
        if invites_admins_only is not None and invites_admins_only != policy.invites_admins_only:
            changes["invites_admins_only"] = policy.invites_admins_only = invites_admins_only
        if changes:
            policy.save(update_fields=list(changes))
            _member_event(
                conversation_id, "conversation.updated", {"changes": changes, "by": actor.pk}
            )
    return policy


# --- approval of joins -----------------------------------------------------------------


def join_request_open(*, group: LockedGroup, user, invite_id: int | None) -> GroupJoinRequest:
    """Ask to join (under the group lock). Owner and admins hear of it."""
    jr, created = GroupJoinRequest.objects.get_or_create(
        conversation=group.conversation,
        user=user,
        status=GroupJoinRequest.Status.PENDING,
        defaults={"invite_id": invite_id},
    )
    if created:
        admins = Membership.objects.filter(
            conversation=group.conversation,
            left_at__isnull=True,
            role__in=[Role.OWNER, Role.ADMIN],
        ).values_list("user_id", flat=True)
        push_to_users(
            list(admins),
            {
                "type": "group.join_requested",
                "conversation_id": group.conversation.pk,
                "request_id": jr.pk,
                "user": people.public_profile(user),
            },
        )
    return jr


def join_requests_pending(*, actor, conversation_id: int) -> list[GroupJoinRequest]:
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        _require_admin(group)
    return list(
        GroupJoinRequest.objects.filter(
            conversation_id=conversation_id, status=GroupJoinRequest.Status.PENDING
        )
        .select_related("user")
        .order_by("id")[:500]
    )


def join_request_decide(
    *, actor, conversation_id: int, request_id: int, approve: bool
) -> GroupJoinRequest:
    """Approve (they join, subject to the cap and bans) or reject a pending request."""
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        _require_admin(group)
        jr = (
            GroupJoinRequest.objects.select_for_update()
            .filter(pk=request_id, conversation_id=conversation_id)
            .select_related("user")
            .first()
        )
        if jr is None:
            raise NotFound("No such join request.", code="join_request_not_found")
        if jr.status != GroupJoinRequest.Status.PENDING:
            raise Conflict("This request was already answered.", code="join_request_closed")
        jr.status = (
            GroupJoinRequest.Status.APPROVED if approve else GroupJoinRequest.Status.REJECTED
        )
        jr.decided_by = actor
        jr.decided_at = timezone.now()
        jr.save(update_fields=["status", "decided_by", "decided_at"])
        if approve:
            if GroupBan.objects.filter(conversation_id=conversation_id, user=jr.user).exists():
                raise DomainError("That person is banned from this group.", code="user_banned")
            if not Membership.objects.filter(
                conversation_id=conversation_id, user=jr.user, left_at__isnull=True
            ).exists():
                join_through(group=group, user=jr.user, via_user_id=actor.pk, invite_id=None)
        push_to_users(
            [jr.user_id],
            {
                "type": "group.join_decided",
                "conversation_id": conversation_id,
                "request_id": jr.pk,
                "status": jr.status,
            },
        )
    return jr


def group_bans(*, actor, conversation_id: int) -> list[GroupBan]:
    with transaction.atomic():
        group = _lock_group(conversation_id, actor_id=actor.pk)
        _require_admin(group)
    return list(
        GroupBan.objects.filter(conversation_id=conversation_id)
        .select_related("user")
        .order_by("id")[:500]
    )
