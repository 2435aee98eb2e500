"""Helpers for merchant tests: a merchant made by the real service, signed requests the
way a merchant's machine sends them, and a real local HTTP receiver for webhooks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rest_framework.test import APIClient

from payments.merchant_signing import sign, signed_headers
from payments.services.merchants import merchant_create


def make_merchant(**overrides):
    params = {"name": "Snack Machine 7", "country": "US", "city": "San Francisco"}
    params.update({"currency": "USD", "mcc": "5814"})
    params.update(overrides)
    merchant, key = merchant_create(**params)
    return merchant, key


class SignedClient:
    """Sends signed requests to /api/merchant/v1/ through Django's test client."""

    def __init__(self, key):
        self.key_id, self.secret = key.key_id, key.secret
        self.client = APIClient()

    def request(self, method: str, path: str, data=None, *, headers=None):
        body = b"" if data is None else json.dumps(data).encode()
        signed = signed_headers(self.key_id, self.secret, method, path, body)
        signed.update(headers or {})
        extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in signed.items()}
        if data is None:
            return getattr(self.client, method.lower())(path, **extra)
        return getattr(self.client, method.lower())(
            path, data=body, content_type="application/json", **extra
        )

    def post(self, path, data=None, **kw):
        return self.request("POST", path, {} if data is None else data, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


def create_order(client: SignedClient, **fields):
    body = {"out_trade_no": "T-1", "amount": 250, "currency": "USD", "description": "Cola"}
    body.update(fields)
    return client.post("/api/merchant/v1/orders", body)


class Receiver:
    """A real HTTP server on 127.0.0.1 that records webhook POSTs and answers `status`."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/plaza/notify?m=7"

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def verify(self, request: dict, secret: str) -> bool:
        h = {k.lower(): v for k, v in request["headers"].items()}
        expected = sign(
            secret,
            "POST",
            request["path"],
            h["x-plaza-timestamp"],
            h["x-plaza-nonce"],
            request["body"],
        )
        return expected == h["x-plaza-signature"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
