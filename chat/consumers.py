"""The WebSocket edge at /ws/.

Thin by design: authenticate with the first frame, parse frames, call services through
`database_sync_to_async`, and forward pushed events. Every socket of a user joins the
group `config.realtime.user_group(user_id)`, so a push reaches all their devices.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.authentication import device_for_token
from config.errors import DomainError, InvalidInput, RateLimited, error_body
from config.realtime import apublish, user_group

from . import presence
from .ratelimits import check_send_rate, typing_allowed
from .sendqueue import batcher
from .services import messages as message_services
from .services.messages import SERVICE_KINDS
from .services.stream import iso

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_AUTH_TIMEOUT = 4408
MAX_FRAME_BYTES = 64 * 1024


class FrameError(DomainError):
    status = 400
    code = "invalid_frame"


_db_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _db_pool
    if _db_pool is None:
        _db_pool = ThreadPoolExecutor(
            max_workers=settings.CHAT_WS_DB_THREADS, thread_name_prefix="chat-db"
        )
    return _db_pool


def db(fn):
    """Run ORM work off the event loop on chat's own thread pool (not Django's single
    thread-sensitive thread, nor the loop's 6-thread default), so sends from many sockets
    proceed side by side. Each thread keeps its database connection (DB_CONN_MAX_AGE)."""
    return database_sync_to_async(fn, thread_sensitive=False, executor=_pool())


def _id(frame: dict, key: str) -> int:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidInput(
            f"{key} must be an id.", code="invalid_frame", fields={key: ["Not an id."]}
        )
    return value


def _seq(frame: dict, key: str = "seq") -> int:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidInput(
            f"{key} must be a seq.", code="invalid_frame", fields={key: ["Not a seq."]}
        )
    return value


# A live socket refreshes its presence counter (TTL 6 h) on a ping at most this often.
PRESENCE_TOUCH_EVERY = 600.0


class PlazaConsumer(AsyncWebsocketConsumer):
    user_id: int | None = None
    device_id: int | None = None
    _touched_at: float = 0.0

    async def dispatch(self, message):
        # channels' own dispatch first hops to Django's single sync thread to run
        # close_old_connections() for EVERY message — each frame in, each push out — so all
        # sockets of the process queued on one thread (a 500-member fan-out was 500 hops).
        # This loop never touches the database: db() runs ORM work on chat's pool, and
        # DatabaseSyncToAsync closes/returns that thread's connection itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
            extra = dict(e.extra)
            if isinstance(e, RateLimited):
                extra["retry_after"] = e.retry_after
            await self.send_event(
                {
                    "type": "error",
                    "ref": frame.get("client_id"),
                    **error_body(e.code, e.message, e.fields, **extra),
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

    # --- chat protocol: presence and the sync cursor ---------------------------------
    async def on_authenticated(self) -> dict:
        cursor, audience = await db(_on_connect)(self.user_id)
        if audience:
            await apublish(audience, {"type": "presence", "user_id": self.user_id, "online": True})
        return {"cursor": cursor}

    async def on_disconnected(self) -> None:
        gone, audience, last_seen = await db(_on_disconnect)(self.user_id)
        if gone and audience:
            event = {
                "type": "presence",
                "user_id": self.user_id,
                "online": False,
                "last_seen_at": last_seen,
            }
            await apublish(audience, event)

    async def frame_ping(self, frame: dict):
        await self.send_event({"type": "pong", "ts": frame.get("ts")})
        # Keep the presence counter from expiring while this socket lives; its TTL is hours,
        # so once in a while is plenty (not a thread hop and a Redis call per ping).
        now = asyncio.get_running_loop().time()
        if now - self._touched_at > PRESENCE_TOUCH_EVERY:
            self._touched_at = now
            await db(presence.touch)(self.user_id)

    async def frame_presence_query(self, frame: dict):
        ids = frame.get("user_ids")
        if (
            not isinstance(ids, list)
            or len(ids) > 200
            or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids
            )
        ):
            raise InvalidInput(
                "user_ids is a list of at most 200 ids.",
                code="invalid_frame",
                fields={"user_ids": ["Invalid."]},
            )
        from .selectors import presence_of

        users = await db(presence_of)(self.user_id, ids)
        await self.send_event({"type": "presence.state", "users": users})

    async def frame_message_send(self, frame: dict):
        conversation_id = _id(frame, "conversation_id")
        kind = frame.get("kind")
        if not isinstance(kind, str):
            raise InvalidInput("kind is required.", code="invalid", fields={"kind": ["Required."]})
        if kind in SERVICE_KINDS:
            raise InvalidInput(
                f"{kind} messages are sent by their own feature, not directly.",
                code="kind_not_allowed",
                fields={"kind": ["Not a client kind."]},
            )
        rate_counted = False
        if settings.DATABASE_IS_POSTGRES:
            item = message_services.prepare_send(
                sender_id=self.user_id,
                conversation_id=conversation_id,
                frame=frame,
                skip_channel=self.channel_name,
            )
            if item is not None:
                # Group commit with the other sends of this process (chat.sendqueue).
                item = await batcher().send(item)
                if item.error is not None:
                    raise item.error
                if item.message is not None:
                    await self.send_ack(item.message)
                    return
                rate_counted = item.rate_counted
        # The one-message path: uploads, stickers, replies, and whatever the batch handed
        # back (not a member, blocked, a retried client_id) for its precise answer.
        deliveries: list = []
        message = await db(_send)(self.user_id, conversation_id, frame, deliveries, rate_counted)
        # Committed: publish from this loop (no hop to a background loop and back).
        for user_ids, event in deliveries:
            try:
                await apublish(user_ids, event, skip_channel=self.channel_name)
            except Exception:  # best effort, like every push: sync is the source of truth
                log.exception("publishing message.new failed")
        await self.send_ack(message)

    async def send_ack(self, message):
        await self.send_event(
            {
                "type": "message.ack",
                "client_id": message.client_id,
                "conversation_id": message.conversation_id,
                "seq": message.seq,
                "id": message.pk,
                "created_at": iso(message.created_at),
            }
        )

    async def frame_typing(self, frame: dict):
        conversation_id = _id(frame, "conversation_id")
        others = await db(_typing_audience)(self.user_id, conversation_id)
        if others:
            event = {"type": "typing", "conversation_id": conversation_id, "user_id": self.user_id}
            await apublish(others, event)

    async def frame_read(self, frame: dict):
        conversation_id, seq = _id(frame, "conversation_id"), _seq(frame)
        await db(message_services.read_mark)(
            user_id=self.user_id, conversation_id=conversation_id, seq=seq
        )

    async def frame_delivered(self, frame: dict):
        conversation_id, seq = _id(frame, "conversation_id"), _seq(frame)
        await db(message_services.delivered_mark)(
            user_id=self.user_id, conversation_id=conversation_id, seq=seq
        )

    async def frame_message_edit(self, frame: dict):
        conversation_id, seq = _id(frame, "conversation_id"), _id(frame, "seq")
        await db(_edit)(self.user_id, conversation_id, seq, frame.get("text"))

    async def frame_message_recall(self, frame: dict):
        conversation_id, seq = _id(frame, "conversation_id"), _id(frame, "seq")
        await db(_recall)(self.user_id, conversation_id, seq)

    # Channel-layer message: {"type": "push", "text": "<frame>"} (or "texts": a batch, see
    # push_many_to_users) -> forwarded as is, already JSON (encoded once by the publisher),
    # except to the one socket named in "skip" (the sender's, which got an ack).
    async def push(self, message: dict):
        if message.get("skip") == self.channel_name:
            return
        text = message.get("text")
        if text is not None:
            await self.send(text_data=text)
            return
        for text in message.get("texts") or ():
            await self.send(text_data=text)
        # Messages from a process still running the previous release.
        for event in message.get("events") or ([message["event"]] if "event" in message else []):
            await self.send_event(event)

    async def send_event(self, event: dict):
        await self.send(text_data=json.dumps(event, separators=(",", ":"), default=str))

    async def send_error(self, code: str, message: str, frame: dict | None = None):
        event = {"type": "error", **error_body(code, message)}
        if frame and isinstance(frame.get("client_id"), str):
            event["ref"] = frame["client_id"]
        await self.send_event(event)


# --- the sync halves of the frame handlers (run on the thread pool) ---------------------


def _on_connect(user_id: int) -> tuple[str, list[int]]:
    from .selectors import presence_audience, sync_cursor_now

    first = presence.connected(user_id) == 1
    return sync_cursor_now(user_id), (presence_audience(user_id) if first else [])


def _on_disconnect(user_id: int) -> tuple[bool, list[int], str | None]:
    from .selectors import presence_audience
    from .services.presence import last_seen_record

    if presence.disconnected(user_id) > 0:
        return False, [], None
    return True, presence_audience(user_id), last_seen_record(user_id=user_id)


def _send(
    user_id: int, conversation_id: int, frame: dict, deliveries: list, rate_counted: bool = False
):
    if not rate_counted:  # the batch already counted this send against the limit
        check_send_rate(user_id)
    return message_services.message_send(
        sender=user_id,
        conversation_id=conversation_id,
        client_id=frame.get("client_id"),
        kind=frame.get("kind"),
        text=frame.get("text") or "",
        payload=frame.get("payload"),
        reply_to_seq=frame.get("reply_to_seq"),
        mentions=frame.get("mentions"),
        deliveries=deliveries,
    )


def _typing_audience(user_id: int, conversation_id: int) -> list[int]:
    from .selectors import member_ids

    ids = member_ids(conversation_id)
    if user_id not in ids:
        raise DomainError("No such conversation.", code="conversation_not_found", status=404)
    if not typing_allowed(user_id, conversation_id):
        return []  # throttled: one typing event per 3 s is plenty
    return [u for u in ids if u != user_id]


def _edit(user_id: int, conversation_id: int, seq: int, text):
    from django.contrib.auth import get_user_model

    user = get_user_model()(pk=user_id)
    return message_services.message_edit(
        user=user, conversation_id=conversation_id, seq=seq, text=text
    )


def _recall(user_id: int, conversation_id: int, seq: int):
    from django.contrib.auth import get_user_model

    user = get_user_model()(pk=user_id)
    return message_services.message_recall(user=user, conversation_id=conversation_id, seq=seq)
