"""The middleware stack on Django's async (ASGI) path, where config.middleware runs
Django's own hooks on the event loop: sessions must still save, CSRF must still refuse,
flash messages must still survive a redirect, and the API must keep its headers."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts.services import device_token_issue
from brands import services

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.django_db(transaction=True)


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
    client = AsyncClient(enforce_csrf_checks=True)

    page = await client.get("/console/login/")
    assert page.status_code == 200
    token = _csrf_token(page.content)

    refused = await client.post("/console/login/", {"phone": owner.phone, "password": PASSWORD})
    assert refused.status_code == 403  # no token in the form: CSRF still guards the form

    r = await client.post(
        "/console/login/",
        {"phone": owner.phone, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 302
    assert "sessionid" in r.cookies  # the session was written (in a worker thread)

    dashboard = await client.get(f"/console/b/{brand.pk}/")
    assert dashboard.status_code == 200
    assert b"Loop Tea" in dashboard.content
    assert dashboard["X-Frame-Options"] == "DENY"


async def test_flash_message_survives_the_redirect(make_user):
    owner, brand = await sync_to_async(_owner_with_brand)(make_user)
    client = AsyncClient()
    await sync_to_async(client.force_login)(owner)
    # The last owner cannot remove themselves: the refusal is a flash message shown on
    # the page the redirect leads to.
    r = await client.post(f"/console/b/{brand.pk}/team/{owner.pk}/remove/", follow=True)
    assert r.status_code == 200
    assert b"at least one owner" in r.content


async def test_api_request_keeps_security_headers_and_auth(make_user):
    user = await sync_to_async(make_user)("Async API")
    token = await sync_to_async(device_token_issue)(user=user)
    client = AsyncClient()
    r = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json()["id"] == user.pk
    assert r["X-Content-Type-Options"] == "nosniff"
    assert "sessionid" not in r.cookies
    anonymous = await client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"]


def test_deploy_check_still_catches_missing_protection(settings):
    from config.checks import check_protective_middleware

    assert check_protective_middleware() == []
    settings.MIDDLEWARE = [
        m
        for m in settings.MIDDLEWARE
        if not m.endswith(("SecurityMiddleware", "CsrfViewMiddleware", "XFrameOptionsMiddleware"))
    ]
    ids = sorted(w.id for w in check_protective_middleware())
    assert ids == ["plaza.W001", "plaza.W002", "plaza.W003"]
