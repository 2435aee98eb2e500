"""Contact discovery: opt-in only, quota of new hashes, per-IP limit, blocks respected."""

from __future__ import annotations

import hashlib

import pytest

from accounts import friends
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def h(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


def discover(client, hashes, **extra):
    return client.post(
        "/api/v1/contacts/discover", {"phone_hashes": hashes}, format="json", **extra
    )


def test_only_people_who_opted_in_are_found(user, make_user):
    shy = make_user("Shy")
    open_ = make_user("Open", discoverable_by_phone=True)
    r = discover(client_for(user), [h(shy.phone), h(open_.phone), h("+14155559999"), h(user.phone)])
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [m["user"]["id"] for m in results] == [open_.pk]
    assert results[0]["phone_hash"] == h(open_.phone)
    assert results[0]["is_contact"] is False
    assert "phone" not in results[0]["user"]


def test_opting_in_later_through_the_profile(user, make_user):
    later = make_user("Later")
    alice = client_for(user)
    assert discover(alice, [h(later.phone)]).json()["results"] == []
    client_for(later).patch("/api/v1/me", {"discoverable_by_phone": True}, format="json")
    assert [m["user"]["id"] for m in discover(alice, [h(later.phone)]).json()["results"]] == [
        later.pk
    ]


def test_blocked_either_way_is_not_found(user, make_user):
    a = make_user("A", discoverable_by_phone=True)
    b = make_user("B", discoverable_by_phone=True)
    friends.block_create(user=user, other_id=a.pk)
    friends.block_create(user=b, other_id=user.pk)
    assert discover(client_for(user), [h(a.phone), h(b.phone)]).json()["results"] == []


def test_uppercase_hashes_and_contacts_flag(user, make_user):
    friend = make_user("F", discoverable_by_phone=True)
    fr = friends.friend_request_send(from_user=user, to_user_id=friend.pk).request
    friends.friend_request_accept(user=friend, request_id=fr.pk)
    result = discover(client_for(user), [h(friend.phone).upper()]).json()["results"]
    assert result[0]["is_contact"] is True


def test_quota_counts_only_new_hashes(user, make_user, settings):
    settings.CONTACT_DISCOVERY_DAILY_NEW = 5
    target = make_user("T", discoverable_by_phone=True)
    alice = client_for(user)
    book = [h(target.phone)] + [h(f"+1415555{8000 + i}") for i in range(3)]
    assert discover(alice, book).status_code == 200  # 4 of 5 used
    # Re-syncing the same address book is free, and still answers.
    again = discover(alice, book)
    assert again.status_code == 200 and len(again.json()["results"]) == 1
    over = discover(alice, [h(f"+1415555{8100 + i}") for i in range(2)])
    assert over.status_code == 429
    err = over.json()["error"]
    assert err["code"] == "discovery_quota_exceeded" and err["remaining"] == 1
    assert over["Retry-After"]
    assert discover(alice, [h("+14155558200")]).status_code == 200  # the last one fits
    # Other accounts have their own quota.
    assert discover(client_for(make_user("other")), book).status_code == 200


def test_per_ip_rate_limit(user, settings):
    settings.CONTACT_DISCOVERY_RATE_PER_IP = "2/m"
    alice = client_for(user)
    assert discover(alice, [], REMOTE_ADDR="10.0.0.9").status_code == 200
    assert discover(alice, [], REMOTE_ADDR="10.0.0.9").status_code == 200
    r = discover(alice, [], REMOTE_ADDR="10.0.0.9")
    assert r.status_code == 429 and r.json()["error"]["code"] == "discovery_rate_limited"
    assert discover(alice, [], REMOTE_ADDR="10.0.0.10").status_code == 200


def test_bad_input(auth_client, settings):
    assert discover(auth_client, ["not-a-hash"]).status_code == 400
    assert discover(auth_client, "abc").status_code == 400
    assert auth_client.post("/api/v1/contacts/discover", {}, format="json").status_code == 400
    settings.CONTACT_DISCOVERY_MAX_BATCH = 2
    assert discover(auth_client, [h("+1"), h("+2"), h("+3")]).status_code == 400


def test_erased_people_are_not_found(user, make_user):
    from accounts import privacy

    gone = make_user("Gone", discoverable_by_phone=True)
    phone = gone.phone
    privacy.account_erase(user=gone)
    assert discover(client_for(user), [h(phone)]).json()["results"] == []
