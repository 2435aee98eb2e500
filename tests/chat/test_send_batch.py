"""Group commit (chat.services.send_batch): many sends in one statement keep every promise
of the one-message path — gapless seqs in arrival order, one stream event each, the
sender's read mark, idempotent client_ids, 404/blocked answered one by one."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Block
from accounts.services import device_token_issue
from chat import presence
from chat.models import ChatEvent, Conversation, Membership, Message
from chat.services.conversations import conversation_get_or_create_direct, group_create
from chat.services.messages import message_send
from chat.services.send_batch import Outgoing, send_many
from config.asgi import application
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def out(sender, conv, client_id, text="hi", **kw):
    return Outgoing(
        sender_id=sender.pk,
        conversation_id=conv.pk,
        client_id=client_id,
        kind=kw.pop("kind", "text"),
        text=text,
        payload=kw.pop("payload", {}),
        mentions=kw.pop("mentions", []),
    )


def test_one_batch_over_two_conversations_is_gapless_in_arrival_order(user, other_user, make_user):
    third = make_user()
    d, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    g = group_create(creator=user, title="g", member_ids=[other_user.pk, third.pk])
    message_send(sender=user, conversation_id=g.pk, client_id="before", kind="text", text="0")
    items = [
        out(user, d, "d1", "one"),
        out(third, g, "g1", "a"),
        out(other_user, d, "d2", "two"),
        out(user, g, "g2", "b", mentions=[third.pk]),
        out(user, d, "d3", "three"),
        out(other_user, g, "g3", "c", kind="location", payload={"lat": 1.5, "lng": 2.0}),
    ]
    for u in (user, other_user, third, third):
        presence.connected(u.pk)  # online: no offline-push task in the count below
    with CaptureQueriesContext(connection) as q:
        send_many(items)
    assert len(q.captured_queries) == 2  # members, then one write statement
    assert all(i.message is not None and i.error is None for i in items)
    assert [i.message.seq for i in items] == [1, 2, 2, 3, 3, 4]
    d_msgs = list(Message.objects.filter(conversation=d).order_by("seq"))
    assert [(m.seq, m.text, m.client_id) for m in d_msgs] == [
        (1, "one", "d1"),
        (2, "two", "d2"),
        (3, "three", "d3"),
    ]
    assert [m.pk for m in d_msgs] == [items[0].message.pk, items[2].message.pk, items[4].message.pk]
    g_last = Message.objects.get(conversation=g, seq=4)
    assert g_last.kind == "location" and g_last.payload == {"lat": 1.5, "lng": 2.0}
    assert Message.objects.get(conversation=g, seq=3).mentions == [third.pk]
    # One message.new per message, event_seq gapless after the earlier events.
    for conv in (d, g):
        c = Conversation.objects.get(pk=conv.pk)
        events = list(ChatEvent.objects.filter(conversation=conv).order_by("event_seq"))
        assert [e.event_seq for e in events] == list(range(1, c.last_event_seq + 1))
        news = [e for e in events if e.type == "message.new"]
        assert [e.message.seq for e in news] == list(range(1, c.last_seq + 1))
    assert Conversation.objects.get(pk=d.pk).last_seq == 3
    # Each sender's read mark sits at their last message.
    assert Membership.objects.get(conversation=d, user=user).last_read_seq == 3
    assert Membership.objects.get(conversation=d, user=other_user).last_read_seq == 2
    assert Membership.objects.get(conversation=g, user=other_user).last_delivered_seq == 4
    # The frames and fan-out lists are what the one-message path pushes.
    assert items[0].frame["type"] == "message.new"
    assert items[0].frame["message"]["text"] == "one"
    assert items[0].frame["message"]["client_id"] == "d1"
    # Third has two devices online: the other one gets the copy (the sender socket is
    # skipped when published). User's only socket is the sending one: no copy to publish.
    assert sorted(items[1].recipients) == sorted([user.pk, other_user.pk, third.pk])
    assert items[0].recipients == [other_user.pk]


def test_not_a_member_and_blocked_are_left_for_the_one_message_path(user, other_user, make_user):
    stranger, blocker = make_user(), make_user()
    d, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    b, _ = conversation_get_or_create_direct(user=user, other_user_id=blocker.pk)
    Block.objects.create(blocker=blocker, blocked=user)
    items = [out(user, d, "ok"), out(stranger, d, "no"), out(user, b, "blocked")]
    send_many(items)
    assert items[0].message.seq == 1
    for item in items[1:]:
        assert item.message is None and item.error is None
    assert Message.objects.count() == 1
    assert Conversation.objects.get(pk=b.pk).last_seq == 0


def test_a_retried_client_id_rolls_the_batch_back_for_one_by_one(user, other_user):
    d, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    first = message_send(sender=user, conversation_id=d.pk, client_id="x", kind="text", text="hi")
    items = [out(other_user, d, "y"), out(user, d, "x", "hi")]
    send_many(items)
    assert all(i.message is None and i.error is None for i in items)
    assert Message.objects.count() == 1
    assert Conversation.objects.get(pk=d.pk).last_seq == first.seq == 1  # no seq burnt


def test_the_batch_counts_the_shared_send_limit(user, other_user, settings):
    settings.CHAT_SEND_RATE_BURST = 2
    d, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    items = [out(user, d, f"r{i}") for i in range(3)] + [out(other_user, d, "o")]
    send_many(items)
    assert [i.error is None for i in items] == [True, True, False, True]
    assert items[2].error.code == "rate_limited" and items[2].error.retry_after >= 1
    assert Conversation.objects.get(pk=d.pk).last_seq == 3


async def test_sockets_sending_at_once_share_batches_and_stay_gapless(user, make_user):
    members = [await sync_to_async(make_user)() for _ in range(6)]
    g = await sync_to_async(group_create)(
        creator=user, title="burst", member_ids=[m.pk for m in members]
    )
    socks = []
    for m in members:
        token = await sync_to_async(device_token_issue)(user=m)
        comm = WebsocketCommunicator(application, "/ws/")
        assert (await comm.connect())[0]
        await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
        assert (await comm.receive_json_from(timeout=5))["type"] == "ready"
        socks.append(comm)

    async def burst(i, comm):
        acks = []
        for n in range(5):
            await comm.send_json_to(
                {
                    "type": "message.send",
                    "conversation_id": g.pk,
                    "client_id": f"s{i}-{n}",
                    "kind": "text",
                    "text": f"{i}.{n}",
                }
            )
            while True:
                frame = await comm.receive_json_from(timeout=10)
                if frame["type"] == "message.ack":
                    acks.append(frame["seq"])
                    break
        return acks

    results = await asyncio.gather(*(burst(i, c) for i, c in enumerate(socks)))
    for acks in results:
        assert acks == sorted(acks)  # one device's messages keep their order
    assert sorted(s for acks in results for s in acks) == list(range(1, 31))
    stored = await sync_to_async(
        lambda: list(Message.objects.filter(conversation=g).values_list("seq", "client_id"))
    )()
    assert len(stored) == 30 and len({c for _s, c in stored}) == 30
    for comm in socks:
        await comm.disconnect()
