"""My sticker packs: in the order I arranged, hide/show, nobody else's."""

import pytest

from store.services.purchases import pack_claim_free
from tests.store.builders import published_pack

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_owned(creator, user):
    packs = [published_pack(creator, title=t, price=0, stickers=1) for t in ("A", "B", "C")]
    for p in packs:
        pack_claim_free(user=user, pack_id=p.pk)
    return packs


def titles(client, query=""):
    return [p["title"] for p in client.get(f"/api/v1/me/sticker-packs{query}").json()["results"]]


def test_new_packs_arrive_at_the_end_and_reorder_sticks(auth_client, three_owned, creator, user):
    assert titles(auth_client) == ["A", "B", "C"]
    a, b, c = three_owned
    r = auth_client.put("/api/v1/me/sticker-packs/order", {"pack_ids": [c.pk, a.pk]}, format="json")
    assert r.status_code == 200 and r.json()["pack_ids"] == [c.pk, a.pk, b.pk]
    assert titles(auth_client) == ["C", "A", "B"]
    d = published_pack(creator, title="D", price=0, stickers=1)
    pack_claim_free(user=user, pack_id=d.pk)
    assert titles(auth_client) == ["C", "A", "B", "D"]


def test_hide_and_show(auth_client, three_owned):
    b = three_owned[1]
    r = auth_client.patch(f"/api/v1/me/sticker-packs/{b.pk}", {"hidden": True}, format="json")
    assert r.status_code == 200 and r.json()["hidden"] is True
    assert titles(auth_client) == ["A", "C"]
    assert titles(auth_client, "?include_hidden=true") == ["A", "B", "C"]
    auth_client.patch(f"/api/v1/me/sticker-packs/{b.pk}", {"hidden": False}, format="json")
    assert titles(auth_client) == ["A", "B", "C"]


def test_listing_carries_stickers_and_pages(auth_client, three_owned):
    first = auth_client.get("/api/v1/me/sticker-packs?limit=2").json()
    assert [p["title"] for p in first["results"]] == ["A", "B"]
    assert first["results"][0]["stickers"][0]["image_url"].startswith("/media/")
    rest = auth_client.get(f"/api/v1/me/sticker-packs?limit=2&cursor={first['next']}").json()
    assert [p["title"] for p in rest["results"]] == ["C"] and rest["next"] is None


def test_other_peoples_packs_are_not_mine(three_owned, other_user, client_of):
    other = client_of(other_user)
    assert titles(other) == []
    pid = three_owned[0].pk
    assert (
        other.patch(f"/api/v1/me/sticker-packs/{pid}", {"hidden": True}, format="json").status_code
        == 404
    )
    assert (
        other.put("/api/v1/me/sticker-packs/order", {"pack_ids": [pid]}, format="json").status_code
        == 404
    )


def test_reorder_validates(auth_client, three_owned):
    pid = three_owned[0].pk
    assert (
        auth_client.put(
            "/api/v1/me/sticker-packs/order", {"pack_ids": [pid, pid]}, format="json"
        ).status_code
        == 400
    )
    assert (
        auth_client.put(
            "/api/v1/me/sticker-packs/order", {"pack_ids": "x"}, format="json"
        ).status_code
        == 400
    )


def test_needs_a_token(api):
    assert api.get("/api/v1/me/sticker-packs").status_code == 401


def test_my_packs_cost_the_same_queries_for_one_or_many(
    auth_client, three_owned, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):  # token, entitlements+packs+purchases, stickers
        assert len(auth_client.get("/api/v1/me/sticker-packs").json()["results"]) == 3


def test_popularity_recount_heals_the_counter(three_owned, make_user):
    from store.models import Pack
    from store.tasks import popularity_recount

    a = three_owned[0]
    pack_claim_free(user=make_user("Second owner"), pack_id=a.pk)
    Pack.objects.filter(pk=a.pk).update(popularity=999)  # as if increments were lost/duplicated
    assert popularity_recount.delay().get() >= 1
    assert Pack.objects.get(pk=a.pk).popularity == 2
    assert popularity_recount.delay().get() == 0  # nothing left to fix
