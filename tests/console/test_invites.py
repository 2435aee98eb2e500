"""Team invites (issue 11): an owner invites by phone (SMS) or email (Django's email
backend); the link lets the invitee set a password or sign in and join with the role;
invites expire, can be revoked, work once; roles are enforced afterwards."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client

from accounts import sms
from accounts.models import User
from brands.models import AuditEvent, BrandMember, Campaign, TeamInvite
from tests.conftest import new_phone
from tests.console.conftest import PASSWORD, signed_in, with_password

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum tree seventeen"
LINK = re.compile(r"https?://[^\s]+/console/invite/[A-Za-z0-9_-]+/")


def invite(client, brand, contact: str, role: str):
    return client.post(f"/console/b/{brand.pk}/team/", {"contact": contact, "role": role})


def link_path(text: str) -> str:
    return "/console/invite/" + LINK.search(text).group(0).split("/console/invite/")[1]


def test_phone_invite_new_person_sets_a_password_and_joins_as_analyst(brand, owner):
    phone = new_phone()
    r = invite(signed_in(owner), brand, phone, "analyst")
    assert r.status_code == 302
    text = sms.outbox[-1]["text"]
    assert sms.outbox[-1]["phone"] == phone and "Acme Coffee" in text and "analyst" in text
    path = link_path(text)

    guest = Client()
    page = guest.get(path)
    assert page.status_code == 200 and b"Choose a password" in page.content
    r = guest.post(path, {"new_password1": NEW_PASSWORD, "new_password2": "other"})
    assert r.status_code == 400 and b"differ" in r.content
    r = guest.post(path, {"new_password1": "123", "new_password2": "123"})
    assert r.status_code == 400 and b"too short" in r.content
    r = guest.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert r.status_code == 302 and r["Location"] == f"/console/b/{brand.pk}/"
    user = User.objects.get(phone=phone)
    assert BrandMember.objects.get(brand=brand, user=user).role == "analyst"
    assert guest.get(r["Location"]).status_code == 200  # signed in
    # The same password works at the sign-in page.
    assert Client().login(phone=phone, password=NEW_PASSWORD)
    # An analyst cannot send or invite.
    assert guest.get(f"/console/b/{brand.pk}/campaigns/new/").status_code == 403
    assert invite(guest, brand, new_phone(), "owner").status_code == 403
    # The link worked once.
    again = Client().get(path)
    assert again.status_code == 410 and b"already used" in again.content
    assert list(
        AuditEvent.objects.filter(brand=brand, action__startswith="invite.")
        .order_by("id")
        .values_list("action", "actor__phone")
    ) == [("invite.sent", owner.phone), ("invite.accepted", phone)]


def test_email_invite_confirms_the_phone_with_a_code_and_joins_as_marketer(brand, owner, floor):
    r = invite(signed_in(owner), brand, "Ana.Lima@Example.COM", "marketer")
    assert r.status_code == 302
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["Ana.Lima@example.com"]
    assert "Acme Coffee" in email.subject and "marketer" in email.body
    path = link_path(email.body)

    guest = Client()
    assert b"Send me a code" in guest.get(path).content
    r = guest.post(path, {"phone": "not a phone"})
    assert r.status_code == 400
    phone = new_phone()
    r = guest.post(path, {"phone": phone})
    assert r.status_code == 302
    code = re.search(r"\b(\d{6})\b", sms.outbox[-1]["text"]).group(1)
    assert sms.outbox[-1]["phone"] == phone
    page = guest.get(path)
    assert b"Code we sent by SMS" in page.content and b"Choose a password" in page.content
    wrong = "000000" if code != "000000" else "111111"
    r = guest.post(
        path, {"code": wrong, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert r.status_code == 400 and b"code is wrong" in r.content
    assert not User.objects.filter(phone=phone).exists()  # a wrong code creates nothing
    r = guest.post(
        path, {"code": code, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert r.status_code == 302
    user = User.objects.get(phone=phone)
    assert BrandMember.objects.get(brand=brand, user=user).role == "marketer"
    # A marketer builds and sends, but cannot manage the team.
    assert guest.get(f"/console/b/{brand.pk}/campaigns/new/").status_code == 200
    assert invite(guest, brand, "x@example.com", "analyst").status_code == 403
    r = guest.post(f"/console/b/{brand.pk}/team/{owner.pk}/remove/")
    assert r.status_code == 403


def test_someone_with_a_password_signs_in_to_accept(brand, owner, make_user):
    colleague = with_password(make_user("Colleague"))
    invite(signed_in(owner), brand, colleague.phone, "marketer")
    path = link_path(sms.outbox[-1]["text"])
    guest = Client()
    assert b"Your console password" in guest.get(path).content
    r = guest.post(path, {"password": "wrong"})
    assert r.status_code == 400 and b"not your password" in r.content
    assert not BrandMember.objects.filter(brand=brand, user=colleague).exists()
    r = guest.post(path, {"password": PASSWORD})
    assert r.status_code == 302
    assert BrandMember.objects.get(brand=brand, user=colleague).role == "marketer"


def test_revoked_expired_and_replaced_invites_stop_working(brand, owner, marketer):
    client = signed_in(owner)
    phone = new_phone()
    invite(client, brand, phone, "analyst")
    first = link_path(sms.outbox[-1]["text"])
    invite(client, brand, phone, "marketer")  # a newer invite replaces the pending one
    second = link_path(sms.outbox[-1]["text"])
    assert Client().get(first).status_code == 410
    inv = TeamInvite.objects.get(brand=brand, phone=phone, revoked_at__isnull=True)
    team = client.get(f"/console/b/{brand.pk}/team/")
    assert phone.encode() in team.content and b"Revoke" in team.content
    # Only owners revoke.
    r = signed_in(marketer).post(f"/console/b/{brand.pk}/team/invites/{inv.pk}/revoke/")
    assert r.status_code == 403
    r = client.post(f"/console/b/{brand.pk}/team/invites/{inv.pk}/revoke/", follow=True)
    assert b"revoked" in r.content
    r = Client().get(second)
    assert r.status_code == 410 and b"withdrawn" in r.content

    invite(client, brand, "late@example.com", "analyst")
    late = link_path(mail.outbox[-1].body)
    TeamInvite.objects.filter(email="late@example.com").update(
        expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    r = Client().get(late)
    assert r.status_code == 410 and b"expired" in r.content
    assert Client().get("/console/invite/not-a-token/").status_code == 404


def test_invite_form_errors_are_clear(brand, owner, marketer):
    client = signed_in(owner)
    r = invite(client, brand, "nobody@", "analyst")
    assert r.status_code == 400 and b"email address does not look right" in r.content
    r = invite(client, brand, "12", "analyst")
    assert r.status_code == 400 and b"international form" in r.content
    r = invite(client, brand, marketer.phone, "analyst")
    assert r.status_code == 400 and b"already in the team" in r.content
    r = client.post(f"/console/b/{brand.pk}/team/", {"contact": new_phone(), "role": "boss"})
    assert r.status_code == 400
    assert not TeamInvite.objects.exists()


def test_an_invite_for_another_brand_does_not_leak(brand, owner, make_user):
    from brands import services

    other = services.brand_create(name="Other Tea", owner=make_user("Other owner"))
    invite(signed_in(owner), brand, new_phone(), "analyst")
    inv = TeamInvite.objects.get(brand=brand)
    rival = signed_in(other.members.get().user)
    r = rival.post(f"/console/b/{other.pk}/team/invites/{inv.pk}/revoke/")
    assert r.status_code == 404
    inv.refresh_from_db()
    assert inv.revoked_at is None
    assert Campaign.objects.count() == 0
