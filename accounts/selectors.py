from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Block, Contact, Device, FriendRequest, User


def user_devices(*, user: User) -> QuerySet[Device]:
    return Device.objects.filter(user=user, revoked_at__isnull=True).order_by("-last_used_at")


def user_get(*, user_id: int) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True, erased_at__isnull=True).first()


def public_profile(user: User) -> dict:
    """What anyone who can see a person may see: never the phone number."""
    return {"id": user.pk, "display_name": user.display_name, "avatar_url": user.avatar_url}


# --- the friend graph: public reads other apps call -----------------------------------


def are_contacts(*, user_id: int, other_id: int) -> bool:
    """True when the two people are contacts (friends). Symmetric."""
    return Contact.objects.filter(owner_id=user_id, other_id=other_id).exists()


def is_blocked_between(*, user_id: int, other_id: int) -> bool:
    """True when either person has blocked the other. Callers treat a blocked pair as
    strangers who cannot find each other: answer as if the other account did not exist."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def contact_ids(*, user_id: int) -> QuerySet:
    """Ids of my contacts as a lazy flat queryset: usable in `__in=` filters (one SQL
    subquery) or materialised with `set(...)`."""
    return Contact.objects.filter(owner_id=user_id).values_list("other_id", flat=True)


def blocked_ids(*, user_id: int) -> set[int]:
    """Everyone hidden from me: those I blocked and those who blocked me."""
    rows = Block.objects.filter(Q(blocker_id=user_id) | Q(blocked_id=user_id)).values_list(
        "blocker_id", "blocked_id"
    )
    return {b if a == user_id else a for a, b in rows}


def user_visible_to(*, viewer_id: int, user_id: int) -> User | None:
    """The person `user_id` as `viewer_id` may see them: None when the account does not
    exist, is closed, or either side blocked the other (the same answer for all three)."""
    if viewer_id != user_id and is_blocked_between(user_id=viewer_id, other_id=user_id):
        return None
    return user_get(user_id=user_id)


def contacts_page(*, user_id: int, after_id: int | None, limit: int) -> list[Contact]:
    qs = Contact.objects.filter(owner_id=user_id, other__is_active=True).select_related("other")
    if after_id is not None:
        qs = qs.filter(pk__gt=after_id)
    return list(qs.order_by("pk")[: limit + 1])


def friend_requests_page(
    *, user_id: int, direction: str, before_id: int | None, limit: int
) -> list[FriendRequest]:
    """Pending requests to me (incoming) or from me (outgoing), newest first."""
    if direction == "outgoing":
        qs = FriendRequest.objects.filter(from_user_id=user_id).select_related("to_user")
    else:
        qs = FriendRequest.objects.filter(to_user_id=user_id).select_related("from_user")
    qs = qs.filter(status=FriendRequest.Status.PENDING)
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    return list(qs.order_by("-pk")[: limit + 1])


def blocks_page(*, user_id: int, after_id: int | None, limit: int) -> list[Block]:
    qs = Block.objects.filter(blocker_id=user_id).select_related("blocked")
    if after_id is not None:
        qs = qs.filter(pk__gt=after_id)
    return list(qs.order_by("pk")[: limit + 1])
