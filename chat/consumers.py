"""The WebSocket edge at /ws/.

Thin by design: authenticate with the first frame, parse frames, call services through
`database_sync_to_async`, and forward pushed events. Every socket of a user joins the
group `config.realtime.user_group(user_id)`, so a push reaches all their devices.
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.authentication import device_for_token
from config.errors import DomainError, error_body
from config.realtime import user_group

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_AUTH_TIMEOUT = 4408
MAX_FRAME_BYTES = 64 * 1024


class FrameError(DomainError):
    status = 400
    code = "invalid_frame"


class PlazaConsumer(AsyncWebsocketConsumer):
    user_id: int | None = None
    device_id: int | None = None

    async def connect(self):
        self.user_id = None
        self._auth_timer = asyncio.get_running_loop().call_later(
            settings.WS_AUTH_TIMEOUT_SECONDS, lambda: asyncio.ensure_future(self._auth_timeout())
        )
        await self.accept()

    async def _auth_timeout(self):
        if self.user_id is None:
            await self.send_event(
                {
                    "type": "error",
                    **error_body("auth_timeout", "Authenticate within the first seconds."),
                }
            )
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    async def disconnect(self, code):
        timer = getattr(self, "_auth_timer", None)
        if timer:
            timer.cancel()
        if self.user_id is not None:
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
            await self.on_disconnected()

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            await self.send_error("invalid_frame", "Frames are JSON text up to 64 KiB.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_frame", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("invalid_frame", "A frame is a JSON object with a string type.")
            return
        kind = frame["type"]
        if self.user_id is None:
            if kind == "auth":
                await self.authenticate(frame)
            else:
                await self.send_error("not_authenticated", "Send an auth frame first.", frame)
            return
        handler = getattr(self, "frame_" + kind.replace(".", "_"), None) if kind.isascii() else None
        if handler is None or kind == "auth":
            await self.send_error("unknown_frame_type", f"Unknown frame type {kind[:40]!r}.", frame)
            return
        try:
            await handler(frame)
        except DomainError as e:
            await self.send_event(
                {
                    "type": "error",
                    "ref": frame.get("client_id"),
                    **error_body(e.code, e.message, e.fields, **e.extra),
                }
            )
        except Exception:
            log.exception("websocket frame %s failed", kind)
            await self.send_error("server_error", "Something went wrong on our side.", frame)

    async def authenticate(self, frame: dict):
        token = frame.get("token")
        device = await database_sync_to_async(device_for_token)(
            token if isinstance(token, str) else ""
        )
        if device is None:
            await self.send_error("not_authenticated", "Invalid or revoked token.")
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self._auth_timer.cancel()
        self.user_id = device.user_id
        self.device_id = device.pk
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        ready = {"type": "ready", "user_id": self.user_id, "device_id": self.device_id}
        ready.update(await self.on_authenticated())
        await self.send_event(ready)

    # Hooks the chat protocol fills in (presence, sync cursor).
    async def on_authenticated(self) -> dict:
        return {}

    async def on_disconnected(self) -> None:
        return None

    async def frame_ping(self, frame: dict):
        await self.send_event({"type": "pong", "ts": frame.get("ts")})

    # Channel-layer message: {"type": "push", "event": {...}} -> forwarded unchanged.
    async def push(self, message: dict):
        await self.send_event(message["event"])

    async def send_event(self, event: dict):
        await self.send(text_data=json.dumps(event, separators=(",", ":"), default=str))

    async def send_error(self, code: str, message: str, frame: dict | None = None):
        event = {"type": "error", **error_body(code, message)}
        if frame and isinstance(frame.get("client_id"), str):
            event["ref"] = frame["client_id"]
        await self.send_event(event)
