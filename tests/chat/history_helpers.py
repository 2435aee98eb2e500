"""Small builders for the chat-history tests, all through chat's real services."""

from __future__ import annotations

import itertools

from chat.services.conversations import conversation_get_or_create_direct, group_create
from chat.services.messages import message_send

_ids = itertools.count(1)


def direct(a, b):
    conv, _ = conversation_get_or_create_direct(user=a, other_user_id=b.pk)
    return conv


def group(creator, *members, title="Team"):
    return group_create(creator=creator, title=title, member_ids=[m.pk for m in members])


def say(user, conv, text, kind="text", payload=None):
    return message_send(
        sender=user,
        conversation_id=getattr(conv, "pk", conv),
        client_id=f"h{next(_ids)}",
        kind=kind,
        text=text,
        payload=payload,
    )
