import pytest

from chat.services.conversations import group_create
from tests.chat.social import befriend

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(other_user, client_of):
    return client_of(other_user)


def start_direct(client, other):
    r = client.post("/api/v1/conversations", {"kind": "direct", "user_id": other.pk}, format="json")
    assert r.status_code in (200, 201), r.content
    return r.json()["id"]


def test_direct_get_or_create_over_rest(auth_client, other_user, bob, user):
    r = auth_client.post(
        "/api/v1/conversations", {"kind": "direct", "user_id": other_user.pk}, format="json"
    )
    assert r.status_code == 201 and r.json()["peer"]["id"] == other_user.pk
    r2 = bob.post("/api/v1/conversations", {"kind": "direct", "user_id": user.pk}, format="json")
    assert r2.status_code == 200 and r2.json()["id"] == r.json()["id"]


def test_send_history_list_unread_and_read(auth_client, bob, other_user):
    cid = start_direct(auth_client, other_user)
    for i in range(3):
        r = auth_client.post(
            f"/api/v1/conversations/{cid}/messages",
            {"client_id": f"m{i}", "kind": "text", "text": f"hello {i}"},
            format="json",
        )
        assert r.status_code == 201 and r.json()["seq"] == i + 1
    page = bob.get(f"/api/v1/conversations/{cid}/messages?limit=2").json()
    assert [m["seq"] for m in page["results"]] == [3, 2] and page["next"] == "2"
    older = bob.get(f"/api/v1/conversations/{cid}/messages?before_seq=2").json()
    assert [m["seq"] for m in older["results"]] == [1] and older["next"] is None
    convs = bob.get("/api/v1/conversations").json()["results"]
    assert convs[0]["unread_count"] == 3 and convs[0]["last_message"]["text"] == "hello 2"
    assert auth_client.get("/api/v1/conversations").json()["results"][0]["unread_count"] == 0
    r = bob.post(f"/api/v1/conversations/{cid}/read", {"seq": 2}, format="json")
    assert r.json() == {"conversation_id": cid, "seq": 2}
    assert bob.get("/api/v1/conversations").json()["results"][0]["unread_count"] == 1


def test_not_a_member_is_404_everywhere(auth_client, other_user, client_of, make_user):
    cid = start_direct(auth_client, other_user)
    eve = client_of(make_user("Eve"))
    assert eve.get(f"/api/v1/conversations/{cid}").status_code == 404
    assert eve.get(f"/api/v1/conversations/{cid}/messages").status_code == 404
    r = eve.post(
        f"/api/v1/conversations/{cid}/messages",
        {"client_id": "x", "kind": "text", "text": "hi"},
        format="json",
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "conversation_not_found"
    assert eve.get("/api/v1/conversations/99999999999/messages").status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "text", "text": "no client id"}, "client_id"),
        ({"client_id": "a", "kind": "transfer", "payload": {"transfer_id": 1}}, "kind"),
        ({"client_id": "a", "kind": "system", "text": "fake"}, "kind"),
        ({"client_id": "a", "kind": "nope", "text": "x"}, "kind"),
        ({"client_id": "a", "kind": "text", "text": "x" * 4097}, "text"),
    ],
)
def test_bad_sends_are_400_and_nothing_stored(auth_client, other_user, body, field):
    cid = start_direct(auth_client, other_user)
    r = auth_client.post(f"/api/v1/conversations/{cid}/messages", body, format="json")
    assert r.status_code == 400 and field in r.json()["error"]["fields"]
    assert auth_client.get(f"/api/v1/conversations/{cid}/messages").json()["results"] == []


def test_idempotent_send_over_rest(auth_client, other_user):
    cid = start_direct(auth_client, other_user)
    body = {"client_id": "once", "kind": "text", "text": "hi"}
    a = auth_client.post(f"/api/v1/conversations/{cid}/messages", body, format="json").json()
    b = auth_client.post(f"/api/v1/conversations/{cid}/messages", body, format="json").json()
    assert a["id"] == b["id"]
    body["text"] = "changed"
    r = auth_client.post(f"/api/v1/conversations/{cid}/messages", body, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "client_id_reused"


def test_edit_recall_and_delete_for_me(auth_client, bob, other_user):
    cid = start_direct(auth_client, other_user)
    url = f"/api/v1/conversations/{cid}/messages"
    auth_client.post(url, {"client_id": "e", "kind": "text", "text": "typo"}, format="json")
    r = auth_client.patch(f"{url}/1", {"text": "fixed"}, format="json")
    assert r.status_code == 200 and r.json()["text"] == "fixed" and r.json()["edited_at"]
    assert bob.patch(f"{url}/1", {"text": "hijack"}, format="json").status_code == 403
    r = bob.delete(f"{url}/1")
    assert r.status_code == 403
    r = auth_client.delete(f"{url}/1")
    assert r.status_code == 200 and r.json()["recalled_at"] and r.json()["text"] == ""
    auth_client.post(url, {"client_id": "f", "kind": "text", "text": "keep"}, format="json")
    assert bob.delete(f"{url}/2?for=me").status_code == 204
    assert [m["seq"] for m in bob.get(url).json()["results"]] == [1]
    assert [m["seq"] for m in auth_client.get(url).json()["results"]] == [2, 1]


def test_group_create_members_and_settings(auth_client, user, other_user, bob, make_user):
    carol = make_user("Carol")
    # Only contacts can be added directly (group management, tests/chat/test_groups.py).
    befriend(user, other_user)
    befriend(other_user, carol)
    r = auth_client.post(
        "/api/v1/conversations",
        {"kind": "group", "title": "Hikers", "member_ids": [other_user.pk]},
        format="json",
    )
    assert r.status_code == 201 and r.json()["role"] == "owner"
    cid = r.json()["id"]
    r = bob.post(f"/api/v1/conversations/{cid}/members", {"user_ids": [carol.pk]}, format="json")
    assert r.status_code == 201 and r.json()["added"] == [carol.pk]
    members = auth_client.get(f"/api/v1/conversations/{cid}/members").json()["results"]
    assert [m["user"]["id"] for m in members] == [user.pk, other_user.pk, carol.pk]
    assert "phone" not in members[0]["user"]
    r = auth_client.patch(
        f"/api/v1/conversations/{cid}", {"announcement": "Sat 9am", "muted": True}, format="json"
    )
    assert r.json()["announcement"] == "Sat 9am" and r.json()["muted"] is True
    assert (
        bob.patch(f"/api/v1/conversations/{cid}", {"title": "X"}, format="json").status_code == 403
    )
    assert bob.delete(f"/api/v1/conversations/{cid}/members/{carol.pk}").status_code == 404
    assert auth_client.delete(f"/api/v1/conversations/{cid}/members/{carol.pk}").status_code == 204
    assert bob.delete(f"/api/v1/conversations/{cid}/members/{other_user.pk}").status_code == 204
    assert bob.get(f"/api/v1/conversations/{cid}").status_code == 404


def test_group_too_big_is_refused(auth_client, settings, make_user):
    settings.CHAT_GROUP_MAX_MEMBERS = 3
    ids = [make_user().pk for _ in range(3)]
    r = auth_client.post(
        "/api/v1/conversations", {"kind": "group", "title": "Big", "member_ids": ids}, format="json"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "group_full"


def test_rest_send_rate_limited(auth_client, other_user, settings):
    settings.CHAT_SEND_RATE_BURST = 3
    cid = start_direct(auth_client, other_user)
    codes = [
        auth_client.post(
            f"/api/v1/conversations/{cid}/messages",
            {"client_id": f"r{i}", "kind": "text", "text": "x"},
            format="json",
        ).status_code
        for i in range(10)
    ]
    # Ten sends span at most two one-second windows of three: some must be refused.
    assert codes.count(201) >= 3 and 429 in codes


def test_group_create_service_makes_creator_owner(user, other_user):
    conv = group_create(creator=user, title="T", member_ids=[other_user.pk])
    assert conv.kind == "group"
