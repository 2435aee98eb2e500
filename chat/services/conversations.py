"""Conversations and memberships: direct get-or-create, groups, add/remove members.

`member_add` and `member_remove` are the building blocks for group management (roles,
invites, approval live with the social features); they write the member.joined /
member.left stream events and push them after commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.selectors import is_blocked_between, public_profile
from config.errors import DomainError, InvalidInput, NotFound
from config.realtime import push_many_to_users

from ..models import Conversation, Membership
from . import red_packet_cards, stream

User = get_user_model()

UPDATABLE_FIELDS = ("title", "avatar_url", "announcement")


def _active_users(user_ids: Iterable[int]) -> dict[int, object]:
    ids = list(dict.fromkeys(int(i) for i in user_ids))
    users = User.objects.filter(pk__in=ids, is_active=True, erased_at__isnull=True)
    return {u.pk: u for u in users}


def _joined_event(conversation_id: int, user, role: str, actor_id: int | None) -> tuple:
    data = {"user": public_profile(user), "role": role, "by": actor_id}
    return ("member.joined", data, None)


def conversation_get_or_create_direct(*, user, other_user_id: int) -> tuple[Conversation, bool]:
    """The one direct conversation between two people (created on first use)."""
    if int(other_user_id) == user.pk:
        raise InvalidInput("You cannot start a chat with yourself.", code="direct_with_self")
    key = Conversation.direct_key_for(user.pk, other_user_id)
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    others = _active_users([other_user_id])
    if int(other_user_id) not in others or is_blocked_between(
        user_id=user.pk, other_id=int(other_user_id)
    ):
        # A blocked pair are strangers: answer as if the other account did not exist.
        raise NotFound("No such user.", code="user_not_found")
    try:
        with transaction.atomic():
            conv = Conversation.objects.create(
                kind=Conversation.Kind.DIRECT, direct_key=key, created_by=user
            )
            _add_members(conv, {user.pk: user, **others}, role_of={}, actor_id=user.pk)
    except IntegrityError:
        # Two first messages raced; the database kept exactly one conversation.
        return Conversation.objects.get(direct_key=key), False
    return conv, True


def group_create(
    *, creator, title: str, member_ids: Iterable[int] = (), avatar_url: str = ""
) -> Conversation:
    """A group; the creator becomes its owner, everyone else a member."""
    users = _active_users([creator.pk, *member_ids])
    if len(users) != len({creator.pk, *map(int, member_ids)}):
        raise NotFound("Some of those people do not exist.", code="user_not_found")
    if len(users) > settings.CHAT_GROUP_MAX_MEMBERS:
        raise DomainError(
            f"A group holds at most {settings.CHAT_GROUP_MAX_MEMBERS} people.",
            code="group_full",
        )
    with transaction.atomic():
        conv = Conversation.objects.create(
            kind=Conversation.Kind.GROUP,
            title=title.strip(),
            avatar_url=avatar_url,
            created_by=creator,
        )
        users = {creator.pk: users.pop(creator.pk), **users}  # the owner joins first
        _add_members(conv, users, role_of={creator.pk: Membership.Role.OWNER}, actor_id=creator.pk)
    return conv


def brand_conversation_create(*, title: str, avatar_url: str = "", member_ids=()) -> Conversation:
    """A `brand` conversation (official accounts); brands decide who is in it."""
    users = _active_users(member_ids)
    with transaction.atomic():
        conv = Conversation.objects.create(
            kind=Conversation.Kind.BRAND, title=title.strip(), avatar_url=avatar_url
        )
        if users:
            _add_members(conv, users, role_of={}, actor_id=None)
    return conv


def _add_members(conv: Conversation, users: dict, *, role_of: dict, actor_id: int | None):
    """Insert or re-activate memberships and write one member.joined per person, in the
    caller's transaction, under the conversation lock."""
    existing = {
        m.user_id: m for m in Membership.objects.filter(conversation=conv, user_id__in=list(users))
    }
    newcomers = [uid for uid in users if uid not in existing or existing[uid].left_at is not None]
    if not newcomers:
        return []
    counters = stream.bump(conv.pk, events=len(newcomers))
    first_event = counters.last_event_seq - len(newcomers) + 1
    now = timezone.now()
    created, reactivated = [], []
    for uid in newcomers:
        role = role_of.get(uid, Membership.Role.MEMBER)
        fields = dict(
            role=role,
            joined_at=now,
            joined_seq=counters.last_seq,
            # Everyone joining together sees the whole batch of member.joined events.
            joined_event_seq=first_event,
            last_read_seq=counters.last_seq,
            last_delivered_seq=counters.last_seq,
            left_at=None,
            left_event_seq=None,
        )
        if uid in existing:
            m = existing[uid]
            for k, v in fields.items():
                setattr(m, k, v)
            reactivated.append(m)
        else:
            created.append(Membership(conversation=conv, user_id=uid, **fields))
    Membership.objects.bulk_create(created)
    if reactivated:
        Membership.objects.bulk_update(reactivated, list(fields))
    items = [
        _joined_event(conv.pk, users[uid], role_of.get(uid, "member"), actor_id)
        for uid in newcomers
    ]
    events = stream.append(conv.pk, counters, items)
    recipients = list(
        Membership.objects.filter(conversation=conv, left_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    push_many_to_users(recipients, [stream.render_event(event) for event in events])
    return newcomers


def member_add(
    *, conversation_id: int, user_ids: Iterable[int], actor=None, role: str = "member"
) -> list[int]:
    """Add people to a group (no permission checks: the caller decided). Returns the ids
    that actually joined (people already in are skipped)."""
    ids = list(dict.fromkeys(int(i) for i in user_ids))
    users = _active_users(ids)
    if len(users) != len(ids):
        raise NotFound("Some of those people do not exist.", code="user_not_found")
    with transaction.atomic():
        conv = Conversation.objects.filter(pk=conversation_id).first()
        if conv is None:
            raise NotFound("No such conversation.", code="conversation_not_found")
        if conv.kind == Conversation.Kind.DIRECT:
            raise DomainError("A direct chat has exactly two people.", code="direct_is_closed")
        active = Membership.objects.filter(conversation=conv, left_at__isnull=True)
        joining = [u for u in ids if not active.filter(user_id=u).exists()]
        if active.count() + len(joining) > settings.CHAT_GROUP_MAX_MEMBERS:
            raise DomainError(
                f"A group holds at most {settings.CHAT_GROUP_MAX_MEMBERS} people.",
                code="group_full",
            )
        return _add_members(
            conv,
            {u: users[u] for u in ids},
            role_of={u: role for u in ids},
            actor_id=getattr(actor, "pk", actor),
        )


def member_remove(*, conversation_id: int, user_id: int, actor=None) -> bool:
    """Someone leaves (actor is None or themselves) or is removed. Writes member.left; the
    leaving person still gets that event, then nothing more from this conversation."""
    active = Membership.objects.filter(
        conversation_id=conversation_id, user_id=user_id, left_at__isnull=True
    )
    if not active.exists():
        return False
    with transaction.atomic():
        # The conversation row first, then the membership: the order sends take them (a
        # send locks the conversation, then moves the sender's read mark).
        counters = stream.bump(conversation_id)
        m = active.select_for_update().first()
        if m is None:  # left meanwhile: nothing happened, reserve nothing
            transaction.set_rollback(True)
            return False
        recipients = list(
            Membership.objects.filter(
                conversation_id=conversation_id, left_at__isnull=True
            ).values_list("user_id", flat=True)
        )
        # Red packet cards list the members at the send; the mark sends this person's
        # late claims to the database. Written before the commit too, so a card can
        # never list them unmarked after it (red_packet_cards).
        red_packet_cards.mark_left(user_id)
        transaction.on_commit(lambda: red_packet_cards.mark_left(user_id))
        m.left_at = timezone.now()
        m.left_event_seq = counters.last_event_seq
        m.save(update_fields=["left_at", "left_event_seq"])
        data = {"user_id": int(user_id), "by": getattr(actor, "pk", actor)}
        (event,) = stream.append(conversation_id, counters, [("member.left", data, None)])
        stream.publish(recipients, stream.render_event(event))
    return True


def conversation_update(*, actor, conversation_id: int, **changes) -> Conversation:
    """Title, avatar, announcement of a group: owner and admins only."""
    from ..selectors import conversation_for_member

    conv = conversation_for_member(actor, conversation_id)
    if conv.kind != Conversation.Kind.GROUP:
        raise DomainError("Only groups have a title and announcement.", code="not_a_group")
    if not conv.membership.is_admin:
        raise DomainError(
            "Only the owner and admins can change this.", code="not_group_admin", status=403
        )
    changes = {k: v for k, v in changes.items() if k in UPDATABLE_FIELDS and v is not None}
    if not changes:
        return conv
    with transaction.atomic():
        counters = stream.bump(conv.pk)
        Conversation.objects.filter(pk=conv.pk).update(**changes)
        for k, v in changes.items():
            setattr(conv, k, v)
        data = {"changes": changes, "by": actor.pk}
        (event,) = stream.append(conv.pk, counters, [("conversation.updated", data, None)])
        stream.publish(_member_ids(conv.pk), stream.render_event(event))
    return conv


def membership_settings_update(
    *, user, conversation_id: int, muted: bool | None = None, pinned: bool | None = None
) -> Membership:
    """My own mute/pin: private, pushed to my other devices only (not in the stream)."""
    from ..selectors import conversation_for_member

    conv = conversation_for_member(user, conversation_id)
    m = conv.membership
    changes = {}
    if muted is not None:
        changes["muted"] = m.muted = bool(muted)
    if pinned is not None:
        changes["pinned"] = m.pinned = bool(pinned)
    if changes:
        with transaction.atomic():
            m.save(update_fields=list(changes))
            stream.publish(
                [user.pk],
                {"type": "conversation.updated", "conversation_id": conv.pk, "changes": changes},
                private=True,
            )
    return m


def _member_ids(conversation_id: int) -> list[int]:
    return list(
        Membership.objects.filter(
            conversation_id=conversation_id, left_at__isnull=True
        ).values_list("user_id", flat=True)
    )
