"""The brand audit log (issue 11): the brands services write who did what in the same
transaction as the action, the console shows it per brand with pages, operators read it
in Django admin and cannot change it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from brands import campaigns, sales, services
from brands.console.testsend import campaign_send_test
from brands.models import AuditEvent
from config.errors import DomainError
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db

ALL = {"rule": "bucket", "min": 0}


def actions(brand) -> list[str]:
    return list(
        AuditEvent.objects.filter(brand=brand).order_by("id").values_list("action", flat=True)
    )


def page_rows(response) -> list[tuple[str, str]]:
    html = response.content.decode()
    return re.findall(r'<tr class="audit-row" data-action="([a-z.]+)">(.*?)</tr>', html, re.S)


@pytest.fixture
def segment(brand, owner, followers, floor, settings):
    settings.BRANDS_QUIET_START_HOUR = settings.BRANDS_QUIET_END_HOUR = 0
    followers(12)
    return services.segment_save(brand_id=brand.pk, acting_user=owner, name="Everyone", rules=ALL)


def new_campaign(brand, user, segment, name="Spring"):
    return campaigns.campaign_create(
        brand_id=brand.pk,
        acting_user=user,
        name=name,
        kind="text",
        content={"text": "Hello"},
        segment_id=segment.pk,
        holdout_percent=0,
    )


def test_every_service_action_is_recorded_with_who_and_what(brand, owner, marketer, segment):
    """Called as the API would (services, no console view): each action leaves one entry."""
    kw = {"brand_id": brand.pk, "acting_user": marketer}
    c = new_campaign(brand, marketer, segment)
    campaigns.campaign_schedule(**kw, campaign_id=c.pk, at=timezone.now() + dt.timedelta(days=1))
    campaigns.campaign_pause(**kw, campaign_id=c.pk)
    campaigns.campaign_resume(**kw, campaign_id=c.pk)  # sends (Celery is eager here)
    draft = new_campaign(brand, marketer, segment, name="Never")
    campaigns.campaign_cancel(**kw, campaign_id=draft.pk)
    now = timezone.now()
    offer = services.offer_create(
        **kw, title="1 off", kind="amount", amount_off_minor=100, ends_at=now + dt.timedelta(days=1)
    )
    services.offer_stop(**kw, offer_id=offer.pk)
    sale = sales.sale_create(**kw, title="Mug", price_minor=900, stock=3, starts_at=now)
    sales.sale_stop(**kw, sale_id=sale.pk)
    c2 = new_campaign(brand, marketer, segment, name="Now")
    campaigns.campaign_schedule(**kw, campaign_id=c2.pk)
    services.follow_create(brand=brand, user=marketer)
    campaign_send_test(**kw, campaign=c2)
    # Editing a segment is not "created a segment".
    services.segment_save(**kw, name="Everyone!", rules=ALL, segment_id=segment.pk)

    assert actions(brand) == [
        "team.added",  # the marketer fixture, by the owner
        "segment.created",
        "campaign.scheduled",
        "campaign.paused",
        "campaign.resumed",
        "campaign.cancelled",
        "offer.created",
        "offer.stopped",
        "sale.created",
        "sale.stopped",
        "campaign.sent",
        "campaign.test",
    ]
    sent = AuditEvent.objects.get(brand=brand, action="campaign.sent")
    assert sent.actor == marketer
    assert sent.campaign == c2 and sent.segment == segment
    assert sent.detail == {"campaign": "Now", "segment": "Everyone"}
    first = AuditEvent.objects.filter(brand=brand).order_by("id").first()
    assert first.actor == owner and first.detail == {"member": marketer.phone, "role": "marketer"}
    scheduled = AuditEvent.objects.get(brand=brand, action="campaign.scheduled")
    assert scheduled.detail["at"].startswith(str((now + dt.timedelta(days=1)).date()))


def test_team_changes_are_recorded(brand, owner, make_user):
    colleague = make_user("Colleague")
    kw = {"brand_id": brand.pk, "acting_user": owner}
    services.brand_member_set(**kw, user=colleague, role="analyst")
    services.brand_member_set(**kw, user=colleague, role="analyst")  # no change, no entry
    services.brand_member_set(**kw, user=colleague, role="marketer")
    services.brand_member_remove(**kw, user=colleague)
    assert actions(brand) == ["team.added", "team.role", "team.removed"]
    role = AuditEvent.objects.get(brand=brand, action="team.role")
    assert role.detail == {"member": colleague.phone, "role": "marketer", "was": "analyst"}


def test_a_refused_action_leaves_no_entry(brand, owner, make_user, floor):
    lonely = services.segment_save(
        brand_id=brand.pk, acting_user=owner, name="Nobody yet", rules=ALL
    )
    c = new_campaign(brand, owner, lonely)
    before = actions(brand)
    with pytest.raises(DomainError):  # below the privacy floor: nothing is sent
        campaigns.campaign_schedule(brand_id=brand.pk, acting_user=owner, campaign_id=c.pk)
    with pytest.raises(DomainError):  # the last owner cannot leave
        services.brand_member_remove(brand_id=brand.pk, acting_user=owner, user=owner)
    with pytest.raises(DomainError):  # a draft cannot be paused
        campaigns.campaign_pause(brand_id=brand.pk, acting_user=owner, campaign_id=c.pk)
    assert actions(brand) == before


def test_the_audit_page_shows_who_sent_what_to_which_segment(brand, marketer, analyst, segment):
    c = new_campaign(brand, marketer, segment)
    client = signed_in(marketer)
    client.post(f"/console/b/{brand.pk}/campaigns/{c.pk}/send/", {"at": ""})
    # Analysts read the log too.
    r = signed_in(analyst).get(f"/console/b/{brand.pk}/audit/")
    assert r.status_code == 200
    rows = page_rows(r)
    assert rows[0][0] == "campaign.sent"
    assert "Marketer" in rows[0][1] and "Spring" in rows[0][1] and "Everyone" in rows[0][1]
    assert "sent a campaign" in rows[0][1]
    # The filter narrows to one kind of action.
    r = client.get(f"/console/b/{brand.pk}/audit/?what=team.")
    assert {a for a, _ in page_rows(r)} == {"team.added"}


def test_the_audit_page_is_scoped_to_the_brand_and_paginated(brand, owner, make_user):
    other = services.brand_create(name="Other Tea", owner=make_user("Other owner"))
    other_owner = other.members.get().user
    services.segment_save(
        brand_id=other.pk, acting_user=other_owner, name="Their secret segment", rules=ALL
    )
    for i in range(55):
        services.segment_save(brand_id=brand.pk, acting_user=owner, name=f"S{i}", rules=ALL)
    client = signed_in(owner)
    first = client.get(f"/console/b/{brand.pk}/audit/")
    assert len(page_rows(first)) == 50
    assert "S54" in page_rows(first)[0][1]  # newest first
    assert b"Their secret segment" not in first.content
    assert b'rel="next"' in first.content
    second = client.get(f"/console/b/{brand.pk}/audit/?page=2")
    assert len(page_rows(second)) == 5
    assert "S0" in page_rows(second)[-1][1]
    # Another brand's log is a 404, like every other page of it.
    assert client.get(f"/console/b/{other.pk}/audit/").status_code == 404


def test_operators_read_the_log_in_admin_but_cannot_change_it(brand, owner, make_user):
    services.segment_save(brand_id=brand.pk, acting_user=owner, name="Everyone", rules=ALL)
    event = AuditEvent.objects.get(brand=brand)
    op = make_user("Operator")
    op.is_staff = op.is_superuser = True
    op.save()
    client = Client()
    client.force_login(op)
    listing = client.get("/admin/brands/auditevent/")
    assert listing.status_code == 200 and b"segment.created" in listing.content
    assert client.get("/admin/brands/auditevent/add/").status_code == 403
    r = client.post(f"/admin/brands/auditevent/{event.pk}/change/", {"action": "team.removed"})
    assert r.status_code == 403
    r = client.post(f"/admin/brands/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert r.status_code == 403
    event.refresh_from_db()
    assert event.action == "segment.created"
