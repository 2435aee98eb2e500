"""Opaque cursors for `{"results": [...], "next": cursor-or-null}` lists."""

from __future__ import annotations

import base64
import json

from .errors import InvalidInput


def encode_cursor(value: dict) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    if not isinstance(value, dict):
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    return value


def parse_limit(raw: str | None, *, default: int = 50, maximum: int = 200) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(
            "limit must be a whole number.", code="invalid", fields={"limit": ["Not a number."]}
        )
    if value < 1 or value > maximum:
        raise InvalidInput(
            f"limit must be between 1 and {maximum}.",
            code="invalid",
            fields={"limit": [f"Must be between 1 and {maximum}."]},
        )
    return value
