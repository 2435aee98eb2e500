import re

import pytest
from django.test import override_settings

from accounts import sms
from accounts.models import Device, PhoneOTP

PHONE = "+14155550123"


def last_code() -> str:
    return re.search(r"\b(\d{6})\b", sms.outbox[-1]["text"]).group(1)


def request_code(api, phone=PHONE, ip="10.0.0.1"):
    return api.post("/api/v1/auth/otp", {"phone": phone}, format="json", REMOTE_ADDR=ip)


def login(api, code, phone=PHONE, device="Pixel"):
    return api.post(
        "/api/v1/auth/token", {"phone": phone, "code": code, "device": device}, format="json"
    )


@pytest.mark.django_db
def test_first_login_creates_account_and_token_works(api):
    assert request_code(api).status_code == 202
    assert len(sms.outbox) == 1 and sms.outbox[0]["phone"] == PHONE
    resp = login(api, last_code())
    assert resp.status_code == 201
    body = resp.json()
    assert body["user"]["phone"] == PHONE and body["created"] is True
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["phone"] == PHONE


@pytest.mark.django_db
def test_code_is_stored_hashed(api):
    request_code(api)
    code = last_code()
    otp = PhoneOTP.objects.get(phone=PHONE)
    assert code not in otp.code_digest and len(otp.code_digest) == 64


@pytest.mark.django_db
def test_malformed_phone_is_a_field_error(api):
    resp = request_code(api, phone="12345")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "invalid_phone" and "phone" in err["fields"]


@pytest.mark.django_db
def test_wrong_code_says_tries_left_then_code_dies(api):
    request_code(api)
    good = last_code()
    bad = "000000" if good != "000000" else "111111"
    for left in (4, 3, 2, 1):
        resp = login(api, bad)
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "otp_invalid"
        assert resp.json()["error"]["tries_left"] == left
    resp = login(api, bad)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "otp_expired"
    # Even the right code is dead now.
    resp = login(api, good)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "otp_expired"


@pytest.mark.django_db
@override_settings(OTP_TTL_SECONDS=0)
def test_expired_code_is_refused(api):
    request_code(api)
    resp = login(api, last_code())
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "otp_expired"


@pytest.mark.django_db
def test_only_the_newest_code_counts(api, settings):
    settings.OTP_RATE_PER_PHONE = "10/m"
    request_code(api)
    first = last_code()
    request_code(api)
    second = last_code()
    if first != second:
        assert login(api, first).status_code == 422
    assert login(api, second).status_code == 201


@pytest.mark.django_db
def test_otp_flood_per_phone_is_429_with_retry_after(api):
    assert request_code(api).status_code == 202
    resp = request_code(api)
    assert resp.status_code == 429
    assert int(resp["Retry-After"]) >= 1
    assert resp.json()["error"]["code"] == "rate_limited"
    assert len(sms.outbox) == 1


@pytest.mark.django_db
def test_otp_flood_per_ip_is_429(api, settings):
    settings.OTP_RATE_PER_IP = "3/h"
    for i in range(3):
        assert request_code(api, phone=f"+1415555020{i}").status_code == 202
    assert request_code(api, phone="+14155550209").status_code == 429


@pytest.mark.django_db
def test_login_flood_per_ip_is_429(api, settings):
    settings.LOGIN_RATE_PER_IP = "2/m"
    request_code(api)
    login(api, "999999")
    login(api, "999998")
    assert login(api, "999997").status_code == 429


@pytest.mark.django_db
def test_logout_revokes_only_this_device(api):
    request_code(api)
    t1 = login(api, last_code()).json()["token"]
    PhoneOTP.objects.all().delete()
    from django.core.cache import cache

    cache.clear()
    request_code(api)
    t2 = login(api, last_code(), device="iPad").json()["token"]
    a = api.__class__()
    a.credentials(HTTP_AUTHORIZATION=f"Bearer {t1}")
    devices = a.get("/api/v1/me/devices").json()["results"]
    assert len(devices) == 2 and sum(d["current"] for d in devices) == 1
    assert a.delete("/api/v1/auth/token").status_code == 204
    assert a.get("/api/v1/me").status_code == 401
    b = api.__class__()
    b.credentials(HTTP_AUTHORIZATION=f"Bearer {t2}")
    assert b.get("/api/v1/me").status_code == 200
    assert Device.objects.filter(revoked_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_revoke_another_device_and_cannot_revoke_someone_elses(auth_client, other_user, client_of):
    other = client_of(other_user)
    other_device = other.get("/api/v1/me/devices").json()["results"][0]["id"]
    assert auth_client.delete(f"/api/v1/me/devices/{other_device}").status_code == 404
    assert other.get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_bad_token_is_401_in_error_shape(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer nope")
    resp = api.get("/api/v1/me")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "not_authenticated"
    assert api.__class__().get("/api/v1/me").status_code == 401


@pytest.mark.django_db
def test_a_deactivated_persons_token_stops_working(user, auth_client):
    assert auth_client.get("/api/v1/me").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    resp = auth_client.get("/api/v1/me")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_token_authenticates_its_own_person_and_marks_the_device_used(user, auth_client):
    import datetime as dt

    from django.utils import timezone

    Device.objects.filter(user=user).update(last_used_at=timezone.now() - dt.timedelta(hours=1))
    me = auth_client.get("/api/v1/me").json()
    assert me["id"] == user.pk and me["display_name"] == "Alice"
    used = Device.objects.get(user=user).last_used_at
    assert timezone.now() - used < dt.timedelta(minutes=1)
