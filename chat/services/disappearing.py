"""Disappearing messages: the per-conversation setting and the purge job.

Set by either person in a direct chat, by owners/admins in a group; announced with a
system message through `message_send`. The setting applies to messages sent after the
announcement (each message keeps the timer it was sent under). The purge job clears the
text and payload of expired messages and deletes their attachments from the database and
storage; the rows stay as empty placeholders so `seq` numbering stays gapless.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.errors import DomainError, InvalidInput

from ..models import Conversation, DisappearingPeriod, Message, Upload
from . import messages as message_services

log = logging.getLogger(__name__)

DAY = 86400
CHOICES = {0: "off", DAY: "24 hours", 7 * DAY: "7 days", 90 * DAY: "90 days"}
EXPIRED_PAYLOAD = {"expired": True}


def _label(ttl: int) -> str:
    return CHOICES[ttl]


def disappearing_get(*, conversation_id: int) -> DisappearingPeriod | None:
    return DisappearingPeriod.objects.filter(
        conversation_id=conversation_id, until_seq__isnull=True
    ).first()


def disappearing_set(*, actor, conversation_id: int, ttl_seconds: int) -> DisappearingPeriod | None:
    """Change the timer (0 turns it off). Returns the open period, or None when off."""
    from ..selectors import conversation_for_member

    if ttl_seconds not in CHOICES:
        raise InvalidInput(
            "ttl_seconds is one of 0 (off), 86400 (24 h), 604800 (7 days), 7776000 (90 days).",
            fields={"ttl_seconds": ["Not an allowed duration."]},
        )
    conv = conversation_for_member(actor, conversation_id)
    if conv.kind != Conversation.Kind.DIRECT and not conv.membership.is_admin:
        raise DomainError(
            "Only the owner and admins can change this.", code="not_group_admin", status=403
        )
    with transaction.atomic():
        # The announcement takes the conversation row lock (stream.bump) and holds it to
        # our commit: no message can slip in between "old timer" and "new timer".
        current = disappearing_get(conversation_id=conv.pk)
        if (current.ttl_seconds if current else 0) == ttl_seconds:
            return current
        name = actor.display_name or "Someone"
        text = (
            f"{name} turned off disappearing messages."
            if ttl_seconds == 0
            else f"{name} set disappearing messages to {_label(ttl_seconds)}."
        )
        announcement = message_services.message_send_system(
            conversation_id=conv.pk,
            text=text,
            payload={"event": "disappearing.set", "ttl_seconds": ttl_seconds, "by": actor.pk},
        )
        current = (
            DisappearingPeriod.objects.select_for_update()
            .filter(conversation_id=conv.pk, until_seq__isnull=True)
            .first()
        )
        if current is not None:
            current.until_seq = announcement.seq
            current.save(update_fields=["until_seq"])
        if ttl_seconds == 0:
            return None
        return DisappearingPeriod.objects.create(
            conversation_id=conv.pk,
            ttl_seconds=ttl_seconds,
            from_seq=announcement.seq,
            purged_through_seq=announcement.seq,
            set_by=actor,
        )


def expiry_of(message: Message) -> dt.datetime | None:
    """When this message disappears, or None."""
    period = (
        DisappearingPeriod.objects.filter(
            conversation_id=message.conversation_id, from_seq__lt=message.seq
        )
        .filter(Q(until_seq__isnull=True) | Q(until_seq__gte=message.seq))
        .first()
    )
    if period is None or message.kind == Message.Kind.SYSTEM:
        return None
    return message.created_at + dt.timedelta(seconds=period.ttl_seconds)


def disappearing_purge(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Clear every message past its timer. Idempotent and resumable: each period keeps a
    high-water mark, each batch is its own transaction. Returns messages purged."""
    now = now or timezone.now()
    purged = 0
    for period_id in DisappearingPeriod.objects.values_list("pk", flat=True).order_by("pk"):
        while True:
            n, more = _purge_batch(period_id, now, batch_size)
            purged += n
            if not more:
                break
    # Closed periods that are fully purged are no longer needed.
    DisappearingPeriod.objects.filter(
        until_seq__isnull=False, purged_through_seq__gte=F("until_seq")
    ).delete()
    return purged


def _purge_batch(period_id: int, now: dt.datetime, batch_size: int) -> tuple[int, bool]:
    with transaction.atomic():
        period = DisappearingPeriod.objects.select_for_update().filter(pk=period_id).first()
        if period is None:
            return 0, False
        cutoff = now - dt.timedelta(seconds=period.ttl_seconds)
        rows = Message.objects.filter(
            conversation_id=period.conversation_id,
            seq__gt=period.purged_through_seq,
            created_at__lt=cutoff,
        )
        if period.until_seq is not None:
            rows = rows.filter(seq__lte=period.until_seq)
        batch = list(rows.order_by("seq").values("pk", "seq", "kind", "payload")[:batch_size])
        if not batch:
            return 0, False
        ids = [m["pk"] for m in batch if m["kind"] != Message.Kind.SYSTEM]
        tokens = {
            m["payload"].get("upload_id")
            for m in batch
            if isinstance(m["payload"], dict) and m["payload"].get("upload_id")
        }
        Message.objects.filter(pk__in=ids).update(text="", payload=EXPIRED_PAYLOAD, mentions=[])
        uploads_delete(tokens=tokens, keep_if_used_outside=ids)
        period.purged_through_seq = batch[-1]["seq"]
        period.save(update_fields=["purged_through_seq"])
    return len(ids), len(batch) == batch_size


def uploads_delete(*, tokens: set[str], keep_if_used_outside: list[int]) -> int:
    """Delete uploads and, after commit, their files — unless another message still
    shows the same upload (a file sent twice stays for the other message)."""
    tokens = {t for t in tokens if isinstance(t, str)}
    if not tokens:
        return 0
    still_used = set(
        Message.objects.filter(payload__upload_id__in=list(tokens))
        .exclude(pk__in=keep_if_used_outside)
        .values_list("payload__upload_id", flat=True)
    )
    doomed = list(Upload.objects.filter(token__in=tokens - still_used))
    names = [(u.file.storage, u.file.name) for u in doomed if u.file]
    Upload.objects.filter(pk__in=[u.pk for u in doomed]).delete()
    transaction.on_commit(lambda: _delete_files(names))
    return len(doomed)


def _delete_files(names) -> None:
    for storage, name in names:
        try:
            storage.delete(name)
        except OSError:  # already gone, or storage hiccup: the row is gone either way
            log.warning("could not delete %s", name)
