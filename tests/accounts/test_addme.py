"""Personal add-me codes and their QR images."""

from __future__ import annotations

import pytest

from accounts import addme
from tests.conftest import client_for
from tests.qrcheck import assert_qr_encodes

pytestmark = pytest.mark.django_db


def test_code_url_and_qr_images(user, settings):
    settings.PLAZA_PUBLIC_URL = "https://plaza.example"
    alice = client_for(user)
    body = alice.get("/api/v1/me/add-me").json()
    assert len(body["code"]) >= 22  # ≥ 128 bits in base64url
    assert body["url"] == f"https://plaza.example/add/{body['code']}"
    assert alice.get("/api/v1/me/add-me").json()["code"] == body["code"]  # stable

    svg = alice.get("/api/v1/me/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert svg["Cache-Control"].startswith("private")
    assert_qr_encodes(svg.content, "svg", body["url"])
    png = alice.get("/api/v1/me/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert_qr_encodes(png.content, "png", body["url"])


def test_resolve_and_add_by_code(user, other_user):
    code = addme.add_me_code_get(user=user)
    bob = client_for(other_user)
    r = bob.get(f"/api/v1/add-me/{code}")
    assert r.status_code == 200
    assert r.json() == {
        "user": {"id": user.pk, "display_name": "Alice", "avatar_url": ""},
        "is_contact": False,
        "is_me": False,
    }
    r = bob.post("/api/v1/friend-requests", {"add_me_code": code, "message": "scanned you"})
    assert r.status_code == 201 and r.json()["to_user"]["id"] == user.pk


def test_reset_kills_the_old_code(user, other_user):
    alice, bob = client_for(user), client_for(other_user)
    old = alice.get("/api/v1/me/add-me").json()["code"]
    new = alice.post("/api/v1/me/add-me/reset").json()["code"]
    assert new != old
    r = bob.get(f"/api/v1/add-me/{old}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "add_me_code_not_found"
    assert bob.post("/api/v1/friend-requests", {"add_me_code": old}).status_code == 404
    assert bob.get(f"/api/v1/add-me/{new}").status_code == 200
    assert alice.get("/api/v1/me/add-me").json()["code"] == new


def test_blocked_scanner_sees_an_invalid_code(user, other_user):
    from accounts import friends

    code = addme.add_me_code_get(user=user)
    friends.block_create(user=user, other_id=other_user.pk)
    r = client_for(other_user).get(f"/api/v1/add-me/{code}")
    garbage = client_for(other_user).get("/api/v1/add-me/AAAAAAAAAAAAAAAAAAAAAAAA")
    assert r.status_code == garbage.status_code == 404
    assert r.json() == garbage.json()


def test_resolve_is_rate_limited(user, other_user, settings):
    settings.ADD_ME_RESOLVE_RATE = "3/m"
    bob = client_for(other_user)
    for _ in range(3):
        bob.get("/api/v1/add-me/nope")
    assert bob.get("/api/v1/add-me/nope").status_code == 429
