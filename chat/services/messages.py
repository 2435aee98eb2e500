"""Sending, editing, recalling, hiding and reading messages.

`message_send` is the one send path for WebSocket, REST and other apps (system messages,
transfers, red packets, brand offers). It validates per kind, takes the conversation row
lock through `stream.bump` to get a gapless seq, stores the message and its stream event in
one transaction, and pushes `message.new` to every member's devices after commit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.selectors import is_blocked_between
from config.errors import Conflict, DomainError, InvalidInput, NotFound

from ..models import Conversation, HiddenMessage, Membership, Message, Upload
from . import stream

MAX_TEXT = 4096
MAX_MENTIONS = 50
EDIT_WINDOW = dt.timedelta(hours=24)
RECALL_WINDOW = dt.timedelta(minutes=2)

# Kinds a client may send itself; the rest are written by services (payments, brands, …).
CLIENT_KINDS = frozenset({"text", "image", "file", "voice", "sticker", "location"})
SERVICE_KINDS = frozenset({"transfer", "red_packet", "offer", "system"})
ALL_KINDS = CLIENT_KINDS | SERVICE_KINDS
# The id a service-kind payload must carry.
SERVICE_PAYLOAD_KEYS = {
    "transfer": "transfer_id",
    "red_packet": "red_packet_id",
    "offer": "offer_id",
}


def _bad(message: str, field: str, code: str = "invalid") -> InvalidInput:
    return InvalidInput(message, code=code, fields={field: [message]})


def _clean_text(kind: str, text: str | None) -> str:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise _bad("text must be a string.", "text")
    if len(text) > MAX_TEXT:
        raise _bad(f"text is at most {MAX_TEXT} characters.", "text", "text_too_long")
    if kind == "text" and not text.strip():
        raise _bad("A text message needs text.", "text", "text_required")
    return text


def _number(payload: dict, key: str, lo: float, hi: float) -> float:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{key} must be a number.", key, "invalid_location")
    if not lo <= value <= hi:
        raise _bad(f"{key} must be between {lo} and {hi}.", key, "invalid_location")
    return float(value)


def _sticker(sender_id: int, payload: dict) -> dict:
    sticker_id = payload.get("sticker_id")
    if isinstance(sticker_id, bool) or not isinstance(sticker_id, int | str) or sticker_id == "":
        raise _bad("sticker_id is required.", "sticker_id")
    try:
        from store.selectors import sticker_for_user
    except ImportError:  # the store is not installed yet
        sticker_for_user = None
    sticker = (
        sticker_for_user(user_id=sender_id, sticker_id=sticker_id) if sticker_for_user else None
    )
    if not sticker:
        raise NotFound("You do not own that sticker.", code="sticker_not_owned")
    if isinstance(sticker, dict):
        return {"sticker_id": sticker_id, **sticker}
    return {
        "sticker_id": sticker_id,
        **{
            k: getattr(sticker, k)
            for k in ("pack_id", "image_url", "name", "emoji")
            if isinstance(getattr(sticker, k, None), int | str)
        },
    }


def _upload(sender_id: int | None, kind: str, payload: dict) -> dict:
    token = payload.get("upload_id")
    if not isinstance(token, str) or not token or len(token) > 32:
        raise _bad("upload_id is required.", "upload_id", "upload_required")
    upload = Upload.objects.filter(token=token, owner_id=sender_id, kind=kind).first()
    if upload is None:
        raise NotFound("No such upload of yours.", code="upload_not_found")
    out = {
        "upload_id": upload.token,
        "url": upload.file.url,
        "name": upload.name,
        "size": upload.size,
        "content_type": upload.content_type,
    }
    if kind == "image":
        out.update(width=upload.width, height=upload.height)
    if kind == "voice":
        out.update(duration_ms=upload.duration_ms)
    return out


def clean_payload(*, kind: str, sender_id: int | None, payload) -> dict:
    """Validate and normalise the kind-specific payload (raises InvalidInput/NotFound)."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise _bad("payload must be an object.", "payload")
    if kind == "text":
        return {}
    if kind in ("image", "file", "voice"):
        return _upload(sender_id, kind, payload)
    if kind == "sticker":
        return _sticker(sender_id, payload)
    if kind == "location":
        out = {"lat": _number(payload, "lat", -90, 90), "lng": _number(payload, "lng", -180, 180)}
        for key in ("name", "address"):
            value = payload.get(key)
            if value is not None:
                if not isinstance(value, str) or len(value) > 200:
                    raise _bad(f"{key} is a string of at most 200 characters.", key)
                out[key] = value
        return out
    if kind in SERVICE_PAYLOAD_KEYS:
        key = SERVICE_PAYLOAD_KEYS[kind]
        if payload.get(key) in (None, ""):
            raise _bad(f"A {kind} message needs {key}.", key)
        return payload
    return payload  # system: free-form, written by services only


def _clean_mentions(mentions) -> list[int]:
    if mentions in (None, []):
        return []
    if not isinstance(mentions, list) or len(mentions) > MAX_MENTIONS:
        raise _bad(f"mentions is a list of at most {MAX_MENTIONS} user ids.", "mentions")
    out = []
    for m in mentions:
        if isinstance(m, bool) or not isinstance(m, int) or not 0 < m < 2**63:
            raise _bad("mentions holds user ids.", "mentions")
        out.append(m)
    return list(dict.fromkeys(out))


def _clean_client_id(client_id) -> str:
    if not isinstance(client_id, str) or not client_id.strip():
        raise _bad("client_id is required.", "client_id", "client_id_required")
    if len(client_id) > 64:
        raise _bad("client_id is at most 64 characters.", "client_id")
    return client_id


def message_send(
    *,
    sender,
    conversation_id: int,
    client_id: str | None,
    kind: str,
    text: str = "",
    payload: dict | None = None,
    reply_to_seq: int | None = None,
    mentions: list[int] | None = None,
    skip_channel: str | None = None,
    deliveries: list | None = None,
) -> Message:
    """Store a message and deliver it. A retry with the same `client_id` returns the first
    message; the same `client_id` with other content is 409 `client_id_reused`.

    `sender` is a user, a user id, or None for system messages. Service kinds (transfer,
    red_packet, offer, system) are accepted here; the edges refuse them from clients.
    `skip_channel` is the sending socket (it gets `message.ack` instead of the echo).
    `deliveries`: an async caller (the WebSocket edge) passes a list and publishes the
    `(user_ids, frame)` appended to it after commit on its own event loop, saving a hop to
    the background publishing loop.
    """
    sender_id = getattr(sender, "pk", sender)
    if not isinstance(kind, str) or kind not in ALL_KINDS:
        raise _bad(f"Unknown message kind {str(kind)[:20]!r}.", "kind", "unknown_kind")
    if sender_id is None and kind != "system":
        raise _bad("Only system messages may have no sender.", "sender")
    client_id = _clean_client_id(client_id) if sender_id is not None else (client_id or "")
    text = _clean_text(kind, text)
    mentions = _clean_mentions(mentions)
    if reply_to_seq is not None and (
        isinstance(reply_to_seq, bool) or not isinstance(reply_to_seq, int) or reply_to_seq < 1
    ):
        raise _bad("reply_to_seq is a message seq.", "reply_to_seq")
    payload = clean_payload(kind=kind, sender_id=sender_id, payload=payload)

    # One query finds every member (for fan-out) and proves the sender is one of them.
    members = list(
        Membership.objects.filter(
            conversation_id=conversation_id, left_at__isnull=True
        ).values_list("user_id", "joined_seq", "muted", "conversation__kind")
    )
    me = next((m for m in members if m[0] == sender_id), None)
    if sender_id is not None and me is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    if me is not None and me[3] == Conversation.Kind.DIRECT and kind != "system":
        other = next((m[0] for m in members if m[0] != sender_id), None)
        if other is not None and is_blocked_between(user_id=sender_id, other_id=other):
            raise DomainError("You cannot message this person.", code="cannot_message")
    try:
        with transaction.atomic():
            counters = stream.bump(conversation_id, messages=1, events=1)
            seq = counters.last_seq
            if reply_to_seq is not None and not (me[1] if me else 0) < reply_to_seq < seq:
                raise _bad("reply_to_seq is not a message here.", "reply_to_seq")
            message = Message.objects.create(
                conversation_id=conversation_id,
                seq=seq,
                sender_id=sender_id,
                client_id=client_id,
                kind=kind,
                text=text,
                payload=payload,
                reply_to_seq=reply_to_seq,
                mentions=mentions,
                created_at=timezone.now(),
            )
            (event,) = stream.append(conversation_id, counters, [("message.new", {}, message)])
            event.message = message
            if sender_id is not None:
                # The sender has read what they sent: keeps their unread count honest.
                Membership.objects.filter(
                    conversation_id=conversation_id, user_id=sender_id
                ).update(last_read_seq=seq, last_delivered_seq=seq)
            frame = stream.render_event(event)
            recipients = [m[0] for m in members]
            if deliveries is None:
                stream.publish(recipients, frame, skip_channel=skip_channel)
            else:
                transaction.on_commit(lambda: deliveries.append((recipients, frame)))
            _notify_offline_on_commit(message, members, sender_id)
    except IntegrityError:
        if not client_id:
            raise
        first = Message.objects.filter(
            conversation_id=conversation_id, sender_id=sender_id, client_id=client_id
        ).first()
        if first is None:
            raise
        same = (first.kind, first.text, first.payload, first.reply_to_seq, first.mentions) == (
            kind,
            text,
            payload,
            reply_to_seq,
            mentions,
        )
        if not same:
            raise Conflict(
                "This client_id was already used for a different message.",
                code="client_id_reused",
                seq=first.seq,
            )
        return first
    return message


# Kinds whose payload is checked without a query: these sends can be group-committed.
BATCHABLE_KINDS = frozenset({"text", "location"})


def prepare_send(*, sender_id: int, conversation_id: int, frame: dict, skip_channel=None):
    """Validate a client's send like `message_send` does, without touching the database.
    Returns a `send_batch.Outgoing` for the group-commit path, or None when this send needs
    the one-message path (uploads and stickers are looked up; replies are checked against
    the sender's join point). Raises the same InvalidInput as `message_send`."""
    from .send_batch import Outgoing

    kind = frame.get("kind")
    if kind not in BATCHABLE_KINDS or frame.get("reply_to_seq") is not None:
        return None
    client_id = _clean_client_id(frame.get("client_id"))
    text = _clean_text(kind, frame.get("text") or "")
    mentions = _clean_mentions(frame.get("mentions"))
    payload = clean_payload(kind=kind, sender_id=sender_id, payload=frame.get("payload"))
    return Outgoing(
        sender_id=sender_id,
        conversation_id=conversation_id,
        client_id=client_id,
        kind=kind,
        text=text,
        payload=payload,
        mentions=mentions,
        skip_channel=skip_channel,
    )


def _notify_offline_on_commit(message: Message, members, sender_id: int | None) -> None:
    recipients = [m[0] for m in members if m[0] != sender_id and not m[2]]
    if not recipients:
        return

    def enqueue():
        from ..presence import online_users
        from ..tasks import push_offline

        online = online_users(recipients)  # one round trip, not one per recipient
        offline = [u for u in recipients if u not in online]
        if offline:
            push_offline.delay(message.pk, offline)

    transaction.on_commit(enqueue)


def message_send_system(
    *, conversation_id: int, text: str, payload: dict | None = None, actor=None
):
    """A system line ("Alice joined", "Bob renamed the group") from another service."""
    return message_send(
        sender=actor,
        conversation_id=conversation_id,
        client_id=None,
        kind="system",
        text=text,
        payload=payload or {},
    )


def _locked_message(conversation_id: int, seq: int) -> Message:
    message = Message.objects.filter(conversation_id=conversation_id, seq=seq).first()
    if message is None:
        raise NotFound("No such message.", code="message_not_found")
    return message


def _member(user_id: int, conversation_id: int) -> Membership:
    m = Membership.objects.filter(
        conversation_id=conversation_id, user_id=user_id, left_at__isnull=True
    ).first()
    if m is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    return m


def _emit_message_event(message: Message, type_: str, data: dict | None = None) -> dict:
    counters = stream.bump(message.conversation_id)
    (event,) = stream.append(message.conversation_id, counters, [(type_, data or {}, message)])
    event.message = message
    frame = stream.render_event(event)
    stream.publish(_active_member_ids(message.conversation_id), frame)
    return frame


def _active_member_ids(conversation_id: int) -> list[int]:
    return list(
        Membership.objects.filter(
            conversation_id=conversation_id, left_at__isnull=True
        ).values_list("user_id", flat=True)
    )


def message_edit(*, user, conversation_id: int, seq: int, text: str) -> Message:
    """The sender edits a text message within 24 hours."""
    me = _member(user.pk, conversation_id)
    text = _clean_text("text", text)
    with transaction.atomic():
        message = _locked_message(conversation_id, seq)
        if message.seq <= me.joined_seq or message.sender_id != user.pk:
            if message.seq <= me.joined_seq:
                raise NotFound("No such message.", code="message_not_found")
            raise DomainError("Only the sender can edit a message.", code="not_sender", status=403)
        if message.kind != "text" or message.recalled_at is not None:
            raise DomainError("Only text messages can be edited.", code="not_editable")
        if timezone.now() - message.created_at > EDIT_WINDOW:
            raise DomainError("Messages can be edited for 24 hours.", code="edit_window_passed")
        message.text = text
        message.edited_at = timezone.now()
        message.save(update_fields=["text", "edited_at"])
        _emit_message_event(message, "message.edited")
    return message


def message_recall(*, user, conversation_id: int, seq: int) -> Message:
    """The sender recalls within 2 minutes; group owners/admins any time. The content is
    erased for everyone (replays too)."""
    me = _member(user.pk, conversation_id)
    with transaction.atomic():
        message = _locked_message(conversation_id, seq)
        if message.seq <= me.joined_seq:
            raise NotFound("No such message.", code="message_not_found")
        if message.recalled_at is not None:
            return message
        is_admin = (
            me.is_admin
            and Conversation.objects.filter(
                pk=conversation_id, kind=Conversation.Kind.GROUP
            ).exists()
        )
        if not is_admin:
            if message.sender_id != user.pk:
                raise DomainError(
                    "Only the sender or a group admin can recall.", code="not_sender", status=403
                )
            if timezone.now() - message.created_at > RECALL_WINDOW:
                raise DomainError(
                    "Messages can be recalled for 2 minutes.", code="recall_window_passed"
                )
        if message.kind in SERVICE_PAYLOAD_KEYS:
            raise DomainError("Money and offers cannot be recalled.", code="not_recallable")
        message.recalled_at = timezone.now()
        message.text = ""
        message.payload = {}
        message.save(update_fields=["recalled_at", "text", "payload"])
        counters = stream.bump(conversation_id)
        data = {"seq": message.seq, "message_id": message.pk, "by": user.pk}
        (event,) = stream.append(conversation_id, counters, [("message.recalled", data, None)])
        stream.publish(_active_member_ids(conversation_id), stream.render_event(event))
    return message


def message_update_payload(
    *, conversation_id: int, seq: int | None = None, message_id: int | None = None, payload: dict
) -> Message:
    """Rewrite a service message's payload (e.g. a transfer was accepted, a red packet ran
    out) and tell every member with `message.edited`. For services, not clients."""
    if not isinstance(payload, dict):
        raise _bad("payload must be an object.", "payload")
    with transaction.atomic():
        qs = Message.objects.filter(conversation_id=conversation_id)
        message = (qs.filter(pk=message_id) if message_id else qs.filter(seq=seq)).first()
        if message is None:
            raise NotFound("No such message.", code="message_not_found")
        message.payload = payload
        message.save(update_fields=["payload"])
        _emit_message_event(message, "message.edited")
    return message


def message_hide(*, user, conversation_id: int, seq: int) -> None:
    """Delete-for-me: gone from my history on all my devices, untouched for others."""
    me = _member(user.pk, conversation_id)
    message = Message.objects.filter(conversation_id=conversation_id, seq=seq).first()
    if message is None or message.seq <= me.joined_seq:
        raise NotFound("No such message.", code="message_not_found")
    with transaction.atomic():
        HiddenMessage.objects.get_or_create(user=user, message=message)
        stream.publish(
            [user.pk],
            {"type": "message.deleted", "conversation_id": conversation_id, "seq": seq},
            private=True,
        )


def read_mark(*, user_id: int, conversation_id: int, seq: int) -> int:
    """Mark everything up to `seq` read; members get `receipt.read` (also via sync).
    Returns the read position (never moves backwards)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise _bad("seq is a message seq.", "seq")
    m = Membership.objects.filter(
        conversation_id=conversation_id, user_id=user_id, left_at__isnull=True
    ).first()
    if m is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    if seq <= m.last_read_seq:
        return m.last_read_seq  # nothing to move: no lock, no write
    with transaction.atomic():
        # The conversation row first, then the membership: the order every send takes them
        # (a send locks the conversation, then moves the sender's read mark), so a read
        # receipt and a send from the same person's other device cannot deadlock.
        counters = stream.bump(conversation_id)
        seq = min(seq, counters.last_seq)
        moved = Membership.objects.filter(
            pk=m.pk, left_at__isnull=True, last_read_seq__lt=seq
        ).update(last_read_seq=seq, last_delivered_seq=Greatest("last_delivered_seq", Value(seq)))
        if not moved:  # left, or another device read as far meanwhile: reserve nothing
            transaction.set_rollback(True)
            current = (
                Membership.objects.filter(pk=m.pk, left_at__isnull=True)
                .values_list("last_read_seq", flat=True)
                .first()
            )
            if current is None:
                raise NotFound("No such conversation.", code="conversation_not_found")
            return current
        data = {"user_id": user_id, "seq": seq}
        (event,) = stream.append(conversation_id, counters, [("receipt.read", data, None)])
        stream.publish(_active_member_ids(conversation_id), stream.render_event(event))
    return seq


def delivered_mark(*, user_id: int, conversation_id: int, seq: int) -> int:
    """A device got messages up to `seq`. In direct chats the sender hears
    `receipt.delivered` (push only: groups would multiply it by every member)."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise _bad("seq is a message seq.", "seq")
    m = (
        Membership.objects.filter(
            conversation_id=conversation_id, user_id=user_id, left_at__isnull=True
        )
        .select_related("conversation")
        .first()
    )
    if m is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    seq = min(seq, m.conversation.last_seq)
    if seq <= m.last_delivered_seq:
        return m.last_delivered_seq
    with transaction.atomic():
        Membership.objects.filter(pk=m.pk, last_delivered_seq__lt=seq).update(
            last_delivered_seq=seq
        )
        if m.conversation.kind == Conversation.Kind.DIRECT:
            stream.publish(
                _active_member_ids(conversation_id),
                {
                    "type": "receipt.delivered",
                    "conversation_id": conversation_id,
                    "user_id": user_id,
                    "seq": seq,
                },
            )
    return seq


def visible_kinds() -> Iterable[str]:
    return sorted(ALL_KINDS)
