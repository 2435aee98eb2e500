"""Group management: contacts-only adds, roles, ownership, removal, bans, leaving with
hand-over, the cap, approval mode, and the system lines everyone sees."""

from __future__ import annotations

import pytest

from accounts import friends
from chat.models import Membership, Message
from chat.models.groups import GroupPolicy
from chat.services import groups
from tests.chat.conftest import of_type
from tests.chat.social import befriend
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    return make_user("Alice")


@pytest.fixture
def crew(alice, make_user):
    """Alice and four contacts of hers."""
    people = [make_user(n) for n in ("Bob", "Carol", "Dan", "Eve")]
    for p in people:
        befriend(alice, p)
    return people


def system_lines(conv_id: int) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=conv_id, kind="system")
        .order_by("seq")
        .values_list("text", flat=True)
    )


def roles(conv_id: int) -> dict[int, str]:
    return dict(
        Membership.objects.filter(conversation_id=conv_id, left_at__isnull=True).values_list(
            "user_id", "role"
        )
    )


def make_group(alice, people, title="Hikers"):
    return groups.group_create(creator=alice, title=title, member_ids=[p.pk for p in people])


def test_create_only_with_contacts(alice, crew, make_user):
    api = client_for(alice)
    stranger = make_user("Stranger")
    r = api.post(
        "/api/v1/conversations",
        {"kind": "group", "title": "Hikers", "member_ids": [crew[0].pk, stranger.pk]},
        format="json",
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_contact"
    assert r.json()["error"]["user_id"] == stranger.pk
    friends.block_create(user=crew[1], other_id=alice.pk)
    r = api.post(
        "/api/v1/conversations",
        {"kind": "group", "title": "Hikers", "member_ids": [crew[1].pk]},
        format="json",
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = api.post(
        "/api/v1/conversations",
        {"kind": "group", "title": "Hikers", "member_ids": [crew[0].pk, crew[2].pk]},
        format="json",
    )
    assert r.status_code == 201, r.content
    cid = r.json()["id"]
    assert roles(cid) == {alice.pk: "owner", crew[0].pk: "member", crew[2].pk: "member"}
    assert system_lines(cid) == ["Alice created the group “Hikers” with Bob, Dan"]
    assert GroupPolicy.objects.get(pk=cid).member_count == 3
    settings_ = api.get(f"/api/v1/conversations/{cid}/group-settings").json()
    assert settings_ == {
        "member_count": 3,
        "max_members": 500,
        "join_approval": False,
        "invites_admins_only": False,
    }


def test_add_members_contacts_only_with_system_line(alice, crew, make_user, pushed):
    conv = make_group(alice, crew[:1])
    bob = crew[0]
    # Bob may add his own contacts, not Alice's.
    r = client_for(bob).post(
        f"/api/v1/conversations/{conv.pk}/members", {"user_ids": [crew[1].pk]}, format="json"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_contact"
    pushed.clear()
    r = client_for(alice).post(
        f"/api/v1/conversations/{conv.pk}/members",
        {"user_ids": [crew[1].pk, crew[2].pk, bob.pk]},
        format="json",
    )
    assert r.status_code == 201 and r.json()["added"] == [crew[1].pk, crew[2].pk]
    assert system_lines(conv.pk)[-1] == "Alice added Carol, Dan"
    assert len(of_type(pushed, "member.joined")) == 2
    # Carol sees the line about her own joining (it has a seq after hers).
    history = client_for(crew[1]).get(f"/api/v1/conversations/{conv.pk}/messages").json()
    assert [m["text"] for m in history["results"]] == ["Alice added Carol, Dan"]
    assert GroupPolicy.objects.get(pk=conv.pk).member_count == 4


def test_roles_removal_and_admin_limits(alice, crew):
    bob, carol, dan, _eve = crew
    conv = make_group(alice, crew)
    api = client_for(alice)
    r = api.post(f"/api/v1/conversations/{conv.pk}/members/{bob.pk}/role", {"role": "admin"})
    assert r.status_code == 200 and r.json() == {"user_id": bob.pk, "role": "admin"}
    # Only the owner sets roles.
    r = client_for(bob).post(
        f"/api/v1/conversations/{conv.pk}/members/{carol.pk}/role", {"role": "admin"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_group_owner"
    # An admin removes a member; not the owner, not another admin.
    assert (
        client_for(bob).delete(f"/api/v1/conversations/{conv.pk}/members/{dan.pk}").status_code
        == 204
    )
    r = client_for(bob).delete(f"/api/v1/conversations/{conv.pk}/members/{alice.pk}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "cannot_remove_owner"
    api.post(f"/api/v1/conversations/{conv.pk}/members/{carol.pk}/role", {"role": "admin"})
    r = client_for(bob).delete(f"/api/v1/conversations/{conv.pk}/members/{carol.pk}")
    assert r.status_code == 403
    # A plain member cannot remove anyone (404, as chat answers).
    r = client_for(crew[3]).delete(f"/api/v1/conversations/{conv.pk}/members/{bob.pk}")
    assert r.status_code == 404
    assert "Bob removed Dan" in system_lines(conv.pk)
    assert "Alice made Bob an admin" in system_lines(conv.pk)
    assert dan.pk not in roles(conv.pk)
    assert client_for(dan).get(f"/api/v1/conversations/{conv.pk}").status_code == 404
    assert GroupPolicy.objects.get(pk=conv.pk).member_count == 4


def test_transfer_ownership(alice, crew, pushed):
    bob = crew[0]
    conv = make_group(alice, crew[:2])
    r = client_for(bob).post(f"/api/v1/conversations/{conv.pk}/owner", {"user_id": crew[1].pk})
    assert r.status_code == 403
    r = client_for(alice).post(f"/api/v1/conversations/{conv.pk}/owner", {"user_id": bob.pk})
    assert r.status_code == 204
    assert roles(conv.pk)[bob.pk] == "owner" and roles(conv.pk)[alice.pk] == "admin"
    assert system_lines(conv.pk)[-1] == "Alice made Bob the owner"
    updates = [ev for _ids, ev in of_type(pushed, "member.updated")]
    assert {(e["user_id"], e["role"]) for e in updates} == {(bob.pk, "owner"), (alice.pk, "admin")}


def test_owner_leaving_hands_over_to_oldest_admin_else_oldest_member(alice, crew):
    bob, carol, dan, _ = crew
    conv = make_group(alice, [bob, carol, dan])
    groups.group_role_set(actor=alice, conversation_id=conv.pk, user_id=dan.pk, role="admin")
    assert client_for(alice).post(f"/api/v1/conversations/{conv.pk}/leave").status_code == 204
    assert roles(conv.pk) == {bob.pk: "member", carol.pk: "member", dan.pk: "owner"}
    assert system_lines(conv.pk)[-2:] == ["Alice left", "Dan is now the owner"]
    # No admin left: the oldest member (Bob joined first) takes over.
    groups.group_leave(user=dan, conversation_id=conv.pk)
    assert roles(conv.pk) == {bob.pk: "owner", carol.pk: "member"}
    # Leaving through chat's DELETE of yourself is the same use case.
    assert (
        client_for(bob).delete(f"/api/v1/conversations/{conv.pk}/members/{bob.pk}").status_code
        == 204
    )
    assert roles(conv.pk) == {carol.pk: "owner"}
    assert GroupPolicy.objects.get(pk=conv.pk).member_count == 1


def test_rename_and_announcement_write_system_lines(alice, crew, pushed):
    conv = make_group(alice, crew[:1])
    api = client_for(alice)
    r = api.patch(f"/api/v1/conversations/{conv.pk}", {"title": "Summit"}, format="json")
    assert r.status_code == 200 and r.json()["title"] == "Summit"
    api.patch(f"/api/v1/conversations/{conv.pk}", {"announcement": "Sat 9am"}, format="json")
    assert system_lines(conv.pk)[-2:] == [
        "Alice renamed the group to “Summit”",
        "Alice updated the announcement",
    ]
    # The lines have gapless seqs and arrive as message.new like any message.
    seqs = list(
        Message.objects.filter(conversation_id=conv.pk)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == list(range(1, len(seqs) + 1))
    assert any(ev["message"]["kind"] == "system" for _ids, ev in of_type(pushed, "message.new"))
    r = client_for(crew[0]).patch(f"/api/v1/conversations/{conv.pk}", {"title": "X"}, format="json")
    assert r.status_code == 403


def test_ban_keeps_out_until_unbanned(alice, crew):
    bob, carol = crew[:2]
    conv = make_group(alice, [bob, carol])
    api = client_for(alice)
    assert (
        client_for(bob)
        .post(f"/api/v1/conversations/{conv.pk}/bans", {"user_id": carol.pk})
        .status_code
        == 403
    )
    assert (
        api.post(f"/api/v1/conversations/{conv.pk}/bans", {"user_id": carol.pk}).status_code == 204
    )
    assert carol.pk not in roles(conv.pk)
    assert [
        b["user"]["id"] for b in api.get(f"/api/v1/conversations/{conv.pk}/bans").json()["results"]
    ] == [carol.pk]
    r = api.post(
        f"/api/v1/conversations/{conv.pk}/members", {"user_ids": [carol.pk]}, format="json"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "user_banned"
    assert api.delete(f"/api/v1/conversations/{conv.pk}/bans/{carol.pk}").status_code == 204
    assert api.delete(f"/api/v1/conversations/{conv.pk}/bans/{carol.pk}").status_code == 404
    r = api.post(
        f"/api/v1/conversations/{conv.pk}/members", {"user_ids": [carol.pk]}, format="json"
    )
    assert r.status_code == 201


def test_cap_refuses_adds_beyond_max(alice, crew, settings):
    settings.CHAT_GROUP_MAX_MEMBERS = 3
    conv = make_group(alice, crew[:2])
    r = client_for(alice).post(
        f"/api/v1/conversations/{conv.pk}/members", {"user_ids": [crew[2].pk]}, format="json"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "group_full"
    assert GroupPolicy.objects.get(pk=conv.pk).member_count == 3


def test_member_counter_cannot_exceed_cap_in_the_database(alice, crew):
    from django.db import IntegrityError, transaction

    conv = make_group(alice, crew[:1])
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupPolicy.objects.filter(pk=conv.pk).update(member_count=501)


def test_approval_mode_limits_direct_adds_to_admins(alice, crew):
    bob, carol = crew[:2]
    befriend(bob, carol)
    conv = make_group(alice, [bob])
    r = client_for(bob).patch(
        f"/api/v1/conversations/{conv.pk}/group-settings", {"join_approval": True}, format="json"
    )
    assert r.status_code == 403
    r = client_for(alice).patch(
        f"/api/v1/conversations/{conv.pk}/group-settings", {"join_approval": True}, format="json"
    )
    assert r.status_code == 200 and r.json()["join_approval"] is True
    r = client_for(bob).post(
        f"/api/v1/conversations/{conv.pk}/members", {"user_ids": [carol.pk]}, format="json"
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_group_admin"
    r = client_for(alice).post(
        f"/api/v1/conversations/{conv.pk}/members", {"user_ids": [carol.pk]}, format="json"
    )
    assert r.status_code == 201


def test_mute_is_my_own_setting(alice, crew):
    conv = make_group(alice, crew[:1])
    r = client_for(crew[0]).patch(
        f"/api/v1/conversations/{conv.pk}", {"muted": True}, format="json"
    )
    assert r.status_code == 200 and r.json()["muted"] is True
    assert client_for(alice).get(f"/api/v1/conversations/{conv.pk}").json()["muted"] is False


def test_not_a_member_or_not_a_group_is_404_or_refused(alice, crew, make_user):
    conv = make_group(alice, crew[:1])
    outsider = client_for(make_user("Out"))
    for path in ("group-settings", "bans", "join-requests", "invites"):
        assert outsider.get(f"/api/v1/conversations/{conv.pk}/{path}").status_code == 404
    assert outsider.post(f"/api/v1/conversations/{conv.pk}/leave").status_code == 404
    direct = (
        client_for(alice)
        .post("/api/v1/conversations", {"kind": "direct", "user_id": crew[1].pk}, format="json")
        .json()["id"]
    )
    r = client_for(alice).post(f"/api/v1/conversations/{direct}/leave")
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_group"
