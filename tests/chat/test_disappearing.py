"""Disappearing messages: the setting, its announcement, and the purge job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from chat.models import DisappearingPeriod, Message, Upload
from chat.services.conversations import member_add
from chat.services.disappearing import DAY, disappearing_purge
from tests.conftest import client_for

from .history_helpers import direct, group, say

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    return make_user("Alice")


@pytest.fixture
def bob(make_user):
    return make_user("Bob")


def set_timer(client, conv, ttl):
    return client.put(
        f"/api/v1/conversations/{conv.pk}/disappearing", {"ttl_seconds": ttl}, format="json"
    )


def age(message, seconds):
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=seconds)
    )


def history(client, conv):
    r = client.get(f"/api/v1/conversations/{conv.pk}/messages?limit=200")
    assert r.status_code == 200
    return {m["seq"]: m for m in r.json()["results"]}


def test_either_person_in_a_direct_chat_sets_it_and_it_is_announced(alice, bob):
    conv = direct(alice, bob)
    r = set_timer(client_for(bob), conv, DAY)
    assert r.status_code == 200, r.content
    assert r.json()["ttl_seconds"] == DAY and r.json()["set_by"] == bob.pk
    got = client_for(alice).get(f"/api/v1/conversations/{conv.pk}/disappearing").json()
    assert got["ttl_seconds"] == DAY
    last = Message.objects.filter(conversation=conv).order_by("-seq").first()
    assert last.kind == "system"
    assert last.payload == {"event": "disappearing.set", "ttl_seconds": DAY, "by": bob.pk}
    assert "24 hours" in last.text
    # Setting the same value again announces nothing.
    set_timer(client_for(alice), conv, DAY)
    assert Message.objects.filter(conversation=conv).count() == 1


def test_in_a_group_only_admins_may_set_it(alice, bob):
    team = group(alice, bob)
    r = set_timer(client_for(bob), team, 7 * DAY)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_group_admin"
    assert set_timer(client_for(alice), team, 7 * DAY).status_code == 200


@pytest.mark.parametrize("ttl", [1, 3600, -1, "24h", None])
def test_only_the_four_durations(alice, bob, ttl):
    conv = direct(alice, bob)
    r = set_timer(client_for(alice), conv, ttl)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"


def test_not_a_member_gets_404(alice, bob, make_user):
    conv = direct(alice, bob)
    stranger = client_for(make_user("Eve"))
    assert set_timer(stranger, conv, DAY).status_code == 404
    assert stranger.get(f"/api/v1/conversations/{conv.pk}/disappearing").status_code == 404


def test_purge_clears_expired_messages_and_only_those(alice, bob):
    conv = direct(alice, bob)
    before = say(alice, conv, "sent before the timer: stays")
    set_timer(client_for(alice), conv, DAY)
    old = say(bob, conv, "old secret")
    fresh = say(alice, conv, "fresh secret")
    age(before, 2 * DAY)
    age(old, DAY + 60)
    assert disappearing_purge() == 1
    rows = history(client_for(alice), conv)
    assert rows[before.seq]["text"] == "sent before the timer: stays"
    assert rows[old.seq]["text"] == "" and rows[old.seq]["payload"] == {"expired": True}
    assert rows[fresh.seq]["text"] == "fresh secret"
    # Gone from search too.
    r = client_for(alice).get("/api/v1/search/messages", {"q": "secret"})
    assert [h["seq"] for h in r.json()["results"]] == [fresh.seq]
    # Idempotent: a second run finds nothing more.
    assert disappearing_purge() == 0


def test_each_message_keeps_the_timer_it_was_sent_under(alice, bob):
    conv = direct(alice, bob)
    set_timer(client_for(alice), conv, DAY)
    under_day = say(alice, conv, "one day")
    set_timer(client_for(alice), conv, 90 * DAY)
    under_ninety = say(alice, conv, "ninety days")
    set_timer(client_for(alice), conv, 0)
    after_off = say(alice, conv, "forever")
    for m in (under_day, under_ninety, after_off):
        age(m, 2 * DAY)
    assert disappearing_purge() == 1
    rows = history(client_for(bob), conv)
    assert rows[under_day.seq]["text"] == ""
    assert rows[under_ninety.seq]["text"] == "ninety days"
    assert rows[after_off.seq]["text"] == "forever"


def test_purge_is_batched_and_resumable(alice, bob):
    conv = direct(alice, bob)
    set_timer(client_for(alice), conv, DAY)
    sent = [say(alice, conv, f"m{i}") for i in range(7)]
    Message.objects.filter(pk__in=[m.pk for m in sent]).update(
        created_at=timezone.now() - dt.timedelta(days=2)
    )
    assert disappearing_purge(batch_size=3) == 7
    assert not Message.objects.filter(pk__in=[m.pk for m in sent]).exclude(text="").exists()
    period = DisappearingPeriod.objects.get(conversation=conv)
    assert period.purged_through_seq == sent[-1].seq


def test_purge_deletes_attachments_from_the_database_and_storage(alice, bob):
    from django.core.files.base import ContentFile

    conv = direct(alice, bob)
    set_timer(client_for(alice), conv, DAY)
    upload = Upload(
        owner=alice,
        token="tok" + "x" * 20,
        kind="file",
        name="notes.txt",
        content_type="text/plain",
        size=5,
        extension=".txt",
    )
    upload.file.save("notes.txt", ContentFile(b"hello"), save=False)
    upload.save()
    path = upload.file.name
    assert default_storage.exists(path)
    m = say(alice, conv, "", kind="file", payload={"upload_id": upload.token})
    age(m, DAY + 1)
    assert disappearing_purge() == 1
    assert not Upload.objects.filter(pk=upload.pk).exists()
    assert not default_storage.exists(path)
    assert Message.objects.get(pk=m.pk).payload == {"expired": True}


def test_a_group_member_who_joins_later_sees_the_setting(alice, bob, make_user):
    team = group(alice, bob)
    set_timer(client_for(alice), team, 7 * DAY)
    carol = make_user("Carol")
    member_add(conversation_id=team.pk, user_ids=[carol.pk], actor=alice)
    got = client_for(carol).get(f"/api/v1/conversations/{team.pk}/disappearing").json()
    assert got["ttl_seconds"] == 7 * DAY
