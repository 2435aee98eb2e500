"""The per-person send limit shared by the WebSocket and REST edges (services called by
other apps — system lines, transfers — are not limited here)."""

from __future__ import annotations

from django.conf import settings

from config.ratelimit import check_rate


def check_send_rate(user_id: int) -> None:
    check_rate(
        "chat.send",
        str(user_id),
        f"{settings.CHAT_SEND_RATE_BURST}/s",
        message="You are sending messages too fast.",
    )


def typing_allowed(user_id: int, conversation_id: int) -> bool:
    """At most one typing event per person and conversation every 3 seconds."""
    from django.core.cache import cache

    return cache.add(f"chat:typing:{user_id}:{conversation_id}", 1, timeout=3)
