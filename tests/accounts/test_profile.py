import pytest
from django.core.management import call_command

from accounts.api import UserSerializer
from accounts.services import PROFILE_FIELDS
from tests.conftest import client_for


@pytest.mark.django_db
def test_profile_update_and_validation(auth_client):
    resp = auth_client.patch(
        "/api/v1/me",
        {
            "display_name": "Ali",
            "region": "SG",
            "language": "zh",
            "birth_year": 1990,
            "time_zone": "Asia/Singapore",
            "gender": "female",
        },
        format="json",
    )
    assert resp.status_code == 200, resp.json()
    assert resp.json()["display_name"] == "Ali" and resp.json()["region"] == "SG"
    for bad in (
        {"birth_year": 1800},
        {"birth_year": 2025},
        {"region": "sg1"},
        {"language": "klingon"},
        {"time_zone": "Mars/Olympus"},
        {"gender": "robot"},
        {"display_name": "x" * 65},
        {"display_name": "bad\x00name"},
    ):
        resp = auth_client.patch("/api/v1/me", bad, format="json")
        assert resp.status_code == 400, bad
        assert set(bad) <= set(resp.json()["error"]["fields"]), bad
    assert auth_client.get("/api/v1/me").json()["display_name"] == "Ali"


@pytest.mark.django_db
def test_phone_cannot_be_changed_by_patch(auth_client, user):
    auth_client.patch("/api/v1/me", {"phone": "+14155550999"}, format="json")
    user.refresh_from_db()
    assert user.phone != "+14155550999"


@pytest.mark.django_db
def test_issue_token_command_prints_a_working_token(api, capsys):
    call_command("issue_token", "+14155550177")
    token = capsys.readouterr().out.strip()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/me").json()["phone"] == "+14155550177"


@pytest.mark.django_db
def test_me_shows_the_profile_fields_as_they_change(auth_client, user, other_user):
    """GET /me renders through one UserSerializer instance shared by every request: what
    it shows must be the asking person's current profile, never an earlier request's."""
    body = auth_client.get("/api/v1/me").json()
    assert set(body) == {"id", "phone", "date_joined", *PROFILE_FIELDS}
    auth_client.patch(
        "/api/v1/me",
        {"display_name": "Ali", "avatar_url": "https://x.example/a.png", "birth_year": 1990},
        format="json",
    )
    body = auth_client.get("/api/v1/me").json()
    user.refresh_from_db()
    assert body == UserSerializer(user).data  # what a fresh serializer renders
    assert body["display_name"] == "Ali" and body["birth_year"] == 1990
    assert body["date_joined"].endswith("Z")
    other = client_for(other_user).get("/api/v1/me").json()
    assert other["id"] == other_user.pk and other["display_name"] != "Ali"
