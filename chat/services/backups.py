"""Backups of a person's chats: build an archive, restore one, clean up after 24 hours.

The archive is a zip:

    manifest.json              format, format_version, user_id, created_at, the
                               conversations, and the SHA-256 of every other file
    manifest.sig               django.core.signing signature of the manifest's SHA-256,
                               salted with the account id: only this server made it, and
                               only for this account
    conversations/<id>.jsonl   one message per line, oldest first
    attachments/<upload id>    the files image/file/voice messages point at

Restore checks everything before writing anything (signature, account, every checksum,
every line), then inserts, in one transaction, only messages that are missing: restoring
the same archive twice adds nothing. It never brings back what was deliberately removed
since: recalled or erased messages, messages past their disappearing timer, messages
before the person (re)joined, or conversations they have left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import secrets
import zipfile
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.errors import DomainError, NotFound
from config.ratelimit import check_rate

from ..models import (
    ChatBackup,
    Conversation,
    DisappearingPeriod,
    HiddenMessage,
    Membership,
    Message,
    Upload,
)
from .stream import iso

log = logging.getLogger(__name__)

FORMAT = "plaza-chat-backup"
FORMAT_VERSION = 1
LIFETIME = dt.timedelta(hours=24)
_SIGN_SALT = "plaza.chat.backup"
_DOWNLOAD_SALT = "plaza.chat.backup.download"
MAX_ENTRIES = 100_000
MAX_UNCOMPRESSED = 512 * 1024 * 1024  # a zip bomb stops here


class BackupRejected(DomainError):
    status = 422
    code = "backup_invalid"


# --- create -------------------------------------------------------------------------


def backup_request(*, user) -> ChatBackup:
    """Start a backup (202). A backup still being built is returned instead of a second."""
    pending = ChatBackup.objects.filter(user=user, status=ChatBackup.Status.PENDING).first()
    if pending is not None:
        return pending
    check_rate("chat-backup", str(user.pk), settings.CHAT_BACKUP_RATE)
    with transaction.atomic():
        backup = ChatBackup.objects.create(
            user=user, token=secrets.token_hex(16), expires_at=timezone.now() + LIFETIME
        )
        from ..history_tasks import build_backup

        transaction.on_commit(lambda: build_backup.delay(backup.pk))
    return backup


def backup_get(*, user, backup_id: int) -> ChatBackup:
    backup = ChatBackup.objects.filter(pk=backup_id, user=user).first()
    if backup is None:
        raise NotFound("No such backup.", code="backup_not_found")
    return backup


def _visible_messages(user, membership: Membership):
    hidden = HiddenMessage.objects.filter(
        user=user, message__conversation_id=membership.conversation_id
    ).values("message_id")
    return (
        Message.objects.filter(
            conversation_id=membership.conversation_id,
            seq__gt=membership.joined_seq,
            recalled_at__isnull=True,
        )
        .exclude(pk__in=hidden)
        .exclude(payload__has_key="expired")
        .exclude(payload__has_key="erased")
        .order_by("seq")
    )


def _message_line(m: Message) -> dict:
    return {
        "seq": m.seq,
        "sender_id": m.sender_id,
        "client_id": m.client_id,
        "kind": m.kind,
        "text": m.text,
        "payload": m.payload,
        "reply_to_seq": m.reply_to_seq,
        "mentions": m.mentions,
        "created_at": iso(m.created_at),
        "edited_at": iso(m.edited_at),
    }


def _sign(user_id: int, manifest: bytes) -> str:
    digest = hashlib.sha256(manifest).hexdigest()
    return signing.Signer(salt=f"{_SIGN_SALT}:{user_id}").sign(digest)


def backup_build(*, backup_id: int) -> ChatBackup | None:
    """Build the archive (Celery). Safe to run twice: a finished backup is left alone."""
    backup = ChatBackup.objects.select_related("user").filter(pk=backup_id).first()
    if backup is None or backup.status != ChatBackup.Status.PENDING:
        return backup
    try:
        data, n_conv, n_msg = _build_zip(backup)
    except Exception as exc:  # a failed build must say so, not stay pending forever
        log.exception("backup %s failed", backup_id)
        ChatBackup.objects.filter(pk=backup.pk).update(
            status=ChatBackup.Status.FAILED, error=str(exc)[:200], finished_at=timezone.now()
        )
        return ChatBackup.objects.get(pk=backup.pk)
    name = default_storage.save(f"backups/{backup.user_id}/{backup.token}.zip", ContentFile(data))
    now = timezone.now()
    backup.file.name = name
    backup.size = len(data)
    backup.sha256 = hashlib.sha256(data).hexdigest()
    backup.conversations = n_conv
    backup.messages = n_msg
    backup.status = ChatBackup.Status.READY
    backup.finished_at = now
    backup.expires_at = now + LIFETIME
    backup.save()
    return backup


def _build_zip(backup: ChatBackup) -> tuple[bytes, int, int]:
    user = backup.user
    memberships = list(
        Membership.objects.filter(user=user, left_at__isnull=True)
        .select_related("conversation")
        .order_by("conversation_id")
    )
    files: dict[str, str] = {}
    conversations = []
    total = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for membership in memberships:
            lines, count = [], 0
            for m in _visible_messages(user, membership).iterator(chunk_size=2000):
                lines.append(json.dumps(_message_line(m), ensure_ascii=False))
                count += 1
                token = m.payload.get("upload_id") if isinstance(m.payload, dict) else None
                if isinstance(token, str) and f"attachments/{token}" not in files:
                    _add_attachment(zf, files, token)
            body = ("\n".join(lines) + "\n").encode() if lines else b""
            path = f"conversations/{membership.conversation_id}.jsonl"
            zf.writestr(path, body)
            files[path] = hashlib.sha256(body).hexdigest()
            conv = membership.conversation
            conversations.append(
                {
                    "id": conv.pk,
                    "kind": conv.kind,
                    "title": conv.title,
                    "joined_seq": membership.joined_seq,
                    "last_seq": conv.last_seq,
                    "messages": count,
                    "file": path,
                }
            )
            total += count
        manifest = json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "backup_id": backup.pk,
                "user_id": user.pk,
                "created_at": iso(timezone.now()),
                "conversations": conversations,
                "files": files,
            },
            ensure_ascii=False,
            sort_keys=True,
            indent=1,
        ).encode()
        zf.writestr("manifest.json", manifest)
        zf.writestr("manifest.sig", _sign(user.pk, manifest))
    return buffer.getvalue(), len(conversations), total


def _add_attachment(zf: zipfile.ZipFile, files: dict, token: str) -> None:
    upload = Upload.objects.filter(token=token).first()
    if upload is None or not upload.file:
        return
    try:
        with upload.file.open("rb") as fh:
            data = fh.read()
    except OSError:  # the file is gone from storage: the message goes without it
        log.warning("attachment %s missing from storage", token)
        return
    path = f"attachments/{token}"
    zf.writestr(path, data)
    files[path] = hashlib.sha256(data).hexdigest()
    meta = {
        "token": token,
        "kind": upload.kind,
        "owner_id": upload.owner_id,
        "name": upload.name,
        "extension": upload.extension,
        "content_type": upload.content_type,
        "size": upload.size,
        "width": upload.width,
        "height": upload.height,
        "duration_ms": upload.duration_ms,
    }
    body = json.dumps(meta).encode()
    zf.writestr(f"{path}.json", body)
    files[f"{path}.json"] = hashlib.sha256(body).hexdigest()


def download_token(backup: ChatBackup) -> str:
    return signing.TimestampSigner(salt=_DOWNLOAD_SALT).sign_object(
        {"b": backup.pk, "u": backup.user_id}
    )


def backup_for_download(*, backup_id: int, token: str) -> ChatBackup:
    """The signed URL is the capability: it names one backup and lives 24 hours."""
    try:
        value = signing.TimestampSigner(salt=_DOWNLOAD_SALT).unsign_object(token, max_age=LIFETIME)
    except signing.SignatureExpired:
        raise DomainError("This download link has expired.", code="link_expired", status=410)
    except (signing.BadSignature, ValueError, TypeError):
        raise NotFound("No such backup.", code="backup_not_found")
    if not isinstance(value, dict) or value.get("b") != backup_id:
        raise NotFound("No such backup.", code="backup_not_found")
    backup = ChatBackup.objects.filter(
        pk=backup_id, user_id=value.get("u"), status=ChatBackup.Status.READY
    ).first()
    if backup is None or not backup.file or backup.expires_at <= timezone.now():
        raise NotFound("No such backup.", code="backup_not_found")
    return backup


# --- restore ------------------------------------------------------------------------


@dataclass
class RestoreResult:
    conversations: int
    messages_added: int
    messages_skipped: int
    conversations_skipped: int
    attachments_restored: int


def _reject(message: str, code: str) -> BackupRejected:
    return BackupRejected(message, code=code)


def _read_archive(user, upload) -> tuple[dict, dict[str, bytes]]:
    """Open and verify everything; raise before anything is written."""
    try:
        zf = zipfile.ZipFile(upload)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _reject("This is not a Plaza backup archive (not a zip file).", "backup_corrupt")
    if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
        raise _reject("The archive is too large to restore.", "backup_too_large")
    names = {i.filename for i in infos}
    if "manifest.json" not in names or "manifest.sig" not in names:
        raise _reject("The archive has no manifest: not a Plaza backup.", "backup_corrupt")
    try:
        contents = {i.filename: zf.read(i) for i in infos if not i.is_dir()}
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        EOFError,
        zlib.error,
        RuntimeError,  # an encrypted member
        NotImplementedError,  # a compression method zipfile does not know
    ):
        raise _reject("The archive is damaged (a file cannot be read).", "backup_corrupt")
    manifest_raw = contents.pop("manifest.json", None)
    signature_raw = contents.pop("manifest.sig", None)
    if manifest_raw is None or signature_raw is None:
        raise _reject("The archive has no manifest: not a Plaza backup.", "backup_corrupt")
    signature = signature_raw.decode("ascii", "replace").strip()
    try:
        manifest = json.loads(manifest_raw)
    except (ValueError, UnicodeDecodeError):
        raise _reject("The manifest is damaged.", "backup_corrupt")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _reject("The manifest is not a Plaza backup manifest.", "backup_corrupt")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _reject(
            f"Backup format version {manifest.get('format_version')!r} is not supported.",
            "backup_unsupported_version",
        )
    if manifest.get("user_id") != user.pk:
        raise _reject("This backup belongs to another account.", "backup_foreign")
    try:
        digest = signing.Signer(salt=f"{_SIGN_SALT}:{user.pk}").unsign(signature)
    except signing.BadSignature:
        raise _reject("The backup's signature does not match: it was altered.", "backup_tampered")
    if not secrets.compare_digest(digest, hashlib.sha256(manifest_raw).hexdigest()):
        raise _reject("The backup's manifest was altered.", "backup_tampered")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(contents):
        raise _reject("The archive's files do not match its manifest.", "backup_tampered")
    for name, expected in files.items():
        if hashlib.sha256(contents[name]).hexdigest() != expected:
            raise _reject(f"Checksum mismatch for {name}.", "backup_checksum_mismatch")
    return manifest, contents


def _parse_lines(body: bytes, name: str) -> list[dict]:
    out = []
    try:
        for line in body.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if not (
                isinstance(row, dict)
                and isinstance(row.get("seq"), int)
                and not isinstance(row.get("seq"), bool)
                and row["seq"] >= 1
                and isinstance(row.get("kind"), str)
                and isinstance(row.get("text"), str)
                and isinstance(row.get("payload"), dict)
                and parse_datetime(str(row.get("created_at"))) is not None
            ):
                raise ValueError(name)
            out.append(row)
    except (ValueError, UnicodeDecodeError):
        raise _reject(f"{name} is damaged.", "backup_corrupt")
    return out


def backup_restore(*, user, upload) -> RestoreResult:
    """Restore an archive made for this account. All or nothing; idempotent."""
    check_rate("chat-restore", str(user.pk), settings.CHAT_BACKUP_RATE)
    manifest, contents = _read_archive(user, upload)
    conversations = manifest.get("conversations")
    if not isinstance(conversations, list):
        raise _reject("The manifest is damaged.", "backup_corrupt")
    parsed: list[tuple[int, list[dict]]] = []
    for conv in conversations:
        if not isinstance(conv, dict) or not isinstance(conv.get("id"), int):
            raise _reject("The manifest is damaged.", "backup_corrupt")
        path = f"conversations/{conv['id']}.jsonl"
        if path not in contents:
            raise _reject(f"{path} is missing.", "backup_corrupt")
        parsed.append((conv["id"], _parse_lines(contents[path], path)))

    written: list[str] = []
    try:
        with transaction.atomic():
            result = _insert_missing(user, parsed, contents, written)
    except BaseException:
        for name in written:  # files saved for rows that were rolled back
            default_storage.delete(name)
        raise
    return result


def _insert_missing(user, parsed, contents, written: list[str]) -> RestoreResult:
    now = timezone.now()
    added = skipped = conv_skipped = attachments = 0
    memberships = {
        m.conversation_id: m
        for m in Membership.objects.filter(
            user=user, left_at__isnull=True, conversation_id__in=[cid for cid, _ in parsed]
        )
    }
    user_model = type(user)
    for cid, rows in parsed:
        membership = memberships.get(cid)
        if membership is None:  # left since, or the conversation is gone: not ours to fill
            conv_skipped += 1
            skipped += len(rows)
            continue
        # Lock the conversation: a concurrent send must not take a seq we are filling.
        last_seq = (
            Conversation.objects.select_for_update()
            .filter(pk=cid)
            .values_list("last_seq", flat=True)
        ).first() or 0
        existing = set(
            Message.objects.filter(
                conversation_id=cid, seq__in=[r["seq"] for r in rows]
            ).values_list("seq", flat=True)
        )
        periods = list(DisappearingPeriod.objects.filter(conversation_id=cid))
        senders = {r.get("sender_id") for r in rows if isinstance(r.get("sender_id"), int)}
        erased = set(
            user_model.objects.filter(pk__in=senders)
            .filter(Q(erased_at__isnull=False) | Q(is_active=False))
            .values_list("pk", flat=True)
        )
        known = set(user_model.objects.filter(pk__in=senders).values_list("pk", flat=True))
        new = []
        for r in rows:
            seq = r["seq"]
            sender_id = r.get("sender_id")
            created_at = parse_datetime(r["created_at"])
            if (
                seq in existing
                or seq <= membership.joined_seq
                or seq > last_seq
                or (sender_id is not None and (sender_id in erased or sender_id not in known))
                or _expired(periods, seq, created_at, now, r["kind"])
            ):
                skipped += 1
                continue
            edited = parse_datetime(str(r.get("edited_at"))) if r.get("edited_at") else None
            new.append(
                Message(
                    conversation_id=cid,
                    seq=seq,
                    sender_id=sender_id,
                    client_id=str(r.get("client_id") or "")[:64],
                    kind=r["kind"][:12],
                    text=r["text"],
                    payload=r["payload"],
                    reply_to_seq=r.get("reply_to_seq")
                    if isinstance(r.get("reply_to_seq"), int)
                    else None,
                    mentions=r.get("mentions") if isinstance(r.get("mentions"), list) else [],
                    created_at=created_at,
                    edited_at=edited,
                )
            )
        try:
            with transaction.atomic():
                Message.objects.bulk_create(new)
        except IntegrityError:
            raise _reject(
                "The backup conflicts with the conversation's history.", "backup_conflict"
            )
        added += len(new)
        for m in new:
            token = m.payload.get("upload_id")
            if isinstance(token, str) and _restore_attachment(token, contents, written):
                attachments += 1
    return RestoreResult(
        conversations=len(parsed) - conv_skipped,
        messages_added=added,
        messages_skipped=skipped,
        conversations_skipped=conv_skipped,
        attachments_restored=attachments,
    )


def _expired(periods, seq: int, created_at, now, kind: str) -> bool:
    if kind == "system":
        return False
    for p in periods:
        if p.from_seq < seq and (p.until_seq is None or seq <= p.until_seq):
            return (
                created_at + dt.timedelta(seconds=p.ttl_seconds) <= now
                or seq <= p.purged_through_seq
            )
    return False


def _restore_attachment(token: str, contents: dict[str, bytes], written: list[str]) -> bool:
    """Bring back an attachment whose upload row or file is gone."""
    data = contents.get(f"attachments/{token}")
    meta_raw = contents.get(f"attachments/{token}.json")
    if data is None or meta_raw is None:
        return False
    upload = Upload.objects.filter(token=token).first()
    if upload is not None and upload.file and upload.file.storage.exists(upload.file.name):
        return False
    meta = json.loads(meta_raw)
    kind = meta.get("kind") if meta.get("kind") in Upload.Kind.values else "file"
    ext = str(meta.get("extension") or "")[:10]
    name = default_storage.save(f"chat/{kind}/restored/{token}{ext}", ContentFile(data))
    written.append(name)
    if upload is not None:
        upload.file.name = name
        upload.save(update_fields=["file"])
        return True
    owner_id = meta.get("owner_id")
    if not isinstance(owner_id, int):
        return False
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(pk=owner_id, erased_at__isnull=True).exists():
        return False
    Upload.objects.create(
        owner_id=owner_id,
        token=token,
        kind=kind,
        file=name,
        extension=ext,
        name=str(meta.get("name") or "")[:200],
        content_type=str(meta.get("content_type") or "application/octet-stream")[:100],
        size=len(data),
        width=meta.get("width") if isinstance(meta.get("width"), int) else None,
        height=meta.get("height") if isinstance(meta.get("height"), int) else None,
        duration_ms=meta.get("duration_ms") if isinstance(meta.get("duration_ms"), int) else None,
    )
    return True


# --- clean-up -----------------------------------------------------------------------


def backups_expire(*, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Delete archives older than 24 hours (beat job). Idempotent."""
    now = now or timezone.now()
    done = 0
    while True:
        batch = list(
            ChatBackup.objects.filter(expires_at__lte=now)
            .exclude(status=ChatBackup.Status.EXPIRED)
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return done
        with transaction.atomic():
            names = [b.file.name for b in batch if b.file]
            ChatBackup.objects.filter(pk__in=[b.pk for b in batch]).update(
                status=ChatBackup.Status.EXPIRED, file=""
            )
            transaction.on_commit(lambda names=names: _delete(names))
        done += len(batch)


def backups_delete(*, user) -> None:
    """Every backup of a person, rows and files (account erase)."""
    names = [b.file.name for b in ChatBackup.objects.filter(user=user) if b.file]
    ChatBackup.objects.filter(user=user).delete()
    transaction.on_commit(lambda: _delete(names))


def _delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not delete %s", name)
