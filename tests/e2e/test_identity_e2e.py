import asyncio
import json

import httpx
import websockets

from tests.load.servers import login


def test_login_over_http_then_websocket_ready(server):
    token, user = login(server, "+14155550150")
    me = httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == user["id"]

    async def ws():
        async with websockets.connect(server.ws_url()) as sock:
            await sock.send(json.dumps({"type": "auth", "token": token}))
            ready = json.loads(await asyncio.wait_for(sock.recv(), 10))
            assert ready["type"] == "ready" and ready["user_id"] == user["id"]
            await sock.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(sock.recv(), 10))["type"] == "pong"

    asyncio.run(ws())


def test_unknown_route_and_health_over_http(server):
    r = httpx.get(server.url + "/api/v1/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "endpoint_not_found"
    health = httpx.get(server.url + "/healthz").json()
    assert health["checks"]["database"]["ok"]
