import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import device_token_issue
from chat.models import Message
from chat.services.conversations import conversation_get_or_create_direct, group_create
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user):
    token = await sync_to_async(device_token_issue)(user=user)
    comm = WebsocketCommunicator(application, "/ws/")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    ready = await comm.receive_json_from(timeout=5)
    assert ready["type"] == "ready" and ready["cursor"]
    return comm


async def receive_type(comm, type_, timeout=5):
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == type_:
            return frame


@pytest.fixture
def direct(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    return conv


async def test_send_acks_sender_and_reaches_every_other_device(user, other_user, direct):
    a1, a2, b = await connect(user), await connect(user), await connect(other_user)
    await receive_type(a1, "presence")  # Bob came online (a1 and a2 hear it)
    await a1.send_json_to(
        {
            "type": "message.send",
            "conversation_id": direct.pk,
            "client_id": "c-1",
            "kind": "text",
            "text": "hello",
        }
    )
    ack = await a1.receive_json_from(timeout=5)
    assert ack["type"] == "message.ack" and ack["seq"] == 1 and ack["client_id"] == "c-1"
    new_b = await receive_type(b, "message.new")
    assert new_b["message"]["text"] == "hello" and new_b["message"]["sender_id"] == user.pk
    new_a2 = await receive_type(a2, "message.new")  # the sender's other device
    assert new_a2["message"]["id"] == ack["id"]
    # ... but the sending socket gets the ack only, no echo.
    assert await a1.receive_nothing(timeout=0.3)
    for c in (a1, a2, b):
        await c.disconnect()


async def test_bad_frames_get_errors_socket_stays_open_nothing_stored(user, direct):
    a = await connect(user)
    base = {"type": "message.send", "conversation_id": direct.pk, "client_id": "x"}
    cases = [
        ({**base, "kind": "text", "text": "x" * 4097}, "text_too_long"),
        ({**base, "kind": "transfer", "payload": {"transfer_id": 1}}, "kind_not_allowed"),
        ({**base, "kind": "nope"}, "unknown_kind"),
        ({**base, "kind": ["text"]}, "invalid"),
        ({**base, "kind": "text", "text": "x", "client_id": None}, "client_id_required"),
        ({**base, "conversation_id": "abc", "kind": "text", "text": "x"}, "invalid_frame"),
        (
            {**base, "conversation_id": 987654321, "kind": "text", "text": "x"},
            "conversation_not_found",
        ),
    ]
    for frame, code in cases:
        await a.send_json_to(frame)
        err = await a.receive_json_from(timeout=5)
        assert err["type"] == "error" and err["error"]["code"] == code, (frame, err)
    await a.send_json_to({"type": "ping"})
    assert (await a.receive_json_from())["type"] == "pong"
    assert await sync_to_async(Message.objects.count)() == 0
    await a.disconnect()


async def test_typing_read_receipt_and_presence(user, other_user, direct):
    b = await connect(other_user)
    a = await connect(user)
    online = await receive_type(b, "presence")
    assert online == {"type": "presence", "user_id": user.pk, "online": True}
    await a.send_json_to({"type": "typing", "conversation_id": direct.pk})
    await a.send_json_to({"type": "typing", "conversation_id": direct.pk})  # throttled
    typing = await receive_type(b, "typing")
    assert typing == {"type": "typing", "conversation_id": direct.pk, "user_id": user.pk}
    await a.send_json_to(
        {
            "type": "message.send",
            "conversation_id": direct.pk,
            "client_id": "r",
            "kind": "text",
            "text": "read me",
        }
    )
    await receive_type(a, "message.ack")
    await receive_type(b, "message.new")
    await b.send_json_to({"type": "read", "conversation_id": direct.pk, "seq": 1})
    receipt = await receive_type(a, "receipt.read")
    assert receipt == {
        "type": "receipt.read",
        "conversation_id": direct.pk,
        "user_id": other_user.pk,
        "seq": 1,
    }
    await b.send_json_to({"type": "presence.query", "user_ids": [user.pk]})
    state = await receive_type(b, "presence.state")
    assert state["users"][0]["online"] is True
    await a.disconnect()
    offline = await receive_type(b, "presence")
    assert offline["online"] is False and offline["last_seen_at"]
    await b.disconnect()


async def test_send_rate_limit_is_an_error_event(user, other_user, direct, settings):
    settings.CHAT_SEND_RATE_BURST = 3
    a = await connect(user)
    for i in range(8):
        await a.send_json_to(
            {
                "type": "message.send",
                "conversation_id": direct.pk,
                "client_id": f"q{i}",
                "kind": "text",
                "text": "spam",
            }
        )
    frames = [await a.receive_json_from(timeout=5) for _ in range(8)]
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and {e["error"]["code"] for e in errors} == {"rate_limited"}
    assert errors[0]["error"]["retry_after"] >= 1 and errors[0]["ref"].startswith("q")
    assert all(f["type"] in ("message.ack", "error") for f in frames)
    await a.disconnect()


async def test_group_message_reaches_every_member(user, make_user):
    others = [await sync_to_async(make_user)() for _ in range(3)]
    group = await sync_to_async(group_create)(
        creator=user, title="G", member_ids=[o.pk for o in others]
    )
    socks = [await connect(o) for o in others]
    a = await connect(user)
    await a.send_json_to(
        {
            "type": "message.send",
            "conversation_id": group.pk,
            "client_id": "g",
            "kind": "text",
            "text": "all",
        }
    )
    for s in socks:
        assert (await receive_type(s, "message.new"))["message"]["text"] == "all"
    for s in [*socks, a]:
        await s.disconnect()
