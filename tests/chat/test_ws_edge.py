import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import device_token_issue
from config.asgi import application
from config.realtime import apublish

pytestmark = pytest.mark.django_db(transaction=True)


async def connect():
    comm = WebsocketCommunicator(application, "/ws/")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def auth(comm, token):
    await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    return json.loads(await comm.receive_from(timeout=5))


@pytest.fixture
def token(user):
    return device_token_issue(user=user)


async def test_auth_then_ready_and_ping(user, token):
    comm = await connect()
    ready = await auth(comm, token)
    assert ready["type"] == "ready" and ready["user_id"] == user.pk
    await comm.send_json_to({"type": "ping", "ts": 1})
    assert (await comm.receive_json_from())["type"] == "pong"
    await comm.disconnect()


async def test_bad_token_closes_4401():
    comm = await connect()
    err = await auth(comm, "not-a-token")
    assert err["type"] == "error" and err["error"]["code"] == "not_authenticated"
    out = await comm.receive_output(timeout=2)
    assert out == {"type": "websocket.close", "code": 4401}


async def test_frame_before_auth_is_an_error_and_socket_stays_open(token):
    comm = await connect()
    await comm.send_json_to({"type": "ping"})
    err = await comm.receive_json_from()
    assert err["error"]["code"] == "not_authenticated"
    assert (await auth(comm, token))["type"] == "ready"
    await comm.disconnect()


async def test_malformed_and_unknown_frames_get_errors(token):
    comm = await connect()
    await auth(comm, token)
    await comm.send_to(text_data="{nope")
    assert (await comm.receive_json_from())["error"]["code"] == "invalid_frame"
    await comm.send_json_to(["not", "an", "object"])
    assert (await comm.receive_json_from())["error"]["code"] == "invalid_frame"
    await comm.send_json_to({"type": "warp.drive"})
    assert (await comm.receive_json_from())["error"]["code"] == "unknown_frame_type"
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["type"] == "pong"
    await comm.disconnect()


async def test_silence_closes_with_auth_timeout(settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    comm = await connect()
    err = await comm.receive_json_from(timeout=3)
    assert err["error"]["code"] == "auth_timeout"
    assert (await comm.receive_output(timeout=2))["code"] == 4408


async def test_push_reaches_every_device_of_the_user(user, token):
    t1 = token
    t2 = await sync_to_async(device_token_issue)(user=user)
    a, b = await connect(), await connect()
    await auth(a, t1)
    await auth(b, t2)
    await apublish([user.pk], {"type": "wallet.updated", "currency": "USD"})
    assert (await a.receive_json_from())["type"] == "wallet.updated"
    assert (await b.receive_json_from())["type"] == "wallet.updated"
    await a.disconnect()
    await b.disconnect()
