"""Chat over real servers: HTTP + WebSocket, and two processes on the Redis layer."""

import asyncio
import json
import os

import httpx
import pytest
import websockets

from tests.load.servers import login, start_servers

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="two server processes share events only through the Redis channel layer "
    "(the embedded shape's in-memory layer lives inside one process)",
)


@pytest.fixture(scope="module")
def two_servers():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (Redis channel layer) for two processes")
    servers = start_servers(2)
    yield servers
    servers.stop()


def auth_headers(token):
    return {"Authorization": f"Bearer {token}"}


async def ws_login(url, token):
    sock = await websockets.connect(url)
    await sock.send(json.dumps({"type": "auth", "token": token}))
    ready = json.loads(await asyncio.wait_for(sock.recv(), 10))
    assert ready["type"] == "ready", ready
    return sock, ready


async def next_of(sock, type_, timeout=10):
    while True:
        frame = json.loads(await asyncio.wait_for(sock.recv(), timeout))
        if frame["type"] == type_:
            return frame


async def send_until_acked(sock, frame, timeout=10):
    """Send; on `rate_limited` wait as told and retry with the same client_id (as an app
    does: the retry is idempotent)."""
    for _ in range(20):
        await sock.send(json.dumps(frame))
        while True:
            reply = json.loads(await asyncio.wait_for(sock.recv(), timeout))
            if reply["type"] == "message.ack":
                return reply
            if reply["type"] == "error":
                assert reply["error"]["code"] == "rate_limited", reply
                await asyncio.sleep(reply["error"].get("retry_after", 1))
                break
    raise AssertionError("never acked")


def direct_chat(base, token, other_id):
    r = httpx.post(
        base + "/api/v1/conversations",
        json={"kind": "direct", "user_id": other_id},
        headers=auth_headers(token),
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


@needs_redis
def test_sent_on_process_a_received_on_process_b(two_servers):
    ta, alice = login(two_servers, "+14155550170", base=two_servers.urls[0])
    tb, bob = login(two_servers, "+14155550171", base=two_servers.urls[1])
    cid = direct_chat(two_servers.urls[0], ta, bob["id"])

    async def run():
        a, _ = await ws_login(two_servers.ws_url(0), ta)
        b, _ = await ws_login(two_servers.ws_url(1), tb)
        await a.send(
            json.dumps(
                {
                    "type": "message.send",
                    "conversation_id": cid,
                    "client_id": "cross-1",
                    "kind": "text",
                    "text": "across processes",
                }
            )
        )
        ack = await next_of(a, "message.ack")
        got = await next_of(b, "message.new")
        assert got["message"]["seq"] == ack["seq"] == 1
        assert got["message"]["text"] == "across processes"
        # And back, from B's process to A's.
        await b.send(
            json.dumps(
                {
                    "type": "message.send",
                    "conversation_id": cid,
                    "client_id": "cross-2",
                    "kind": "text",
                    "text": "and back",
                }
            )
        )
        assert (await next_of(a, "message.new"))["message"]["seq"] == 2
        await a.close()
        await b.close()

    asyncio.run(run())


def _reconnect_and_sync_50(servers, phones):
    base_a = servers.urls[0]
    base_b = servers.urls[-1]
    ta, alice = login(servers, phones[0], base=base_a)
    tb, bob = login(servers, phones[1], base=base_b)
    cid = direct_chat(base_a, ta, bob["id"])
    ws_b = servers.ws_url(len(servers.urls) - 1)

    async def run():
        b, ready = await ws_login(ws_b, tb)
        cursor = ready["cursor"]
        await b.close()  # Bob drops off
        a, _ = await ws_login(servers.ws_url(0), ta)
        for i in range(50):
            await send_until_acked(
                a,
                {
                    "type": "message.send",
                    "conversation_id": cid,
                    "client_id": f"off-{i}",
                    "kind": "text",
                    "text": f"missed {i}",
                },
            )
        await a.close()
        # Bob comes back: sync from the ready cursor, page by page.
        events = []
        async with httpx.AsyncClient(base_url=base_b, headers=auth_headers(tb)) as http:
            while True:
                r = await http.get("/api/v1/sync", params={"since": cursor, "limit": 15})
                assert r.status_code == 200, r.text
                body = r.json()
                events += body["events"]
                cursor = body["cursor"]
                if not body["has_more"]:
                    break
            again = (await http.get("/api/v1/sync", params={"since": cursor})).json()
        news = [e for e in events if e["type"] == "message.new"]
        assert [e["message"]["seq"] for e in news] == list(range(1, 51))
        assert [e["message"]["text"] for e in news] == [f"missed {i}" for i in range(50)]
        assert again["events"] == []
        b2, _ = await ws_login(ws_b, tb)  # and the socket works again
        await b2.close()

    asyncio.run(run())
    # Bad input over HTTP: never a 500.
    r = httpx.get(base_b + "/api/v1/sync", params={"since": "%%%"}, headers=auth_headers(tb))
    assert r.status_code == 400


def test_reconnect_and_sync_50_over_http_and_ws(server):
    _reconnect_and_sync_50(server, ["+14155550172", "+14155550173"])


@needs_redis
def test_reconnect_and_sync_50_across_two_processes(two_servers):
    _reconnect_and_sync_50(two_servers, ["+14155550174", "+14155550175"])
