"""Helpers for tests that need a friend graph (built through the real services)."""

from __future__ import annotations

from accounts import friends


def befriend(a, b) -> None:
    sent = friends.friend_request_send(from_user=a, to_user_id=b.pk)
    if sent.request.status == "pending":
        friends.friend_request_accept(user=b, request_id=sent.request.pk)
