"""Pluggable SMS backends, chosen by settings.SMS_BACKEND."""

from __future__ import annotations

import logging
from pathlib import Path

import requests
from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("plaza.sms")

# Tests read messages sent through the locmem backend here.
outbox: list[dict] = []


class SmsError(Exception):
    pass


class ConsoleBackend:
    """Development: print the code where the person running `make run` sees it."""

    def send(self, phone: str, text: str) -> None:
        print(f"[sms] to {phone}: {text}", flush=True)  # noqa: T201
        log.info("sms to %s: %s", phone, text)


class LocmemBackend:
    def send(self, phone: str, text: str) -> None:
        outbox.append({"phone": phone, "text": text})


class FileBackend:
    """Appends one line per message; e2e tests read codes from it."""

    def send(self, phone: str, text: str) -> None:
        path = Path(settings.SMS_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{phone}\t{text}\n")


class HttpSmsBackend:
    """A Twilio-shaped HTTP provider: POST form data with basic auth."""

    def send(self, phone: str, text: str) -> None:
        if not settings.SMS_HTTP_URL:
            raise SmsError("SMS_HTTP_URL is not configured")
        resp = requests.post(
            settings.SMS_HTTP_URL,
            data={"To": phone, "From": settings.SMS_HTTP_FROM, "Body": text},
            auth=(settings.SMS_HTTP_ACCOUNT, settings.SMS_HTTP_TOKEN),
            timeout=10,
        )
        if resp.status_code >= 300:
            raise SmsError(f"SMS provider answered {resp.status_code}")


def get_backend():
    return import_string(settings.SMS_BACKEND)()


def send_sms(phone: str, text: str) -> None:
    get_backend().send(phone, text)
