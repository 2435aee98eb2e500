import pytest

from brands import selectors, services
from brands.models import BrandMember, Follow
from config.errors import Conflict, NotFound


@pytest.mark.django_db
def test_search_and_detail(client_of, user, brand, owner):
    services.brand_create(name="Zed Shoes", owner=owner)
    c = client_of(user)
    body = c.get("/api/v1/brands?q=acme").json()
    assert [b["name"] for b in body["results"]] == ["Acme Coffee"]
    assert body["results"][0]["verified"] is True and body["results"][0]["following"] is False
    assert len(c.get("/api/v1/brands").json()["results"]) == 2
    page = c.get("/api/v1/brands?limit=1").json()
    assert len(page["results"]) == 1 and page["next"]
    page2 = c.get(f"/api/v1/brands?limit=1&cursor={page['next']}").json()
    assert page2["results"][0]["id"] != page["results"][0]["id"]
    assert c.get(f"/api/v1/brands/{brand.pk}").json()["name"] == "Acme Coffee"
    assert c.get("/api/v1/brands/999999").status_code == 404


@pytest.mark.django_db
def test_follow_consent_unfollow(client_of, user, brand):
    c = client_of(user)
    r = c.post(f"/api/v1/brands/{brand.pk}/follow", {}, format="json")
    assert r.status_code == 201
    assert r.json()["following"] is True and r.json()["marketing_opt_in"] is False
    assert c.post(f"/api/v1/brands/{brand.pk}/follow", {}, format="json").status_code == 200
    r = c.patch(f"/api/v1/brands/{brand.pk}/follow", {"marketing_opt_in": True}, format="json")
    assert r.status_code == 200 and r.json()["marketing_opt_in"] is True
    # Withdrawal is one call.
    r = c.patch(f"/api/v1/brands/{brand.pk}/follow", {"marketing_opt_in": False}, format="json")
    assert r.json()["marketing_opt_in"] is False
    assert (
        c.patch(
            f"/api/v1/brands/{brand.pk}/follow", {"marketing_opt_in": "x"}, format="json"
        ).status_code
        == 400
    )
    assert c.delete(f"/api/v1/brands/{brand.pk}/follow").status_code == 204
    assert not Follow.objects.filter(brand=brand, user=user).exists()
    r = c.patch(f"/api/v1/brands/{brand.pk}/follow", {"marketing_opt_in": True}, format="json")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_following"


@pytest.mark.django_db
def test_block_unfollows_and_prevents_follow(client_of, user, brand):
    c = client_of(user)
    c.post(f"/api/v1/brands/{brand.pk}/follow", {"marketing_opt_in": True}, format="json")
    assert c.post(f"/api/v1/brands/{brand.pk}/block").status_code == 204
    assert not Follow.objects.filter(brand=brand, user=user).exists()
    r = c.post(f"/api/v1/brands/{brand.pk}/follow", {}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "brand_blocked"
    assert c.delete(f"/api/v1/brands/{brand.pk}/block").status_code == 204
    assert c.post(f"/api/v1/brands/{brand.pk}/follow", {}, format="json").status_code == 201


@pytest.mark.django_db
def test_team_roles(brand, owner, make_user):
    marketer, analyst, stranger = make_user(), make_user(), make_user()
    services.brand_member_set(brand_id=brand.pk, acting_user=owner, user=marketer, role="marketer")
    services.brand_member_set(brand_id=brand.pk, acting_user=owner, user=analyst, role="analyst")
    assert selectors.member_role(brand_id=brand.pk, user=analyst) == "analyst"
    # A marketer cannot manage the team; an analyst cannot market; a stranger sees 404.
    with pytest.raises(selectors.Forbidden):
        services.brand_member_set(
            brand_id=brand.pk, acting_user=marketer, user=stranger, role="owner"
        )
    with pytest.raises(selectors.Forbidden):
        services.segment_save(brand_id=brand.pk, acting_user=analyst, name="x", rules={})
    with pytest.raises(NotFound):
        selectors.brand_for_member(brand_id=brand.pk, user=stranger)
    services.segment_save(brand_id=brand.pk, acting_user=marketer, name="all", rules={})
    # The last owner cannot leave or be demoted.
    with pytest.raises(Conflict):
        services.brand_member_remove(brand_id=brand.pk, acting_user=owner, user=owner)
    with pytest.raises(Conflict):
        services.brand_member_set(brand_id=brand.pk, acting_user=owner, user=owner, role="analyst")
    services.brand_member_remove(brand_id=brand.pk, acting_user=owner, user=analyst)
    assert not BrandMember.objects.filter(brand=brand, user=analyst).exists()
    assert list(selectors.brands_of_member(user=marketer)) == [brand]
