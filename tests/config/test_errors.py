import pytest


@pytest.mark.django_db
def test_unknown_api_route_is_json_404(api):
    resp = api.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "endpoint_not_found"


@pytest.mark.django_db
def test_wrong_method_is_json_405(auth_client):
    resp = auth_client.put("/api/v1/me", {}, format="json")
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_malformed_json_is_400(api):
    resp = api.generic("POST", "/api/v1/auth/otp", "{not json", content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_request"


@pytest.mark.django_db
def test_body_over_limit_is_413(api, settings):
    settings.PLAZA_MAX_BODY_BYTES = 100
    resp = api.generic(
        "POST",
        "/api/v1/auth/otp",
        '{"phone": "' + "1" * 200 + '"}',
        content_type="application/json",
    )
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


@pytest.mark.django_db
def test_huge_ids_are_404_not_500(auth_client):
    resp = auth_client.delete("/api/v1/me/devices/99999999999999999999")
    assert resp.status_code == 404


@pytest.mark.django_db
def test_schema_and_docs_are_served(api):
    resp = api.get("/api/schema/")
    assert resp.status_code == 200
    assert b"/api/v1/auth/otp" in resp.content
    assert api.get("/api/docs/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_each_part(client):
    resp = client.get("/healthz")
    body = resp.json()
    assert set(body["checks"]) == {"database", "broker", "channel_layer"}
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]
