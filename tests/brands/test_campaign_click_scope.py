import pytest


@pytest.mark.django_db
def test_click_on_unknown_campaign_is_404_not_500(auth_client):
    resp = auth_client.post("/api/v1/brands/1/campaigns/99/click")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "campaign_not_found"
