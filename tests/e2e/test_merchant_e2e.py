"""A real vending machine (examples/vending_machine.py) sells through a real server while a
real buyer script (examples/pay_as_buyer.py) pays: signed API, QR, webhook, poll."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.load.servers import login

ROOT = Path(__file__).resolve().parents[2]

SETUP_BUYER = """
from accounts.models import User
from payments.services.funding import operator_credit
from payments.services.pin import pin_set
user = User.objects.get(id={user_id})
operator_credit(user_id=user.id, amount={amount}, currency="USD", reason="e2e")
pin_set(user=user, pin="123456")
"""


def _merchant(server, name: str) -> dict:
    return json.loads(server.manage("create_merchant", name, "--json").strip().splitlines()[-1])


def _buyer(server, phone: str, amount: int = 5000) -> str:
    token, user = login(server, phone)
    server.manage("shell", "-c", SETUP_BUYER.format(user_id=user["id"], amount=amount))
    return token


def _start_machine(server, merchant: dict, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "examples/vending_machine.py",
            "--base",
            server.url,
            f"--key-id={merchant['key_id']}",
            f"--secret={merchant['secret']}",  # "=": a secret may start with "-"
            "--amount",
            "250",
            "--timeout",
            "60",
            *(extra or ("--poll-every", "0.5")),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("checkout: "):
            return proc, line.split(" ", 1)[1].strip()
    proc.kill()
    raise AssertionError("the machine never showed a QR:\n" + "".join(lines))


def _pay(server, token: str, payload: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "examples/pay_as_buyer.py",
            "--base",
            server.url,
            # "=" form: a device token may start with "-", which argparse would read
            # as an option (this made the test flaky).
            f"--token={token}",
            f"--checkout={payload}",
            "--pin",
            "123456",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_vending_machine_dispenses_when_the_buyer_pays(server):
    merchant = _merchant(server, "E2E Vending")
    token = _buyer(server, "+14155550161")
    # Polling rarely here, so the webhook (sent right after the payment commits) is what
    # the machine hears; the next test covers the poll.
    machine, payload = _start_machine(server, merchant, "--poll-every", "10")
    try:
        assert "/pay/o_" in payload
        paid = _pay(server, token, payload)
        assert paid.returncode == 0, paid.stdout + paid.stderr
        assert "paid 250 USD" in paid.stdout
        out, _ = machine.communicate(timeout=60)
    finally:
        if machine.poll() is None:
            machine.kill()
    assert machine.returncode == 0, out
    assert "dispensed" in out and "heard by webhook" in out


def test_without_webhooks_the_poll_tells_the_truth(server):
    merchant = _merchant(server, "E2E Poller")
    token = _buyer(server, "+14155550162")
    machine, payload = _start_machine(
        server, merchant, "--poll-only", "--poll-every", "0.5", "--qr-format", "emvco"
    )
    try:
        assert payload.startswith("000201")  # an EMVCo payload; the app reads tag 26
        checkout_url = payload[payload.index("http") :].split("5204", 1)[0]
        paid = _pay(server, token, checkout_url)
        assert paid.returncode == 0, paid.stdout + paid.stderr
        out, _ = machine.communicate(timeout=60)
    finally:
        if machine.poll() is None:
            machine.kill()
    assert machine.returncode == 0, out
    assert "dispensed" in out and "heard by poll" in out


def test_paying_an_unknown_code_fails_cleanly(server):
    token = _buyer(server, "+14155550163", amount=100)
    refused = _pay(server, token, server.url + "/api/v1/checkout/o_doesnotexist")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "404" in refused.stdout
