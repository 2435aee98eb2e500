"""Merchant API secrets at rest: encrypted with MultiFernet over settings.MERCHANT_SECRET_KEYS.

The first key encrypts; every key decrypts, so an operator rotates by putting a new key
first, running `manage.py reencrypt_merchant_secrets`, then dropping the old key. Outside
production, with no keys configured, one key is derived from SECRET_KEY so dev and tests
need no setup (production refuses to start without MERCHANT_SECRET_KEYS).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        digest = hashlib.sha256(b"plaza-merchant-secrets\0" + secret_key.encode()).digest()
        keys = (base64.urlsafe_b64encode(digest).decode(),)
    return MultiFernet([Fernet(k.strip().encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.MERCHANT_SECRET_KEYS), settings.SECRET_KEY)


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str | None:
    try:
        return fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def decrypt_remembered(token: str) -> str | None:
    """`decrypt`, remembered per process for tokens seen before: every signed merchant
    request needs its key's secret, and Fernet (HMAC check + AES) cost ~60 µs of CPU
    each time. Keyed by the token itself and the keys, so a re-encrypted or rotated
    secret is a new entry; revocation is checked on the key row, not here."""
    return _decrypt_remembered(token, tuple(settings.MERCHANT_SECRET_KEYS), settings.SECRET_KEY)


@lru_cache(maxsize=4096)
def _decrypt_remembered(token: str, keys: tuple[str, ...], secret_key: str) -> str | None:
    try:
        return _fernet(keys, secret_key).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def reencrypt(token: str) -> str:
    return fernet().rotate(token.encode()).decode()
