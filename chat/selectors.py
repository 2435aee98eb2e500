"""Reads of chat, always scoped to the person asking (404 for what is not theirs)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q

from accounts.selectors import public_profile
from config.errors import InvalidInput, NotFound

from .models import ChatEvent, Conversation, HiddenMessage, Membership, Message, UserEvent
from .services.stream import render_event, render_message

MAX_SYNC_PAGE = 500
USER_STREAM = 0  # the cursor position key of the caller's own stream (no conversation is 0)


def conversation_for_member(user, conversation_id: int) -> Conversation:
    """The conversation with the caller's membership on `.membership`; 404 otherwise."""
    m = (
        Membership.objects.filter(
            conversation_id=conversation_id, user_id=getattr(user, "pk", user), left_at__isnull=True
        )
        .select_related("conversation")
        .first()
    )
    if m is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    conv = m.conversation
    conv.membership = m
    return conv


def member_ids(conversation_id: int) -> list[int]:
    return list(
        Membership.objects.filter(
            conversation_id=conversation_id, left_at__isnull=True
        ).values_list("user_id", flat=True)
    )


def members(conversation_id: int) -> list[dict]:
    rows = (
        Membership.objects.filter(conversation_id=conversation_id, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at", "id")
    )
    return [
        {"user": public_profile(m.user), "role": m.role, "joined_at": m.joined_at} for m in rows
    ]


def presence_audience(user_id: int) -> list[int]:
    """Who hears when this person comes online or goes away: the people they have a
    direct chat with (groups would multiply every connect by every member)."""
    mine = Membership.objects.filter(
        user_id=user_id, left_at__isnull=True, conversation__kind="direct"
    ).values("conversation_id")
    return list(
        Membership.objects.filter(conversation_id__in=mine, left_at__isnull=True)
        .exclude(user_id=user_id)
        .values_list("user_id", flat=True)
    )


def presence_of(viewer_id: int, user_ids: list[int]) -> list[dict]:
    """Online/last seen of people the viewer shares a conversation with (others: 404-like
    silence, they are simply left out)."""
    from . import presence

    mine = Membership.objects.filter(user_id=viewer_id, left_at__isnull=True).values(
        "conversation_id"
    )
    visible = set(
        Membership.objects.filter(
            conversation_id__in=mine, user_id__in=user_ids, left_at__isnull=True
        ).values_list("user_id", flat=True)
    )
    online = presence.online_users(visible)
    seen = dict(get_user_model().objects.filter(pk__in=visible).values_list("pk", "last_seen_at"))
    from .services.stream import iso

    return [
        {"user_id": u, "online": u in online, "last_seen_at": iso(seen.get(u))}
        for u in user_ids
        if u in visible
    ]


def unread_count(conv: Conversation, m: Membership) -> int:
    return max(0, conv.last_seq - max(m.last_read_seq, m.joined_seq))


def conversation_summaries(user, *, offset: int = 0, limit: int = 50) -> tuple[list[dict], bool]:
    """My conversations, pinned first then most recent, each with its last message and
    unread count. Three queries, whatever the page size."""
    rows = list(
        Membership.objects.filter(user=user, left_at__isnull=True)
        .select_related("conversation")
        .order_by("-pinned", "-conversation__last_message_at", "-conversation_id")[
            offset : offset + limit + 1
        ]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last_q = Q(pk__in=[])
    for m in rows:
        if m.conversation.last_seq > m.joined_seq:
            last_q |= Q(conversation_id=m.conversation_id, seq=m.conversation.last_seq)
    last = {msg.conversation_id: msg for msg in Message.objects.filter(last_q)}
    direct_ids = [m.conversation_id for m in rows if m.conversation.kind == "direct"]
    peers = {}
    if direct_ids:
        for pm in (
            Membership.objects.filter(conversation_id__in=direct_ids)
            .exclude(user=user)
            .select_related("user")
        ):
            peers[pm.conversation_id] = public_profile(pm.user)
    out = []
    for m in rows:
        conv = m.conversation
        item = conversation_summary(conv, m, peer=peers.get(conv.pk))
        msg = last.get(conv.pk)
        item["last_message"] = render_message(msg) if msg else None
        out.append(item)
    return out, more


def conversation_summary(conv: Conversation, m: Membership, *, peer: dict | None = None) -> dict:
    return {
        "id": conv.pk,
        "kind": conv.kind,
        "title": conv.title,
        "avatar_url": conv.avatar_url,
        "announcement": conv.announcement,
        "peer": peer,
        "last_seq": conv.last_seq,
        "last_message_at": conv.last_message_at,
        "created_at": conv.created_at,
        "role": m.role,
        "muted": m.muted,
        "pinned": m.pinned,
        "last_read_seq": m.last_read_seq,
        "unread_count": unread_count(conv, m),
    }


def conversation_detail(user, conversation_id: int) -> dict:
    conv = conversation_for_member(user, conversation_id)
    peer = None
    if conv.kind == "direct":
        other = (
            Membership.objects.filter(conversation=conv).exclude(user=user).select_related("user")
        ).first()
        peer = public_profile(other.user) if other else None
    item = conversation_summary(conv, conv.membership, peer=peer)
    item["member_count"] = Membership.objects.filter(
        conversation=conv, left_at__isnull=True
    ).count()
    return item


def messages_page(
    user,
    conversation_id: int,
    *,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 50,
) -> tuple[list[Message], bool]:
    """History the caller may see (since they joined, minus what they hid). Newest first
    with `before_seq` (or neither); oldest first with `after_seq` (catching up forward)."""
    conv = conversation_for_member(user, conversation_id)
    qs = Message.objects.filter(conversation_id=conv.pk, seq__gt=conv.membership.joined_seq)
    hidden = HiddenMessage.objects.filter(user=user, message__conversation_id=conv.pk)
    qs = qs.exclude(pk__in=hidden.values("message_id"))
    if after_seq is not None:
        qs = qs.filter(seq__gt=after_seq).order_by("seq")
    else:
        if before_seq is not None:
            qs = qs.filter(seq__lt=before_seq)
        qs = qs.order_by("-seq")
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit


# --- sync -----------------------------------------------------------------------------
#
# A cursor is a position per conversation: "every event of conversation c up to
# event_seq s has been delivered", plus the time it was made. Positions per conversation
# (not one global number) because event_seqs are commit-ordered only within a
# conversation: a global id can commit out of order and be skipped. See docs/CHAT.md.


@dataclass
class SyncCursor:
    positions: dict[int, int]
    made_at: int

    def encode(self) -> str:
        body = f"{self.made_at};" + ",".join(f"{c}:{s}" for c, s in sorted(self.positions.items()))
        return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str) -> SyncCursor:
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            made, _, rest = text.partition(";")
            positions = {}
            for part in filter(None, rest.split(",")):
                c, s = part.split(":")
                positions[int(c)] = int(s)
            cursor = cls(positions=positions, made_at=int(made))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
        if any(not 0 <= v < 2**63 for v in [*cursor.positions, *cursor.positions.values()]):
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
        return cursor


def _now_ms() -> int:
    return int(time.time() * 1000) + 1


def _sync_memberships(user_id: int):
    return Membership.objects.filter(user_id=user_id).values_list(
        "conversation_id",
        "joined_event_seq",
        "left_event_seq",
        "left_at",
        "conversation__last_event_seq",
    )


def sync_cursor_now(user_id: int) -> str:
    """Where a fresh client starts: everything so far counts as seen."""
    from .services.user_events import user_stream_position

    positions = {c: last for c, _j, _le, left_at, last in _sync_memberships(user_id) if not left_at}
    positions[USER_STREAM] = user_stream_position(user_id)
    return SyncCursor(positions=positions, made_at=_now_ms()).encode()


def sync_page(user_id: int, since: str, *, limit: int = 200) -> dict:
    """Stream events for the caller after `since`, oldest first, at most `limit`."""
    cursor = SyncCursor.decode(since)
    ranges: dict[int, tuple[int, int | None]] = {}  # conversation -> (after, up to)
    pending: dict[int, int] = {}  # positions to carry in the next cursor
    for cid, joined_ev, left_ev, left_at, last in _sync_memberships(user_id):
        start = joined_ev - 1
        if cid in cursor.positions:
            start = max(start, cursor.positions[cid])
        elif left_at is not None and left_at.timestamp() * 1000 < cursor.made_at:
            continue  # left before this cursor was made: already accounted for
        end = left_ev if left_at is not None else None
        if end is not None and start >= end:
            continue  # left, and its member.left is already delivered
        pending[cid] = start
        if last > start:
            ranges[cid] = (start, end)
    events: list[ChatEvent] = []
    if ranges:
        q = Q(pk__in=[])
        for cid, (after, upto) in ranges.items():
            cond = Q(conversation_id=cid, event_seq__gt=after)
            if upto is not None:
                cond &= Q(event_seq__lte=upto)
            q |= cond
        events = list(
            ChatEvent.objects.filter(q).select_related("message").order_by("id")[: limit + 1]
        )
    own_after = cursor.positions.get(USER_STREAM, 0)
    own = list(
        UserEvent.objects.filter(user_id=user_id, seq__gt=own_after).order_by("seq")[: limit + 1]
    )
    # Merge the two streams by time; each keeps its own order, and each position only
    # moves over what this page returns.
    page: list = []
    i = j = 0
    while len(page) < limit and (i < len(events) or j < len(own)):
        if j >= len(own) or (i < len(events) and events[i].created_at <= own[j].created_at):
            page.append(events[i])
            i += 1
        else:
            page.append(own[j])
            j += 1
    has_more = i < len(events) or j < len(own)
    pending[USER_STREAM] = own_after
    out = []
    left_seen = False
    for item in page:
        if isinstance(item, UserEvent):
            pending[USER_STREAM] = max(pending[USER_STREAM], item.seq)
            out.append(item.event)
            continue
        pending[item.conversation_id] = max(pending.get(item.conversation_id, 0), item.event_seq)
        left_seen = left_seen or item.type == "member.left"
        out.append(render_event(item))
    # Drop conversations that are left and fully delivered: cursors stay small.
    if left_seen:
        for cid, _j, left_ev, left_at, _l in _sync_memberships(user_id):
            if left_at is not None and cid in pending and pending[cid] >= (left_ev or 0):
                pending.pop(cid)
    next_cursor = SyncCursor(positions=pending, made_at=_now_ms()).encode()
    return {
        "events": out,
        "cursor": next_cursor,
        "has_more": has_more,
    }


def user_public(user_id: int) -> dict | None:
    user = get_user_model().objects.filter(pk=user_id).first()
    return public_profile(user) if user else None
