#!/usr/bin/env python3
"""A vending machine that sells through Plaza merchant QR checkout.

It creates an order with a signed request, draws the QR in the terminal, then waits to
hear it was paid - from the webhook (a tiny HTTP listener on this machine) or, if that
never comes, by polling the order - and prints "dispensed".

    python examples/vending_machine.py --base http://127.0.0.1:8000 \
        --key-id mk_... --secret sk_... --amount 250 --item "Cola 330ml"

A real merchant client: it uses only httpx and qrcode, no Plaza code, so it shows what
any merchant integration needs (docs/API.md, "Merchant API").
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import qrcode


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Plaza:
    """The merchant API, signed."""

    def __init__(self, base: str, key_id: str, secret: str):
        self.base, self.key_id, self.secret = base.rstrip("/"), key_id, secret
        self.http = httpx.Client(timeout=10)

    def call(self, method: str, path: str, payload: dict | None = None) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {
            "X-Plaza-Merchant": self.key_id,
            "X-Plaza-Timestamp": timestamp,
            "X-Plaza-Nonce": nonce,
            "X-Plaza-Signature": sign(self.secret, method, path, timestamp, nonce, body),
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, self.base + path, content=body, headers=headers)

    def verify(self, path: str, headers, body: bytes) -> bool:
        """Check a webhook: our secret, a fresh timestamp (replays are ignored by event id)."""
        timestamp = headers.get("X-Plaza-Timestamp") or ""
        nonce = headers.get("X-Plaza-Nonce") or ""
        if not timestamp.isdigit() or not nonce:
            return False
        expected = sign(self.secret, "POST", path, timestamp, nonce, body)
        fresh = abs(time.time() - int(timestamp)) <= 300
        return fresh and hmac.compare_digest(expected, headers.get("X-Plaza-Signature", ""))


class WebhookListener:
    """A tiny HTTP server that takes Plaza's webhooks and remembers the paid orders."""

    def __init__(self, plaza: Plaza, port: int = 0, host: str = "127.0.0.1"):
        self.paid: dict[int, dict] = {}
        self.event = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not plaza.verify(self.path, self.headers, body):
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                if event.get("event") == "order.paid":
                    listener.paid[event["data"]["order_id"]] = event["data"]
                    listener.event.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/plaza/webhook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def draw_qr(payload: str) -> None:
    qr = qrcode.QRCode(border=1)
    qr.add_data(payload)
    qr.make(fit=True)
    qr.print_ascii(out=sys.stdout, invert=True)


def sell(args) -> int:
    plaza = Plaza(args.base, args.key_id, args.secret)
    listener = None if args.poll_only else WebhookListener(plaza, port=args.listen_port)
    out_trade_no = args.out_trade_no or f"vm-{int(time.time() * 1000)}-{secrets.token_hex(3)}"
    order = {
        "out_trade_no": out_trade_no,
        "amount": args.amount,
        "currency": args.currency,
        "description": args.item,
        "expires_in": args.timeout + 60,
        "qr_format": args.qr_format,
    }
    if listener:
        order["notify_url"] = listener.url
    r = plaza.call("POST", "/api/merchant/v1/orders", order)
    if r.status_code not in (200, 201):
        print(f"could not create the order: {r.status_code} {r.text}", flush=True)
        return 2
    created = r.json()
    order_id = created["order_id"]
    print(f"{args.item}: {args.amount} {args.currency} - scan to pay (order {order_id})")
    if not args.no_qr:
        draw_qr(created["qr_payload"])
    print(f"checkout: {created['qr_payload']}", flush=True)

    deadline = time.time() + args.timeout
    how = None
    while time.time() < deadline:
        if listener and listener.event.wait(timeout=min(args.poll_every, deadline - time.time())):
            if order_id in listener.paid:
                how = "webhook"
                break
            listener.event.clear()
        elif not listener:
            time.sleep(min(args.poll_every, max(0.0, deadline - time.time())))
        # The webhook may never come (network, our listener restarted): the poll tells the truth.
        status = plaza.call("GET", f"/api/merchant/v1/orders/{order_id}").json().get("status")
        if status == "paid":
            how = "poll"
            break
        if status in ("closed", "expired"):
            print(f"order {order_id} is {status}; nothing dispensed", flush=True)
            return 1
    if listener:
        listener.close()
    if how is None:
        plaza.call("POST", f"/api/merchant/v1/orders/{order_id}/close", {})
        print(f"no payment within {args.timeout}s; order {order_id} closed", flush=True)
        return 1
    print(f"dispensed {args.item} (order {order_id}, paid, heard by {how})", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="http://127.0.0.1:8000")
    p.add_argument("--key-id", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--amount", type=int, default=250, help="minor units")
    p.add_argument("--currency", default="USD")
    p.add_argument("--item", default="Cola 330ml")
    p.add_argument("--out-trade-no", default="")
    p.add_argument("--qr-format", choices=["url", "emvco"], default="url")
    p.add_argument("--timeout", type=int, default=120, help="seconds to wait for payment")
    p.add_argument("--poll-every", type=float, default=2.0)
    p.add_argument("--poll-only", action="store_true", help="no webhook listener")
    p.add_argument("--listen-port", type=int, default=0)
    p.add_argument("--no-qr", action="store_true")
    return sell(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
