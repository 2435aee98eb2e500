"""Optional TOTP second factor at console sign-in (issue 11): set up with a QR code or the
key, confirm with a code, sign in with password then code, recovery codes work once,
replayed codes and guesses are refused and rate-limited, turning it off needs a code."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.test import Client

from brands.console import totp
from brands.models import ConsoleSecondFactor
from tests.console.conftest import PASSWORD, signed_in

pytestmark = pytest.mark.django_db


def enable(client) -> tuple[pyotp.TOTP, list[str]]:
    """Through the account page, as a person does: begin, read the key, confirm."""
    r = client.post("/console/account/", {"action": "begin"}, follow=True)
    html = r.content.decode()
    assert 'src="data:image/png;base64,' in html  # the QR code, allowed by the CSP
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html).group(1)
    app = pyotp.TOTP(secret)
    r = client.post("/console/account/", {"action": "confirm", "code": app.now()})
    assert r.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f-]{14})</code></li>", r.content.decode())
    assert len(codes) == 10
    return app, codes


def password_step(phone: str) -> Client:
    client = Client()
    r = client.post("/console/login/", {"phone": phone, "password": PASSWORD})
    assert r.status_code == 302 and r["Location"] == "/console/login/code/"
    return client


def next_step_code(app: pyotp.TOTP) -> str:
    """A code for the next 30 s step (accepted for clock drift, newer than any used)."""
    return app.at(time.time() + 30)


def test_set_up_then_sign_in_asks_for_the_code(brand, owner):
    client = signed_in(owner)
    r = client.get("/console/account/")
    assert b'id="totp-state">off' in r.content
    app, _codes = enable(client)
    r = client.get("/console/account/")
    assert b'id="totp-state">on' in r.content
    stored = ConsoleSecondFactor.objects.get(user=owner)
    assert app.secret not in stored.secret  # encrypted at rest

    fresh = password_step(owner.phone)
    # Not signed in yet: the console still sends this browser to sign in.
    assert fresh.get(f"/console/b/{brand.pk}/").status_code == 302
    r = fresh.post("/console/login/code/", {"code": "000000"})
    assert r.status_code == 400 and b"not right" in r.content
    r = fresh.post("/console/login/code/", {"code": next_step_code(app)})
    assert r.status_code == 302
    assert fresh.get(f"/console/b/{brand.pk}/").status_code == 200


def test_a_used_code_cannot_be_replayed(brand, owner):
    app, _ = enable(signed_in(owner))
    code = next_step_code(app)
    first = password_step(owner.phone)
    assert first.post("/console/login/code/", {"code": code}).status_code == 302
    second = password_step(owner.phone)
    r = second.post("/console/login/code/", {"code": code})
    assert r.status_code == 400
    assert second.get(f"/console/b/{brand.pk}/").status_code == 302


def test_recovery_codes_work_once(brand, owner):
    _app, codes = enable(signed_in(owner))
    client = password_step(owner.phone)
    r = client.post("/console/login/code/", {"code": codes[0].upper()}, follow=True)
    assert r.status_code == 200 and b"recovery code; 9 left" in r.content
    again = password_step(owner.phone)
    assert again.post("/console/login/code/", {"code": codes[0]}).status_code == 400


def test_code_guesses_are_rate_limited(brand, owner):
    app, _ = enable(signed_in(owner))
    client = password_step(owner.phone)
    codes = [
        client.post("/console/login/code/", {"code": f"{i:06d}"}).status_code for i in range(6)
    ]
    assert codes == [400] * 5 + [429]
    # Even the right code waits out the limit.
    r = client.post("/console/login/code/", {"code": next_step_code(app)})
    assert r.status_code == 429 and b"Too many attempts" in r.content


def test_the_code_step_expires(brand, owner, monkeypatch):
    enable(signed_in(owner))
    client = password_step(owner.phone)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 301)
    r = client.get("/console/login/code/", follow=True)
    assert b"Sign in again" in r.content


def test_confirming_needs_a_right_code_and_off_needs_one_too(brand, owner):
    client = signed_in(owner)
    client.post("/console/account/", {"action": "begin"})
    r = client.post("/console/account/", {"action": "confirm", "code": "123456"})
    assert r.status_code == 400 and b"not right" in r.content
    assert not totp.totp_enabled(user=owner)
    # Without confirmation, sign-in does not ask for a code.
    r = Client().post("/console/login/", {"phone": owner.phone, "password": PASSWORD})
    assert r["Location"] == "/console/"

    client.post("/console/account/", {"action": "cancel"})
    app, codes = enable(client)
    r = client.post("/console/account/", {"action": "disable", "code": "999999"})
    assert r.status_code == 400 and totp.totp_enabled(user=owner)
    r = client.post("/console/account/", {"action": "disable", "code": codes[3]})
    assert r.status_code == 302 and not totp.totp_enabled(user=owner)
    r = Client().post("/console/login/", {"phone": owner.phone, "password": PASSWORD})
    assert r["Location"] == "/console/"


def test_account_page_needs_sign_in_and_carries_the_csp(brand, owner):
    r = Client().get("/console/account/")
    assert r.status_code == 302 and r["Location"].startswith("/console/login/")
    r = signed_in(owner).get("/console/account/")
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert b"<script>" not in r.content and b"style=" not in r.content


def test_an_unreadable_secret_is_a_message_not_a_500(brand, owner):
    """E.g. encrypted with an at-rest key an operator has since dropped."""
    app, _ = enable(signed_in(owner))
    ConsoleSecondFactor.objects.filter(user=owner).update(secret="not-a-fernet-token")
    client = password_step(owner.phone)
    r = client.post("/console/login/code/", {"code": next_step_code(app)})
    assert r.status_code == 400 and b"cannot be read" in r.content
