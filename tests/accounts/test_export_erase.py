"""GET /api/v1/me/export and DELETE /api/v1/me (docs/PRIVACY.md)."""

from __future__ import annotations

import json

import pytest

from accounts import privacy
from accounts.models import Device, PhoneOTP, User
from accounts.services import otp_request
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def extra_holder():
    """Register a holder for one test and put the registry back afterwards."""
    saved = dict(privacy._holders)
    yield privacy.register
    privacy._holders.clear()
    privacy._holders.update(saved)


def _export(client) -> dict:
    response = client.get("/api/v1/me/export")
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


def test_export_holds_profile_and_devices_but_never_token_digests(make_user):
    alice = make_user("Alice", bio="hi there", region="CN")
    client = client_for(alice)
    client_for(alice)  # a second device
    data = _export(client)
    assert data["format_version"] == 1
    assert data["profile"]["phone"] == alice.phone
    assert data["profile"]["display_name"] == "Alice"
    assert data["profile"]["bio"] == "hi there"
    assert len(data["devices"]) == 2
    raw = json.dumps(data)
    for digest in Device.objects.filter(user=alice).values_list("token_digest", flat=True):
        assert digest not in raw


def test_export_includes_every_registered_section(make_user, extra_holder):
    alice = make_user("Alice")
    extra_holder("wallet", export=lambda user: {"statement": [{"amount": 100, "of": user.pk}]})
    data = _export(client_for(alice))
    assert data["wallet"] == {"statement": [{"amount": 100, "of": alice.pk}]}


def test_export_needs_a_token(api):
    response = api.get("/api/v1/me/export")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_export_is_rate_limited(make_user, settings):
    settings.PRIVACY_EXPORT_RATE = "2/h"
    client = client_for(make_user("Alice"))
    assert client.get("/api/v1/me/export").status_code == 200
    assert client.get("/api/v1/me/export").status_code == 200
    response = client.get("/api/v1/me/export")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_erase_leaves_a_tombstone_and_kills_every_token(make_user, other_user):
    alice = make_user("Alice", bio="my bio", birth_year=1990, region="FR")
    phone = alice.phone
    otp_request(phone=phone, client_ip="127.0.0.1")
    client = client_for(alice)
    second = client_for(alice)
    bob_client = client_for(other_user)

    response = client.delete("/api/v1/me")
    assert response.status_code == 204

    tomb = User.objects.get(pk=alice.pk)
    assert tomb.phone is None
    assert tomb.display_name == "" and tomb.bio == "" and tomb.birth_year is None
    assert tomb.region == ""
    assert tomb.is_active is False
    assert tomb.erased_at is not None
    assert not tomb.has_usable_password()
    assert not Device.objects.filter(user=alice).exists()
    assert not PhoneOTP.objects.filter(phone=phone).exists()
    # Every device of the person is logged out, not only the one that asked.
    assert client.get("/api/v1/me").status_code == 401
    assert second.get("/api/v1/me").status_code == 401
    # Nobody else is touched.
    assert bob_client.get("/api/v1/me").status_code == 200


def test_erased_phone_can_sign_up_again_as_a_new_person(make_user):
    from accounts.services import user_get_or_create_by_phone

    alice = make_user("Alice")
    phone = alice.phone
    client_for(alice).delete("/api/v1/me")
    again, created = user_get_or_create_by_phone(phone=phone)
    assert created is True
    assert again.pk != alice.pk
    assert again.display_name == ""


def test_erase_runs_every_registered_eraser_before_the_profile(make_user, extra_holder):
    alice = make_user("Alice")
    seen = []
    extra_holder("contacts", erase=lambda user: seen.append((user.pk, user.phone)))
    phone = alice.phone
    assert client_for(alice).delete("/api/v1/me").status_code == 204
    # Other apps erase while the person's row still has its phone (they may need it).
    assert seen == [(alice.pk, phone)]


def test_a_failing_eraser_erases_nothing(make_user, extra_holder):
    alice = make_user("Alice")
    client = client_for(alice)

    def broken(user):
        Device.objects.filter(user=user).delete()
        raise RuntimeError("storage down")

    extra_holder("wallet", erase=broken, order=50)
    with pytest.raises(RuntimeError):
        privacy.account_erase(user=alice)
    alice.refresh_from_db()
    assert alice.erased_at is None and alice.is_active and alice.phone
    # The device the broken eraser deleted is back: the whole erase rolled back.
    assert client.get("/api/v1/me").status_code == 200


def test_erasing_twice_is_harmless(make_user):
    alice = make_user("Alice")
    privacy.account_erase(user=alice)
    first = User.objects.get(pk=alice.pk).erased_at
    privacy.account_erase(user=alice)
    assert User.objects.get(pk=alice.pk).erased_at == first


def test_export_and_erase_cover_chat(make_user):
    from chat.models import Membership, Message
    from tests.chat.history_helpers import direct, group, say

    alice, bob = make_user("Alice"), make_user("Bob")
    conv = direct(alice, bob)
    team = group(bob, alice)
    mine = say(alice, conv, "my private words")
    theirs = say(bob, conv, "bob's words")
    say(alice, team, "group words")
    client = client_for(alice)
    data = _export(client)
    sent = {(m["conversation_id"], m["seq"]): m["text"] for m in data["chat"]["messages_sent"]}
    assert sent[(conv.pk, mine.seq)] == "my private words"
    assert (conv.pk, theirs.seq) not in sent
    assert {c["id"] for c in data["chat"]["conversations"]} == {conv.pk, team.pk}

    assert client.delete("/api/v1/me").status_code == 204
    assert not Message.objects.filter(sender=alice).exclude(text="").exists()
    assert Message.objects.get(pk=mine.pk).payload == {"erased": True}
    # Everyone else's history keeps its messages and its numbering.
    assert Message.objects.get(pk=theirs.pk).text == "bob's words"
    assert not Membership.objects.filter(user=alice, left_at__isnull=True).exists()
    bob_client = client_for(bob)
    r = bob_client.get("/api/v1/search/messages", {"q": "private"})
    assert r.json()["results"] == []
