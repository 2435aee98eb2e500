"""QR / link invites: creation, preview, join and its refusals, QR images, concurrency."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
from django.db import connection
from django.utils import timezone

from accounts import friends
from chat.models import Membership, Message
from chat.models.groups import GroupPolicy
from chat.models.invites import GroupInvite
from chat.services import groups, invites
from tests.chat.conftest import of_type
from tests.chat.social import befriend
from tests.conftest import client_for, postgres_only
from tests.qrcheck import assert_qr_encodes


@pytest.fixture
def alice(make_user):
    return make_user("Alice")


@pytest.fixture
def bob(alice, make_user):
    b = make_user("Bob")
    befriend(alice, b)
    return b


@pytest.fixture
def group(alice, bob):
    return groups.group_create(creator=alice, title="Hikers", member_ids=[bob.pk])


def new_invite(client, conv_id, **body):
    r = client.post(f"/api/v1/conversations/{conv_id}/invites", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


@pytest.mark.django_db
def test_create_shows_token_once_and_stores_only_its_digest(alice, group, settings):
    settings.PLAZA_PUBLIC_URL = "https://plaza.example"
    before = timezone.now()
    inv = new_invite(client_for(alice), group.pk, max_uses=5)
    after = timezone.now()
    token = inv["token"]
    assert len(token) >= 22  # ≥ 128 bits, base64url
    assert inv["url"] == f"https://plaza.example/join/{token}"
    assert inv["qr_svg_url"].endswith(f"/api/v1/invites/{token}/qr.svg")
    assert inv["qr_png_url"].endswith(f"/api/v1/invites/{token}/qr.png")
    row = GroupInvite.objects.get(pk=inv["id"])
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(GroupInvite.objects.filter(pk=row.pk).values().first())
    # Default expiry: 7 days.
    expires = dt.datetime.fromisoformat(inv["expires_at"].replace("Z", "+00:00"))
    assert before + dt.timedelta(days=7) <= expires <= after + dt.timedelta(days=7)
    assert inv["max_uses"] == 5 and inv["use_count"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{"expires_in": 7 * 86400 + 1}, {"expires_in": 10}, {"max_uses": 0}, {"expires_in": "x"}],
)
def test_bad_invite_parameters(alice, group, body):
    r = client_for(alice).post(f"/api/v1/conversations/{group.pk}/invites", body, format="json")
    assert r.status_code == 400


@pytest.mark.django_db
def test_admins_only_setting(alice, bob, group):
    groups.group_settings_update(actor=alice, conversation_id=group.pk, invites_admins_only=True)
    r = client_for(bob).post(f"/api/v1/conversations/{group.pk}/invites", {}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "invites_admins_only"
    groups.group_role_set(actor=alice, conversation_id=group.pk, user_id=bob.pk, role="admin")
    new_invite(client_for(bob), group.pk)


@pytest.mark.django_db
def test_preview_never_lists_members(alice, group, make_user):
    inv = new_invite(client_for(alice), group.pk)
    r = client_for(make_user("Zoe")).get(f"/api/v1/invites/{inv['token']}")
    assert r.status_code == 200
    body = r.json()
    assert body["title"] == "Hikers" and body["member_count"] == 2
    assert body["inviter"] == {"id": alice.pk, "display_name": "Alice", "avatar_url": ""}
    assert body["is_member"] is False and body["conversation_id"] is None
    assert set(body) == {
        "title",
        "avatar_url",
        "member_count",
        "inviter",
        "expires_at",
        "requires_approval",
        "is_member",
        "conversation_id",
    }


@pytest.mark.django_db
def test_join_is_idempotent_and_announced(alice, group, make_user, pushed):
    inv = new_invite(client_for(alice), group.pk, max_uses=10)
    zoe = make_user("Zoe")
    api = client_for(zoe)
    r = api.post(f"/api/v1/invites/{inv['token']}/join")
    assert r.status_code == 200 and r.json()["status"] == "joined"
    assert r.json()["conversation_id"] == group.pk
    again = api.post(f"/api/v1/invites/{inv['token']}/join")
    assert again.status_code == 200 and again.json()["status"] == "already_member"
    assert GroupInvite.objects.get(pk=inv["id"]).use_count == 1
    assert GroupPolicy.objects.get(pk=group.pk).member_count == 3
    joined = of_type(pushed, "member.joined")
    assert len(joined) == 1 and zoe.pk in joined[0][0]
    history = api.get(f"/api/v1/conversations/{group.pk}/messages").json()["results"]
    assert [m["text"] for m in history] == ["Zoe joined via Alice's invite"]
    assert history[0]["kind"] == "system"


@pytest.mark.django_db
def test_distinct_refusals(alice, bob, group, make_user, settings):
    api_alice = client_for(alice)

    def join(token, who=None):
        return client_for(who or make_user()).post(f"/api/v1/invites/{token}/join")

    r = join("A" * 24)
    assert r.status_code == 404 and r.json()["error"]["code"] == "invite_not_found"

    expired = new_invite(api_alice, group.pk)
    GroupInvite.objects.filter(pk=expired["id"]).update(expires_at=timezone.now())
    r = join(expired["token"])
    assert r.status_code == 410 and r.json()["error"]["code"] == "invite_expired"

    revoked = new_invite(api_alice, group.pk)
    assert api_alice.delete(f"/api/v1/invites/{revoked['token']}").status_code == 204
    r = join(revoked["token"])
    assert r.status_code == 410 and r.json()["error"]["code"] == "invite_revoked"

    once = new_invite(api_alice, group.pk, max_uses=1)
    assert join(once["token"]).status_code == 200
    r = join(once["token"])
    assert r.status_code == 410 and r.json()["error"]["code"] == "invite_used_up"

    live = new_invite(api_alice, group.pk)
    banned = make_user("Mallory")
    assert join(live["token"], banned).status_code == 200
    groups.group_member_remove(actor=alice, conversation_id=group.pk, user_id=banned.pk, ban=True)
    r = join(live["token"], banned)
    assert r.status_code == 403 and r.json()["error"]["code"] == "banned_from_group"

    blocker = make_user("Blocked")
    friends.block_create(user=alice, other_id=blocker.pk)
    r = join(live["token"], blocker)
    garbage = join("B" * 24, blocker)
    assert r.status_code == garbage.status_code == 404 and r.json() == garbage.json()
    assert client_for(blocker).get(f"/api/v1/invites/{live['token']}").status_code == 404

    settings.CHAT_GROUP_MAX_MEMBERS = GroupPolicy.objects.get(pk=group.pk).member_count
    r = join(live["token"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "group_full"


@pytest.mark.django_db
def test_approval_pending_then_approved(alice, bob, group, make_user, pushed):
    groups.group_settings_update(actor=alice, conversation_id=group.pk, join_approval=True)
    inv = new_invite(client_for(alice), group.pk)
    zoe = make_user("Zoe")
    api = client_for(zoe)
    r = api.post(f"/api/v1/invites/{inv['token']}/join")
    assert r.status_code == 202 and r.json()["status"] == "pending_approval"
    request_id = r.json()["request_id"]
    r = api.post(f"/api/v1/invites/{inv['token']}/join")
    assert r.status_code == 409 and r.json()["error"]["code"] == "join_approval_pending"
    assert [ids for ids, _ in of_type(pushed, "group.join_requested")] == [[alice.pk]]
    assert api.get(f"/api/v1/conversations/{group.pk}").status_code == 404
    # Members cannot see or answer requests; admins can.
    assert client_for(bob).get(f"/api/v1/conversations/{group.pk}/join-requests").status_code == 403
    listed = client_for(alice).get(f"/api/v1/conversations/{group.pk}/join-requests").json()
    assert [j["user"]["id"] for j in listed["results"]] == [zoe.pk]
    r = client_for(alice).post(
        f"/api/v1/conversations/{group.pk}/join-requests/{request_id}/approve"
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert api.get(f"/api/v1/conversations/{group.pk}").status_code == 200
    assert Message.objects.filter(conversation=group, kind="system").last().text == (
        "Zoe joined, approved by Alice"
    )
    r = client_for(alice).post(
        f"/api/v1/conversations/{group.pk}/join-requests/{request_id}/reject"
    )
    assert r.status_code == 409


@pytest.mark.django_db
def test_join_attempts_are_rate_limited(alice, group, make_user, settings):
    settings.CHAT_INVITE_JOIN_RATE = "3/m"
    api = client_for(make_user("Guesser"))
    codes = [api.post(f"/api/v1/invites/guess{i:019d}/join").status_code for i in range(4)]
    assert codes == [404, 404, 404, 429]


@pytest.mark.django_db
def test_list_and_revoke_by_id(alice, bob, group):
    mine = new_invite(client_for(alice), group.pk)
    bobs = new_invite(client_for(bob), group.pk)
    listed = client_for(alice).get(f"/api/v1/conversations/{group.pk}/invites").json()["results"]
    assert {i["id"] for i in listed} == {mine["id"], bobs["id"]}
    assert "token" not in listed[0]
    own = client_for(bob).get(f"/api/v1/conversations/{group.pk}/invites").json()["results"]
    assert [i["id"] for i in own] == [bobs["id"]]
    r = client_for(bob).delete(f"/api/v1/conversations/{group.pk}/invites/{mine['id']}")
    assert r.status_code == 403
    assert (
        client_for(alice)
        .delete(f"/api/v1/conversations/{group.pk}/invites/{bobs['id']}")
        .status_code
        == 204
    )
    assert client_for(bob).get(f"/api/v1/conversations/{group.pk}/invites").json()["results"] == []


@pytest.mark.django_db
def test_qr_images_decode_to_the_url_with_cache_headers(alice, group, settings):
    settings.PLAZA_PUBLIC_URL = "https://plaza.example"
    api = client_for(alice)
    inv = new_invite(api, group.pk, expires_in=3600)
    svg = api.get(f"/api/v1/invites/{inv['token']}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert_qr_encodes(svg.content, "svg", inv["url"])
    png = api.get(f"/api/v1/invites/{inv['token']}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert_qr_encodes(png.content, "png", inv["url"])
    cache = png["Cache-Control"]
    assert cache.startswith("private, max-age=") and 3500 < int(cache.split("=")[1]) <= 3600
    assert png["Expires"] and png["ETag"]
    api.delete(f"/api/v1/invites/{inv['token']}")
    assert api.get(f"/api/v1/invites/{inv['token']}/qr.png").status_code == 200  # members still
    r = client_for(groups.people.user_get(user_id=alice.pk)).get("/api/v1/invites/nope/qr.svg")
    assert r.status_code == 404


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_500_people_join_through_one_invite_with_300_uses(make_user, monkeypatch, settings):
    """500 threads hit one invite (max_uses 300) at once: exactly 300 join, the member
    count and the use count agree, and every refusal is invite_used_up, never an error."""
    from config import realtime

    # Deliveries are not what this test is about; capture them at the transport boundary.
    monkeypatch.setattr(realtime, "publish_now", lambda *a, **k: None)
    settings.CHAT_INVITE_JOIN_RATE = "100/m"
    owner = make_user("Owner")
    conv = groups.group_create(creator=owner, title="Poster", member_ids=[])
    created = invites.invite_create(actor=owner, conversation_id=conv.pk, max_uses=300)
    people = [make_user(f"p{i}") for i in range(500)]
    barrier = threading.Barrier(len(people), timeout=60)
    # A server runs a bounded number of request threads per process (ASGI's executor),
    # each taking a pooled connection; 500 threads each holding its own connection would
    # only measure the pool timeout. So all 500 start at once and at most as many as the
    # pool holds are inside a request at a time, in whatever order the OS picks.
    pool_max = connection.settings_dict.get("OPTIONS", {}).get("pool", {}).get("max_size", 16)
    in_request = threading.BoundedSemaphore(max(2, pool_max - 2))
    outcomes: dict[int, str] = {}

    def worker(person):
        try:
            barrier.wait()
            with in_request:
                try:
                    result = invites.invite_join(user=person, token=created.token)
                finally:
                    connection.close()
            outcomes[person.pk] = result.status
        except invites.InviteUsedUp:
            outcomes[person.pk] = "used_up"
        except Exception as exc:  # anything else would be a 500
            outcomes[person.pk] = f"error: {type(exc).__name__}: {exc}"
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    values = list(outcomes.values())
    errors = [v for v in values if v.startswith("error")]
    assert not errors, errors[:3]
    assert values.count("joined") == 300 and values.count("used_up") == 200
    invite = GroupInvite.objects.get(pk=created.invite.pk)
    assert invite.use_count == 300
    active = Membership.objects.filter(conversation=conv, left_at__isnull=True).count()
    assert active == 301  # the owner and 300 joiners
    assert GroupPolicy.objects.get(pk=conv.pk).member_count == 301
    joined_lines = Message.objects.filter(conversation=conv, kind="system", text__contains="joined")
    assert joined_lines.count() == 300


@pytest.mark.django_db
def test_join_query_count_does_not_grow_with_the_group(alice, make_user, settings, pushed):
    """A join costs the same number of queries into a group of 3 as into one of 40."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    settings.CHAT_INVITE_JOIN_RATE = "1000/m"

    def join_queries(size: int) -> int:
        owner = make_user("Owner")
        conv = groups.group_create(creator=owner, title="Q", member_ids=[])
        token = invites.invite_create(actor=owner, conversation_id=conv.pk).token
        for _ in range(size - 1):
            invites.invite_join(user=make_user(), token=token)
        newcomer = make_user("New")
        with CaptureQueriesContext(conn) as ctx:
            assert invites.invite_join(user=newcomer, token=token).status == "joined"
        return len(ctx.captured_queries)

    small, big = join_queries(3), join_queries(40)
    assert small == big, (small, big)
