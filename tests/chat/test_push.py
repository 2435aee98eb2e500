import pytest

from accounts.models import Device
from accounts.services import device_token_issue
from chat import presence
from chat.push import LogPushBackend
from chat.services.conversations import (
    conversation_get_or_create_direct,
    group_create,
    membership_settings_update,
)
from chat.services.messages import message_send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_outbox():
    LogPushBackend.sent.clear()
    yield
    LogPushBackend.sent.clear()


def phone_of(user, token="fcm-token"):
    device_token_issue(user=user)
    Device.objects.filter(user=user).update(push_token=token, platform="android")


def send(sender, conv, cid, text="ping"):
    return message_send(
        sender=sender, conversation_id=conv.pk, client_id=cid, kind="text", text=text
    )


def test_offline_member_gets_a_push_with_a_preview(user, other_user):
    phone_of(other_user)
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    m = send(user, conv, "p1", "are you there?")
    (note,) = LogPushBackend.sent
    assert note.user_id == other_user.pk and note.token == "fcm-token"
    assert note.body == "are you there?" and note.title == "Alice"
    assert note.data == {"conversation_id": conv.pk, "seq": m.seq}


def test_online_and_muted_members_get_no_push(user, other_user, make_user):
    carol = make_user("Carol")
    for u in (other_user, carol):
        phone_of(u)
    group = group_create(creator=user, title="G", member_ids=[other_user.pk, carol.pk])
    presence.connected(other_user.pk)
    membership_settings_update(user=carol, conversation_id=group.pk, muted=True)
    send(user, group, "p2")
    assert list(LogPushBackend.sent) == []
    presence.disconnected(other_user.pk)
    send(user, group, "p3", "again")
    assert [n.user_id for n in LogPushBackend.sent] == [other_user.pk]
    assert LogPushBackend.sent[0].body == "Alice: again"
