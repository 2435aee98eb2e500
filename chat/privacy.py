"""Chat's part of GET /api/v1/me/export and DELETE /api/v1/me (docs/PRIVACY.md)."""

from __future__ import annotations

from typing import Any

from .models import ChatBackup, HiddenMessage, Membership, Message, Upload
from .services.stream import iso

# Money and offer messages keep the id that ties them to the ledger (kept by law), and
# nothing else; every other kind loses its whole payload.
KEEP_PAYLOAD_KEYS = {"transfer": "transfer_id", "red_packet": "red_packet_id", "offer": "offer_id"}
ERASED_PAYLOAD = {"erased": True}


def export_user(user) -> dict[str, Any]:
    memberships = Membership.objects.filter(user=user).select_related("conversation")
    sent = Message.objects.filter(sender=user).order_by("conversation_id", "seq")
    uploads = Upload.objects.filter(owner=user).order_by("pk")
    return {
        "conversations": [
            {
                "id": m.conversation_id,
                "kind": m.conversation.kind,
                "title": m.conversation.title,
                "role": m.role,
                "joined_at": iso(m.joined_at),
                "left_at": iso(m.left_at),
                "muted": m.muted,
                "pinned": m.pinned,
            }
            for m in memberships.order_by("conversation_id")
        ],
        "messages_sent": [
            {
                "conversation_id": m.conversation_id,
                "seq": m.seq,
                "kind": m.kind,
                "text": m.text,
                "payload": m.payload,
                "created_at": iso(m.created_at),
                "edited_at": iso(m.edited_at),
                "recalled_at": iso(m.recalled_at),
            }
            for m in sent.iterator(chunk_size=2000)
        ],
        "uploads": [
            {
                "id": u.token,
                "kind": u.kind,
                "name": u.name,
                "content_type": u.content_type,
                "size": u.size,
                "created_at": iso(u.created_at),
            }
            for u in uploads
        ],
        "backups": [
            {"id": b.pk, "status": b.status, "created_at": iso(b.created_at)}
            for b in ChatBackup.objects.filter(user=user).order_by("pk")
        ],
    }


def erase_user(user) -> None:
    """Wipe the content of every message the person sent (rows stay: others' history
    keeps its numbering), delete their uploads and backups, and take them out of every
    conversation (the others see member.left)."""
    from .services.backups import backups_delete
    from .services.conversations import member_remove
    from .services.disappearing import uploads_delete

    sent = Message.objects.filter(sender=user)
    tokens = set()
    for kind, key in KEEP_PAYLOAD_KEYS.items():
        for m in sent.filter(kind=kind).only("pk", "payload"):
            kept = {key: m.payload.get(key)} if isinstance(m.payload, dict) else {}
            Message.objects.filter(pk=m.pk).update(
                text="", payload={**kept, **ERASED_PAYLOAD}, mentions=[]
            )
    for payload in sent.exclude(kind__in=KEEP_PAYLOAD_KEYS).values_list("payload", flat=True):
        if isinstance(payload, dict) and isinstance(payload.get("upload_id"), str):
            tokens.add(payload["upload_id"])
    sent.exclude(kind__in=KEEP_PAYLOAD_KEYS).update(text="", payload=ERASED_PAYLOAD, mentions=[])
    tokens |= set(Upload.objects.filter(owner=user).values_list("token", flat=True))
    uploads_delete(tokens=tokens, keep_if_used_outside=[])
    HiddenMessage.objects.filter(user=user).delete()
    backups_delete(user=user)
    for cid in Membership.objects.filter(user=user, left_at__isnull=True).values_list(
        "conversation_id", flat=True
    ):
        member_remove(conversation_id=cid, user_id=user.pk, actor=user)
