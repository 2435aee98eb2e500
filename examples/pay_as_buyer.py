#!/usr/bin/env python3
"""The buyer's side of a QR checkout, as the app does it: preview the scanned code, then
pay with the payment PIN (or none, under the password-free limit).

    python examples/pay_as_buyer.py --base http://127.0.0.1:8000 --token <bearer> \
        --checkout https://plaza.example/pay/o_... --pin 123456

For a demo account, --set-pin and --topup first set a PIN and add money (the top-up
uses the sandbox gateway outside production).
"""

from __future__ import annotations

import argparse
import secrets
import sys

import httpx


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="http://127.0.0.1:8000")
    p.add_argument("--token", required=True, help="the buyer's bearer token")
    p.add_argument("--checkout", required=True, help="the scanned QR payload (URL or token)")
    p.add_argument("--pin", default="")
    p.add_argument("--amount", type=int, help="at a till QR: the amount to pay")
    p.add_argument("--set-pin", default="", help="set this PIN first")
    p.add_argument("--pin-free-limit", type=int, help="opt in to password-free payments")
    p.add_argument("--topup", type=int, default=0, help="add this much first (sandbox)")
    p.add_argument("--currency", default="USD")
    args = p.parse_args(argv)

    http = httpx.Client(
        base_url=args.base.rstrip("/"),
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=15,
    )
    if args.set_pin:
        body = {"pin": args.set_pin}
        if args.pin_free_limit is not None:
            body["pin_free_limit"] = args.pin_free_limit
        r = http.post("/api/v1/wallet/pin", json=body)
        if r.status_code >= 400:
            print(f"could not set the PIN: {r.status_code} {r.text}")
            return 2
    if args.topup:
        r = http.post(
            "/api/v1/wallet/topups",
            json={"amount": args.topup, "currency": args.currency},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        )
        if r.status_code >= 400:
            print(f"could not top up: {r.status_code} {r.text}")
            return 2

    token = args.checkout.rstrip("/").rsplit("/", 1)[-1]
    preview = http.get(f"/api/v1/checkout/{token}")
    if preview.status_code != 200:
        print(f"cannot read this code: {preview.status_code} {preview.text}")
        return 2
    info = preview.json()
    amount = info["pay_amount"] if info["kind"] == "order" else args.amount
    print(f"pay {amount} {info['currency']} to {info['merchant']['name']} ({info['status']})")
    body: dict = {"pin": args.pin} if args.pin else {}
    headers = {}
    if info["kind"] == "till":
        if not args.amount:
            print("this is a till QR: give --amount")
            return 2
        body["amount"] = args.amount
        headers["Idempotency-Key"] = secrets.token_hex(8)
    r = http.post(f"/api/v1/checkout/{token}/pay", json=body, headers=headers)
    if r.status_code not in (200, 201):
        print(f"payment refused: {r.status_code} {r.text}")
        return 1
    receipt = r.json()
    print(f"paid {receipt['paid_amount']} {receipt['currency']} (order {receipt['order_id']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
