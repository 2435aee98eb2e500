"""HTTP through the application the servers run (config.asgi), whose Django requests run
whole in one worker thread (config/http.py): sessions must still save, CSRF must still
refuse, flash messages must survive a redirect, the API keeps its headers, streaming and
async views still answer, and the database connection goes back before the answer."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core import signals

from accounts.services import device_token_issue
from brands import services
from config.asgi import application
from tests.conftest import assert_ledger_balanced, fund_wallet

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.django_db(transaction=True)


def _client(**kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver", **kwargs
    )


def _owner_with_brand(make_user):
    owner = make_user("Async owner")
    owner.set_password(PASSWORD)
    owner.save()
    brand = services.brand_create(name="Loop Tea", owner=owner)
    return owner, brand


def _csrf_token(html: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1).decode()


async def test_console_sign_in_saves_the_session_and_enforces_csrf(make_user):
    owner, brand = await sync_to_async(_owner_with_brand)(make_user)
    async with _client() as client:
        page = await client.get("/console/login/")
        assert page.status_code == 200
        token = _csrf_token(page.content)

        form = {"phone": owner.phone, "password": PASSWORD}
        refused = await client.post("/console/login/", data=form)
        assert refused.status_code == 403  # no token in the form: CSRF still guards it

        r = await client.post("/console/login/", data={**form, "csrfmiddlewaretoken": token})
        assert r.status_code == 302
        assert "sessionid" in r.cookies  # the session was written

        dashboard = await client.get(f"/console/b/{brand.pk}/")
        assert dashboard.status_code == 200
        assert b"Loop Tea" in dashboard.content
        assert dashboard.headers["X-Frame-Options"] == "DENY"

        # The last owner cannot remove themselves: the refusal is a flash message shown
        # on the page the redirect leads to.
        removed = await client.post(
            f"/console/b/{brand.pk}/team/{owner.pk}/remove/",
            data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
            follow_redirects=True,
        )
        assert removed.status_code == 200
        assert b"at least one owner" in removed.content


async def test_api_request_keeps_security_headers_and_auth(make_user):
    user = await sync_to_async(make_user)("Async API")
    token = await sync_to_async(device_token_issue)(user=user)
    async with _client() as client:
        r = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json()["id"] == user.pk
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "sessionid" not in r.cookies
        anonymous = await client.get("/api/v1/me")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"]


async def test_body_over_the_limit_is_refused_before_the_view(make_user, settings):
    settings.PLAZA_MAX_BODY_BYTES = 100
    async with _client() as client:
        r = await client.post("/api/v1/auth/otp", content=b"x" * 500)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_streaming_response_arrives_whole(make_user):
    user = await sync_to_async(make_user)("Statement reader")
    for _ in range(3):
        await sync_to_async(fund_wallet)(user, 250)
    token = await sync_to_async(device_token_issue)(user=user)
    async with _client() as client:
        r = await client.get(
            "/api/v1/wallet/entries.csv", headers={"authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0].startswith("id,entry_id,created_at")
    assert len(lines) == 4  # the rows were read from the database while streaming
    await sync_to_async(assert_ledger_balanced)()


async def test_async_view_still_answers():
    async with _client() as client:
        r = await client.get("/healthz")
    assert r.status_code in (200, 503)
    assert set(r.json()["checks"]) == {"database", "broker", "channel_layer"}


async def test_whole_request_runs_in_one_worker_thread(make_user):
    user = await sync_to_async(make_user)("Thread watcher")
    token = await sync_to_async(device_token_issue)(user=user)
    seen: dict[str, int] = {}

    def started(**kwargs):
        seen["started"] = threading.get_ident()

    def finished(**kwargs):
        seen["finished"] = threading.get_ident()

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        async with _client() as client:
            r = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert r.status_code == 200
    # The request started and finished in one worker thread, the view's: so
    # close_old_connections (a request_finished receiver) closes, or hands back to the
    # pool, the very connection the view used, before the answer goes out.
    assert seen["started"] == seen["finished"] != threading.get_ident()
