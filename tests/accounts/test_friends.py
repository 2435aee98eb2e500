"""The friend graph: requests, contacts, blocks, and the selectors other apps rely on."""

from __future__ import annotations

import pytest

from accounts import friends, selectors
from accounts.models import Contact, FriendRequest
from tests.conftest import client_for, postgres_only

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(monkeypatch):
    """Realtime pushes as they are published (after commit)."""
    sent: list[tuple[int, dict]] = []
    from config import realtime

    def capture(ids, event, **_kw):
        sent.extend((uid, event) for uid in ids)

    monkeypatch.setattr(realtime, "publish_now", capture)
    return sent


def befriend(a, b):
    fr = friends.friend_request_send(from_user=a, to_user_id=b.pk).request
    friends.friend_request_accept(user=b, request_id=fr.pk)


def test_request_accept_makes_contacts_both_ways(user, other_user, events):
    alice, bob = client_for(user), client_for(other_user)
    r = alice.post("/api/v1/friend-requests", {"to_user_id": other_user.pk, "message": "hi, Alice"})
    assert r.status_code == 201, r.content
    req = r.json()
    assert req["status"] == "pending" and req["message"] == "hi, Alice"
    assert req["direction"] == "outgoing"
    assert events == [
        (other_user.pk, {"type": "friend_request.new", "request": events[0][1]["request"]})
    ]
    assert events[0][1]["request"]["direction"] == "incoming"
    assert "phone" not in str(events[0][1])

    incoming = bob.get("/api/v1/friend-requests").json()["results"]
    assert [i["id"] for i in incoming] == [req["id"]]
    assert incoming[0]["from_user"]["display_name"] == "Alice"
    assert (
        alice.get("/api/v1/friend-requests?direction=outgoing").json()["results"][0]["id"]
        == req["id"]
    )

    events.clear()
    r = bob.post(f"/api/v1/friend-requests/{req['id']}/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert {(uid, e["type"]) for uid, e in events} == {
        (user.pk, "friend_request.accepted"),
        (other_user.pk, "friend_request.accepted"),
    }
    assert selectors.are_contacts(user_id=user.pk, other_id=other_user.pk)
    assert selectors.are_contacts(user_id=other_user.pk, other_id=user.pk)
    assert set(selectors.contact_ids(user_id=user.pk)) == {other_user.pk}
    listed = alice.get("/api/v1/contacts").json()
    assert [c["user"]["id"] for c in listed["results"]] == [other_user.pk]
    assert listed["next"] is None
    # Accepting twice is harmless; nobody else can accept it.
    assert bob.post(f"/api/v1/friend-requests/{req['id']}/accept").status_code == 200
    assert alice.post(f"/api/v1/friend-requests/{req['id']}/accept").status_code == 404
    assert Contact.objects.count() == 2


def test_sending_twice_returns_the_first(user, other_user):
    alice = client_for(user)
    first = alice.post("/api/v1/friend-requests", {"to_user_id": other_user.pk, "message": "a"})
    again = alice.post("/api/v1/friend-requests", {"to_user_id": other_user.pk, "message": "b"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["message"] == "a"
    assert FriendRequest.objects.count() == 1


def test_crossing_requests_accept_both(user, other_user, events):
    mine = friends.friend_request_send(from_user=user, to_user_id=other_user.pk)
    assert mine.created
    r = client_for(other_user).post("/api/v1/friend-requests", {"to_user_id": user.pk})
    assert r.status_code == 200
    assert r.json()["id"] == mine.request.pk and r.json()["status"] == "accepted"
    assert selectors.are_contacts(user_id=user.pk, other_id=other_user.pk)
    assert not FriendRequest.objects.filter(status="pending").exists()
    assert "friend_request.accepted" in {e["type"] for _, e in events}


def test_already_contacts_is_a_conflict(user, other_user):
    befriend(user, other_user)
    r = client_for(user).post("/api/v1/friend-requests", {"to_user_id": other_user.pk})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_contacts"


def test_decline_and_cancel(user, other_user, make_user):
    bob = client_for(other_user)
    fr = friends.friend_request_send(from_user=user, to_user_id=other_user.pk).request
    r = bob.post(f"/api/v1/friend-requests/{fr.pk}/decline")
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert bob.post(f"/api/v1/friend-requests/{fr.pk}/accept").status_code == 409
    assert not selectors.are_contacts(user_id=user.pk, other_id=other_user.pk)
    # After a decline a new request may be sent.
    again = friends.friend_request_send(from_user=user, to_user_id=other_user.pk)
    assert again.created
    alice = client_for(user)
    assert alice.delete(f"/api/v1/friend-requests/{again.request.pk}").status_code == 204
    assert bob.get("/api/v1/friend-requests").json()["results"] == []
    assert alice.delete(f"/api/v1/friend-requests/{again.request.pk}").status_code == 404


def test_bad_targets(user, auth_client):
    assert (
        auth_client.post("/api/v1/friend-requests", {"to_user_id": user.pk}).json()["error"]["code"]
        == "cannot_add_self"
    )
    r = auth_client.post("/api/v1/friend-requests", {"to_user_id": 987654321})
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = auth_client.post("/api/v1/friend-requests", {"to_user_id": 2**70})
    assert r.status_code == 400
    r = auth_client.post("/api/v1/friend-requests", {"message": "x" * 201, "to_user_id": 5})
    assert r.status_code == 400
    assert auth_client.post("/api/v1/friend-requests", {}).status_code == 400
    assert auth_client.get("/api/v1/friend-requests?direction=sideways").status_code == 400
    assert auth_client.get("/api/v1/contacts?cursor=%%%").status_code == 400


def test_daily_quota(user, make_user, settings):
    settings.FRIEND_REQUEST_DAILY_QUOTA = 3
    alice = client_for(user)
    people = [make_user(f"p{i}") for i in range(4)]
    for p in people[:3]:
        assert alice.post("/api/v1/friend-requests", {"to_user_id": p.pk}).status_code == 201
    # Re-sending an existing request costs nothing.
    assert alice.post("/api/v1/friend-requests", {"to_user_id": people[0].pk}).status_code == 200
    r = alice.post("/api/v1/friend-requests", {"to_user_id": people[3].pk})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "friend_request_quota_exceeded"
    assert int(r["Retry-After"]) > 0


def test_remove_contact(user, other_user, events):
    befriend(user, other_user)
    events.clear()
    alice = client_for(user)
    assert alice.delete(f"/api/v1/contacts/{other_user.pk}").status_code == 204
    assert not selectors.are_contacts(user_id=other_user.pk, other_id=user.pk)
    assert Contact.objects.count() == 0
    assert sorted(
        (uid, e["user_id"]) for uid, e in events if e["type"] == "contact.removed"
    ) == sorted([(user.pk, other_user.pk), (other_user.pk, user.pk)])
    r = alice.delete(f"/api/v1/contacts/{other_user.pk}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "contact_not_found"


def test_block_hides_both_directions(user, other_user, make_user):
    befriend(user, other_user)
    alice, bob = client_for(user), client_for(other_user)
    r = alice.post("/api/v1/blocks", {"user_id": other_user.pk})
    assert r.status_code == 201 and r.json()["user"]["id"] == other_user.pk
    assert alice.post("/api/v1/blocks", {"user_id": other_user.pk}).status_code == 201  # idempotent
    assert selectors.is_blocked_between(user_id=user.pk, other_id=other_user.pk)
    assert selectors.is_blocked_between(user_id=other_user.pk, other_id=user.pk)
    assert not selectors.are_contacts(user_id=user.pk, other_id=other_user.pk)
    assert selectors.blocked_ids(user_id=other_user.pk) == {user.pk}

    # The blocked person gets exactly the answer a nonexistent account gives.
    blocked = bob.post("/api/v1/friend-requests", {"to_user_id": user.pk})
    missing = bob.post("/api/v1/friend-requests", {"to_user_id": 987654321})
    assert blocked.status_code == missing.status_code == 404
    assert blocked.json() == missing.json()
    assert alice.post("/api/v1/friend-requests", {"to_user_id": other_user.pk}).status_code == 404
    assert selectors.user_visible_to(viewer_id=other_user.pk, user_id=user.pk) is None

    assert [b["user"]["id"] for b in alice.get("/api/v1/blocks").json()["results"]] == [
        other_user.pk
    ]
    assert bob.get("/api/v1/blocks").json()["results"] == []
    assert alice.delete(f"/api/v1/blocks/{other_user.pk}").status_code == 204
    assert alice.delete(f"/api/v1/blocks/{other_user.pk}").status_code == 404
    assert not selectors.is_blocked_between(user_id=user.pk, other_id=other_user.pk)
    # Unblocking does not restore the contact.
    assert not selectors.are_contacts(user_id=user.pk, other_id=other_user.pk)
    assert bob.post("/api/v1/friend-requests", {"to_user_id": user.pk}).status_code == 201


def test_block_cancels_pending_requests(user, other_user):
    fr = friends.friend_request_send(from_user=other_user, to_user_id=user.pk).request
    friends.block_create(user=user, other_id=other_user.pk)
    fr.refresh_from_db()
    assert fr.status == "cancelled"
    assert client_for(user).post(f"/api/v1/friend-requests/{fr.pk}/accept").status_code == 409


def test_block_input(user, auth_client):
    assert auth_client.post("/api/v1/blocks", {"user_id": user.pk}).status_code == 400
    assert auth_client.post("/api/v1/blocks", {"user_id": 987654321}).status_code == 404
    assert auth_client.post("/api/v1/blocks", {"user_id": "x"}).status_code == 400


def test_contact_pagination(user, make_user):
    people = [make_user(f"c{i}") for i in range(5)]
    for p in people:
        befriend(user, p)
    alice = client_for(user)
    seen, cursor = [], None
    for _ in range(5):
        url = "/api/v1/contacts?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = alice.get(url).json()
        seen += [c["user"]["id"] for c in page["results"]]
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(p.pk for p in people)


def test_requires_login(api):
    assert api.get("/api/v1/contacts").status_code == 401
    assert api.post("/api/v1/friend-requests", {"to_user_id": 1}).status_code == 401


def test_graph_is_exported_and_erased(user, other_user, make_user):
    from accounts import privacy

    befriend(user, other_user)
    third = make_user("Carol")
    friends.block_create(user=user, other_id=third.pk)
    exported = privacy.privacy_export(user=user)["social_graph"]
    assert [c["user_id"] for c in exported["contacts"]] == [other_user.pk]
    assert exported["blocked_user_ids"] == [third.pk]
    privacy.account_erase(user=user)
    assert not selectors.are_contacts(user_id=other_user.pk, other_id=user.pk)
    assert not selectors.is_blocked_between(user_id=user.pk, other_id=third.pk)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_crossing_and_duplicate_requests_race_cleanly(make_user):
    """Real threads: for each pair, A→B twice and B→A once at the same moment. Every pair
    ends as contacts (two rows), nothing stays pending, and every answer is a request or
    409 already_contacts, never an error."""
    import threading

    from django.db import connection

    from config.errors import Conflict

    pairs = [(make_user(f"a{i}"), make_user(f"b{i}")) for i in range(15)]
    jobs = [(a, b) for a, b in pairs] * 2 + [(b, a) for a, b in pairs]
    barrier = threading.Barrier(len(jobs), timeout=60)
    errors: list[str] = []
    gate = threading.BoundedSemaphore(12)  # stay inside the connection pool

    def send(frm, to):
        try:
            barrier.wait()
            with gate:
                try:
                    friends.friend_request_send(from_user=frm, to_user_id=to.pk)
                finally:
                    connection.close()
        except Conflict as exc:
            # A send that lands after the pair became contacts: a clear 409, not an error.
            if exc.code != "already_contacts":
                errors.append(f"Conflict: {exc.code}")
        except Exception as exc:  # pragma: no cover - would be a 500
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=send, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    for a, b in pairs:
        assert selectors.are_contacts(user_id=a.pk, other_id=b.pk)
        assert Contact.objects.filter(owner__in=[a, b], other__in=[a, b]).count() == 2
    assert not FriendRequest.objects.filter(status="pending").exists()
