"""The merchant API's request signature, shared by the authentication class (incoming
requests) and the webhook sender (outgoing notifications).

signature = hex(HMAC-SHA256(secret, METHOD + "\n" + path + "\n" + timestamp + "\n" +
nonce + "\n" + body)), where `path` is the request path including the query string
(exactly as sent, e.g. "/api/merchant/v1/orders?x=1"), `timestamp` is Unix seconds and
`body` the raw request bytes (empty for a GET).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

MAX_SKEW_SECONDS = 300


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    head = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return head + body


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes) -> dict:
    """Headers for a signed request (used by webhooks, tests and the example clients)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    return {
        "X-Plaza-Merchant": key_id,
        "X-Plaza-Timestamp": timestamp,
        "X-Plaza-Nonce": nonce,
        "X-Plaza-Signature": sign(secret, method, path, timestamp, nonce, body),
    }
