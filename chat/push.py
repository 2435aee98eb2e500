"""Offline push notifications through a pluggable backend (settings.PUSH_BACKEND).

A backend has one method, `send(notifications)`, taking `PushNotification`s shaped like
what FCM and APNs both need (a device token, a platform, a title, a body, a data dict
and a collapse key). The default `LogPushBackend` writes them to the log and keeps the
last ones in `LogPushBackend.sent` (for tests and local runs).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushNotification:
    user_id: int
    device_id: int
    token: str
    platform: str
    title: str
    body: str
    data: dict = field(default_factory=dict)
    collapse_key: str = ""
    badge: int | None = None


class PushBackend(Protocol):
    def send(self, notifications: list[PushNotification]) -> None: ...


class LogPushBackend:
    sent: deque[PushNotification] = deque(maxlen=1000)

    def send(self, notifications: list[PushNotification]) -> None:
        for n in notifications:
            log.info("push to user %s device %s: %s", n.user_id, n.device_id, n.title)
            LogPushBackend.sent.append(n)


def get_backend() -> PushBackend:
    return import_string(settings.PUSH_BACKEND)()
