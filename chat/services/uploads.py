"""Uploads for image, file and voice messages."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from config.errors import InvalidInput

from .. import media
from ..models import Upload


def _limit(kind: str) -> int:
    return {
        "image": settings.CHAT_UPLOAD_MAX_IMAGE_BYTES,
        "file": settings.CHAT_UPLOAD_MAX_FILE_BYTES,
        "voice": settings.CHAT_UPLOAD_MAX_VOICE_BYTES,
    }[kind]


def upload_create(*, owner, kind: str, file) -> Upload:
    """Check the bytes for `kind`, store them through the default storage, and return the
    Upload whose `token` an image/file/voice message refers to as `upload_id`."""
    if kind not in Upload.Kind.values:
        raise InvalidInput("kind is image, file or voice.", fields={"kind": ["Invalid kind."]})
    limit = _limit(kind)
    if getattr(file, "size", 0) > limit:
        raise InvalidInput(
            f"A {kind} is at most {limit // 1024} KB.",
            code="upload_too_large",
            fields={"file": ["Too large."]},
        )
    data = file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(
            f"A {kind} is at most {limit // 1024} KB.",
            code="upload_too_large",
            fields={"file": ["Too large."]},
        )
    if not data:
        raise InvalidInput("The file is empty.", code="invalid_upload", fields={"file": ["Empty."]})
    name = (getattr(file, "name", "") or "")[:200]
    if kind == "image":
        checked = media.check_image(data)
    elif kind == "voice":
        checked = media.check_voice(data)
    else:
        checked = media.check_file(data, name)
    upload = Upload(
        owner=owner,
        token=secrets.token_urlsafe(18),
        kind=kind,
        extension=checked.extension,
        name=name,
        content_type=checked.content_type,
        size=len(data),
        width=checked.width,
        height=checked.height,
        duration_ms=checked.duration_ms,
    )
    with transaction.atomic():
        upload.file.save(name or "upload", ContentFile(data), save=False)
        upload.save()
    return upload


def render_upload(upload: Upload) -> dict:
    return {
        "id": upload.token,
        "kind": upload.kind,
        "url": upload.file.url,
        "name": upload.name,
        "size": upload.size,
        "content_type": upload.content_type,
        "width": upload.width,
        "height": upload.height,
        "duration_ms": upload.duration_ms,
    }
