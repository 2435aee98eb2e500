import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import presence
from chat.models import ChatEvent, Conversation, Message
from chat.selectors import member_ids
from chat.services.conversations import (
    conversation_get_or_create_direct,
    group_create,
    member_add,
    member_remove,
)
from chat.services.messages import message_send, message_update_payload
from config.errors import Conflict, InvalidInput, NotFound

from .conftest import of_type

pytestmark = pytest.mark.django_db


def send(sender, conv, client_id, text="hi", **kw):
    return message_send(
        sender=sender, conversation_id=conv.pk, client_id=client_id, kind="text", text=text, **kw
    )


def test_direct_is_one_per_pair_either_way(user, other_user):
    a, created = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    b, again = conversation_get_or_create_direct(user=other_user, other_user_id=user.pk)
    assert created and not again and a.pk == b.pk
    assert Conversation.objects.filter(kind="direct").count() == 1


def test_direct_with_unknown_user_or_self_is_refused(user):
    with pytest.raises(NotFound):
        conversation_get_or_create_direct(user=user, other_user_id=999999)
    with pytest.raises(InvalidInput):
        conversation_get_or_create_direct(user=user, other_user_id=user.pk)


def test_seq_grows_by_one_and_every_member_device_hears(user, other_user, pushed):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    pushed.clear()
    m1 = send(user, conv, "c1")
    m2 = send(other_user, conv, "c2")
    assert (m1.seq, m2.seq) == (1, 2)
    new = of_type(pushed, "message.new")
    assert len(new) == 2
    ids, event = new[0]
    assert sorted(ids) == sorted([user.pk, other_user.pk])
    assert event["conversation_id"] == conv.pk
    assert event["message"]["seq"] == 1 and event["message"]["client_id"] == "c1"
    assert event["message"]["sender_id"] == user.pk and event["message"]["text"] == "hi"


def test_retry_with_same_client_id_returns_first_message(user, other_user, pushed):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    first = send(user, conv, "same")
    pushed.clear()
    again = send(user, conv, "same")
    assert again.pk == first.pk and again.seq == 1
    assert Message.objects.count() == 1 and pushed == []
    # ... and the seq counter did not move: the next message is 2, no gap.
    assert send(user, conv, "next").seq == 2


def test_same_client_id_with_other_content_is_409(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    send(user, conv, "dup", text="one")
    with pytest.raises(Conflict) as e:
        send(user, conv, "dup", text="two")
    assert e.value.code == "client_id_reused"
    # Another person may use the same client_id: it is scoped per sender.
    assert send(other_user, conv, "dup", text="two").seq == 2


def test_non_member_gets_404_and_nothing_is_stored(user, other_user, make_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    with pytest.raises(NotFound):
        send(make_user(), conv, "x")
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "kw,code",
    [
        ({"kind": "text", "text": "x" * 4097}, "text_too_long"),
        ({"kind": "text", "text": "   "}, "text_required"),
        ({"kind": "gif", "text": "x"}, "unknown_kind"),
        ({"kind": "location", "payload": {"lat": 91, "lng": 0}}, "invalid_location"),
        ({"kind": "location", "payload": {"lat": 1, "lng": "x"}}, "invalid_location"),
        ({"kind": "transfer", "payload": {}}, "invalid"),
    ],
)
def test_bad_messages_are_refused(user, other_user, kw, code):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    with pytest.raises(InvalidInput) as e:
        message_send(sender=user, conversation_id=conv.pk, client_id="b", **kw)
    assert e.value.code == code
    assert Message.objects.count() == 0


def test_location_message_keeps_coordinates(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    m = message_send(
        sender=user,
        conversation_id=conv.pk,
        client_id="loc",
        kind="location",
        payload={"lat": 51.5, "lng": -0.12, "name": "Office"},
    )
    assert m.payload == {"lat": 51.5, "lng": -0.12, "name": "Office"}


def test_sticker_the_user_does_not_own_is_refused(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    with pytest.raises(NotFound) as e:
        message_send(
            sender=user,
            conversation_id=conv.pk,
            client_id="st",
            kind="sticker",
            payload={"sticker_id": 987654},
        )
    assert e.value.code == "sticker_not_owned"


def test_system_message_without_sender_and_service_payload_update(user, make_user, pushed):
    group = group_create(creator=user, title="Team", member_ids=[make_user().pk])
    sys_msg = message_send(
        sender=None, conversation_id=group.pk, client_id=None, kind="system", text="Welcome"
    )
    assert sys_msg.seq == 1 and sys_msg.sender_id is None
    t = message_send(
        sender=user,
        conversation_id=group.pk,
        client_id="t1",
        kind="transfer",
        payload={"transfer_id": 5, "status": "pending"},
    )
    pushed.clear()
    message_update_payload(
        conversation_id=group.pk, seq=t.seq, payload={"transfer_id": 5, "status": "accepted"}
    )
    ((ids, event),) = of_type(pushed, "message.edited")
    assert event["message"]["payload"]["status"] == "accepted" and len(ids) == 2


def test_group_members_join_and_leave_events(user, other_user, make_user, pushed):
    carol = make_user("Carol")
    group = group_create(creator=user, title="Trip", member_ids=[other_user.pk])
    assert [e["user"]["id"] for _i, e in of_type(pushed, "member.joined")] == [
        user.pk,
        other_user.pk,
    ]
    pushed.clear()
    assert member_add(conversation_id=group.pk, user_ids=[carol.pk], actor=user) == [carol.pk]
    ((ids, ev),) = of_type(pushed, "member.joined")
    assert set(ids) == {user.pk, other_user.pk, carol.pk} and ev["by"] == user.pk
    m = send(other_user, group, "g1")
    assert m.seq == 1
    pushed.clear()
    member_remove(conversation_id=group.pk, user_id=carol.pk, actor=carol)
    ((ids, ev),) = of_type(pushed, "member.left")
    assert carol.pk in ids and ev["user_id"] == carol.pk
    with pytest.raises(NotFound):
        send(carol, group, "after-leaving")


def test_send_path_query_count_is_flat_in_group_size(user, make_user):
    small = group_create(creator=user, title="s", member_ids=[make_user().pk])
    big = group_create(creator=user, title="b", member_ids=[make_user().pk for _ in range(30)])
    for uid in member_ids(big.pk) + member_ids(small.pk):
        presence.connected(uid)  # everyone online: no offline push task in the count
    counts = []
    for conv in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            send(user, conv, f"q{conv.pk}")
        counts.append(len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]))
    assert counts[0] == counts[1]
    # members, lock+seq, insert message, insert event, sender's read mark (+ presence is cache)
    assert counts[0] <= 5, counts


def test_stream_events_are_gapless_per_conversation(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    for i in range(5):
        send(user, conv, f"s{i}")
    seqs = list(
        ChatEvent.objects.filter(conversation=conv)
        .order_by("event_seq")
        .values_list("event_seq", flat=True)
    )
    assert seqs == list(range(1, len(seqs) + 1))


def test_blocked_pair_cannot_start_or_continue_a_direct_chat(user, other_user, make_user):
    from accounts.friends import block_create
    from config.errors import DomainError

    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    send(user, conv, "before")
    block_create(user=other_user, other_id=user.pk)
    with pytest.raises(DomainError) as e:
        send(user, conv, "after")
    assert e.value.code == "cannot_message"
    carol = make_user()
    block_create(user=carol, other_id=user.pk)
    with pytest.raises(NotFound):
        conversation_get_or_create_direct(user=user, other_user_id=carol.pk)
