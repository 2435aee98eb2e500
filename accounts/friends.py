"""Writes of the friend graph: friend requests, contacts, blocks.

Service functions in the house style (keyword-only, one atomic each, domain errors,
pushes after commit). Other apps read the graph through `accounts.selectors`
(`are_contacts`, `is_blocked_between`, `contact_ids`), never through these models.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import Conflict, InvalidInput, NotFound, RateLimited
from config.realtime import push_to_user, push_to_users

from . import selectors
from .models import Block, Contact, FriendRequest, User


class UserNotFound(NotFound):
    # The same answer for "no such account", "closed account" and "blocked either way",
    # so a blocked person cannot tell they were blocked.
    code = "user_not_found"
    message = "No such user."


class FriendRequestNotFound(NotFound):
    code = "friend_request_not_found"
    message = "No such friend request."


def request_event_body(fr: FriendRequest, *, viewer_id: int) -> dict:
    """A friend request as the API and the realtime events show it to `viewer_id`."""
    return {
        "id": fr.pk,
        "from_user": selectors.public_profile(fr.from_user),
        "to_user": selectors.public_profile(fr.to_user),
        "direction": "outgoing" if fr.from_user_id == viewer_id else "incoming",
        "message": fr.message,
        "status": fr.status,
        "created_at": fr.created_at.isoformat().replace("+00:00", "Z"),
        "responded_at": (
            fr.responded_at.isoformat().replace("+00:00", "Z") if fr.responded_at else None
        ),
    }


def _lock_users(*ids: int) -> None:
    # Serialise concurrent graph changes between the same two people (crossing requests,
    # accept vs. block) by locking both user rows in a stable order.
    list(User.objects.select_for_update().filter(pk__in=sorted(ids)).order_by("pk"))


def _link_contacts(a_id: int, b_id: int, now: dt.datetime) -> None:
    Contact.objects.bulk_create(
        [
            Contact(owner_id=a_id, other_id=b_id, created_at=now),
            Contact(owner_id=b_id, other_id=a_id, created_at=now),
        ],
        ignore_conflicts=True,
    )


def _push_accepted(fr: FriendRequest) -> None:
    # Each side hears who their new contact is.
    for viewer, other in ((fr.from_user, fr.to_user), (fr.to_user, fr.from_user)):
        push_to_user(
            viewer.pk,
            {
                "type": "friend_request.accepted",
                "request_id": fr.pk,
                "user": selectors.public_profile(other),
            },
        )


@dataclass
class FriendRequestSent:
    request: FriendRequest
    created: bool


def friend_request_send(
    *,
    from_user: User,
    to_user_id: int | None = None,
    to_user: User | None = None,
    message: str = "",
) -> FriendRequestSent:
    """Ask `to_user_id` (or an already resolved `to_user`) to become contacts.

    - sending twice returns the first pending request (created=False);
    - if they already asked me, both requests are answered: we become contacts at once
      and their request comes back accepted;
    - a daily quota of new requests per sender (FRIEND_REQUEST_DAILY_QUOTA).
    """
    target_id = to_user.pk if to_user is not None else to_user_id
    if target_id is None:
        raise InvalidInput("Say whom to add.", code="invalid", fields={"to_user_id": ["Required."]})
    if target_id == from_user.pk:
        raise InvalidInput("You cannot add yourself.", code="cannot_add_self")
    target = selectors.user_visible_to(viewer_id=from_user.pk, user_id=target_id)
    if target is None:
        raise UserNotFound()
    now = timezone.now()
    with transaction.atomic():
        _lock_users(from_user.pk, target.pk)
        if selectors.is_blocked_between(user_id=from_user.pk, other_id=target.pk):
            raise UserNotFound()
        if selectors.are_contacts(user_id=from_user.pk, other_id=target.pk):
            raise Conflict("You are already contacts.", code="already_contacts")
        existing = (
            FriendRequest.objects.select_related("from_user", "to_user")
            .filter(from_user=from_user, to_user=target, status=FriendRequest.Status.PENDING)
            .first()
        )
        if existing:
            return FriendRequestSent(request=existing, created=False)
        crossing = (
            FriendRequest.objects.select_for_update()
            .filter(from_user=target, to_user=from_user, status=FriendRequest.Status.PENDING)
            .first()
        )
        if crossing:
            crossing.status = FriendRequest.Status.ACCEPTED
            crossing.responded_at = now
            crossing.save(update_fields=["status", "responded_at"])
            _link_contacts(from_user.pk, target.pk, now)
            crossing.from_user, crossing.to_user = target, from_user
            _push_accepted(crossing)
            return FriendRequestSent(request=crossing, created=False)
        _check_quota(from_user, now)
        try:
            with transaction.atomic():
                fr = FriendRequest.objects.create(
                    from_user=from_user, to_user=target, message=message, created_at=now
                )
        except IntegrityError:  # a concurrent twin won (SQLite has no row locks)
            fr = FriendRequest.objects.select_related("from_user", "to_user").get(
                from_user=from_user, to_user=target, status=FriendRequest.Status.PENDING
            )
            return FriendRequestSent(request=fr, created=False)
        fr.from_user, fr.to_user = from_user, target
        push_to_user(
            target.pk,
            {"type": "friend_request.new", "request": request_event_body(fr, viewer_id=target.pk)},
        )
    return FriendRequestSent(request=fr, created=True)


def _check_quota(user: User, now: dt.datetime) -> None:
    quota = settings.FRIEND_REQUEST_DAILY_QUOTA
    since = now - dt.timedelta(days=1)
    recent = FriendRequest.objects.filter(from_user=user, created_at__gt=since)
    if recent.count() >= quota:
        oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
        wait = (oldest + dt.timedelta(days=1) - now).total_seconds() if oldest else 86400
        raise RateLimited(
            f"You can send {quota} friend requests a day.",
            code="friend_request_quota_exceeded",
            retry_after=int(wait) + 1,
        )


def _pending_to_me(user: User, request_id: int) -> FriendRequest:
    fr = (
        FriendRequest.objects.select_for_update()
        .filter(pk=request_id, to_user=user)
        .select_related("from_user", "to_user")
        .first()
    )
    if fr is None:
        raise FriendRequestNotFound()
    return fr


def friend_request_accept(*, user: User, request_id: int) -> FriendRequest:
    """Accept a request sent to me: we become contacts. Accepting twice is harmless."""
    now = timezone.now()
    with transaction.atomic():
        peek = FriendRequest.objects.filter(pk=request_id, to_user=user).first()
        if peek is None:
            raise FriendRequestNotFound()
        _lock_users(user.pk, peek.from_user_id)
        fr = _pending_to_me(user, request_id)
        if fr.status == FriendRequest.Status.ACCEPTED:
            return fr
        if fr.status != FriendRequest.Status.PENDING:
            raise Conflict("This request is no longer open.", code="friend_request_closed")
        if selectors.is_blocked_between(user_id=user.pk, other_id=fr.from_user_id):
            raise FriendRequestNotFound()
        fr.status = FriendRequest.Status.ACCEPTED
        fr.responded_at = now
        fr.save(update_fields=["status", "responded_at"])
        _link_contacts(user.pk, fr.from_user_id, now)
        # My own open request to them (if any) is answered by the same friendship.
        FriendRequest.objects.filter(
            from_user=user, to_user_id=fr.from_user_id, status=FriendRequest.Status.PENDING
        ).update(status=FriendRequest.Status.ACCEPTED, responded_at=now)
        _push_accepted(fr)
    return fr


def friend_request_decline(*, user: User, request_id: int) -> FriendRequest:
    """Decline a request sent to me. The sender is not told (no event), as in person."""
    with transaction.atomic():
        fr = _pending_to_me(user, request_id)
        if fr.status == FriendRequest.Status.DECLINED:
            return fr
        if fr.status != FriendRequest.Status.PENDING:
            raise Conflict("This request is no longer open.", code="friend_request_closed")
        fr.status = FriendRequest.Status.DECLINED
        fr.responded_at = timezone.now()
        fr.save(update_fields=["status", "responded_at"])
    return fr


def friend_request_cancel(*, user: User, request_id: int) -> None:
    """Withdraw a request I sent that is still pending."""
    updated = FriendRequest.objects.filter(
        pk=request_id, from_user=user, status=FriendRequest.Status.PENDING
    ).update(status=FriendRequest.Status.CANCELLED, responded_at=timezone.now())
    if not updated:
        raise FriendRequestNotFound()


def contact_remove(*, user: User, other_id: int) -> None:
    """Stop being contacts, on both sides. Both people's devices hear contact.removed."""
    with transaction.atomic():
        _lock_users(user.pk, other_id)
        deleted, _ = Contact.objects.filter(
            Q(owner=user, other_id=other_id) | Q(owner_id=other_id, other=user)
        ).delete()
        if not deleted:
            raise NotFound("Not one of your contacts.", code="contact_not_found")
        push_to_user(user.pk, {"type": "contact.removed", "user_id": other_id})
        push_to_user(other_id, {"type": "contact.removed", "user_id": user.pk})


def block_create(*, user: User, other_id: int) -> Block:
    """Block someone: they can no longer message, invite, pay or find me, and I no longer
    see them. Ends the contact and any open friend requests between us. Idempotent."""
    if other_id == user.pk:
        raise InvalidInput("You cannot block yourself.", code="cannot_block_self")
    # Only whether the account exists matters here: blocking someone who already blocked
    # me must look the same as blocking anyone else.
    other = selectors.user_get(user_id=other_id)
    if other is None:
        raise UserNotFound()
    now = timezone.now()
    with transaction.atomic():
        _lock_users(user.pk, other.pk)
        block, _ = Block.objects.get_or_create(
            blocker=user, blocked=other, defaults={"created_at": now}
        )
        removed, _ = Contact.objects.filter(
            Q(owner=user, other=other) | Q(owner=other, other=user)
        ).delete()
        FriendRequest.objects.filter(
            Q(from_user=user, to_user=other) | Q(from_user=other, to_user=user),
            status=FriendRequest.Status.PENDING,
        ).update(status=FriendRequest.Status.CANCELLED, responded_at=now)
        if removed:
            # The blocked side hears a plain removal, not that they were blocked.
            push_to_users([user.pk], {"type": "contact.removed", "user_id": other.pk})
            push_to_users([other.pk], {"type": "contact.removed", "user_id": user.pk})
    return block


def block_remove(*, user: User, other_id: int) -> None:
    """Unblock. The contact is not restored; they would have to ask again."""
    deleted, _ = Block.objects.filter(blocker=user, blocked_id=other_id).delete()
    if not deleted:
        raise NotFound("You have not blocked this person.", code="block_not_found")


# --- privacy: the graph is personal data ----------------------------------------------


def _export_graph(user: User) -> dict:
    def when(value):
        return value.isoformat() if value else None

    return {
        "contacts": [
            {"user_id": c.other_id, "since": when(c.created_at)}
            for c in Contact.objects.filter(owner=user).order_by("pk")
        ],
        "friend_requests": [
            {
                "id": fr.pk,
                "from_user_id": fr.from_user_id,
                "to_user_id": fr.to_user_id,
                "message": fr.message,
                "status": fr.status,
                "created_at": when(fr.created_at),
            }
            for fr in FriendRequest.objects.filter(Q(from_user=user) | Q(to_user=user)).order_by(
                "pk"
            )
        ],
        "blocked_user_ids": list(
            Block.objects.filter(blocker=user).order_by("pk").values_list("blocked_id", flat=True)
        ),
    }


def _erase_graph(user: User) -> None:
    from .models import AddMeCode, DiscoveryCheck

    Contact.objects.filter(Q(owner=user) | Q(other=user)).delete()
    FriendRequest.objects.filter(Q(from_user=user) | Q(to_user=user)).delete()
    Block.objects.filter(Q(blocker=user) | Q(blocked=user)).delete()
    AddMeCode.objects.filter(user=user).delete()
    DiscoveryCheck.objects.filter(user=user).delete()


def register_privacy() -> None:
    from . import privacy

    privacy.register("social_graph", export=_export_graph, erase=_erase_graph, order=800)
