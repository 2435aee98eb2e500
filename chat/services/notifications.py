"""Offline push: members with no connected device hear of a message through their phones'
push service. Muted conversations stay silent."""

from __future__ import annotations

from accounts.models import Device

from ..models import Conversation, Membership, Message
from ..presence import online_users
from ..push import PushNotification, get_backend

PREVIEW = {
    "image": "[Photo]",
    "file": "[File]",
    "voice": "[Voice message]",
    "sticker": "[Sticker]",
    "location": "[Location]",
    "transfer": "[Transfer]",
    "red_packet": "[Red packet]",
    "offer": "[Offer]",
}


def push_offline_message(*, message_id: int, user_ids: list[int]) -> int:
    """Send one notification per device of each offline, unmuted recipient. Idempotent
    enough for a retried task: a duplicate push collapses on the device (collapse_key)."""
    message = Message.objects.filter(pk=message_id).select_related("sender").first()
    if message is None or message.recalled_at is not None:
        return 0
    conv = Conversation.objects.get(pk=message.conversation_id)
    wanted = set(
        Membership.objects.filter(
            conversation_id=conv.pk, user_id__in=user_ids, left_at__isnull=True, muted=False
        ).values_list("user_id", flat=True)
    )
    wanted -= online_users(wanted)
    if not wanted:
        return 0
    sender = message.sender.display_name if message.sender else "Plaza"
    title = conv.title if conv.kind != Conversation.Kind.DIRECT else sender
    body = message.text[:140] if message.kind in ("text", "system") else PREVIEW[message.kind]
    if conv.kind != Conversation.Kind.DIRECT and message.sender:
        body = f"{sender}: {body}"
    devices = Device.objects.filter(user_id__in=wanted, revoked_at__isnull=True).exclude(
        push_token=""
    )
    notes = [
        PushNotification(
            user_id=d.user_id,
            device_id=d.pk,
            token=d.push_token,
            platform=d.platform,
            title=title or "Plaza",
            body=body,
            data={"conversation_id": conv.pk, "seq": message.seq},
            collapse_key=f"c{conv.pk}",
        )
        for d in devices
    ]
    if notes:
        get_backend().send(notes)
    return len(notes)
