"""A campaign message reaches a connected person's socket as `message.new`, the same
frame sync would replay; offline people get nothing pushed (they sync later)."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import device_token_issue
from brands import campaigns, services
from brands.models import Follow
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user):
    token = await sync_to_async(device_token_issue)(user=user)
    comm = WebsocketCommunicator(application, "/ws/")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    assert (await comm.receive_json_from(timeout=5))["type"] == "ready"
    return comm


def _setup(make_user, settings):
    settings.PRIVACY_MIN_AUDIENCE = 3
    settings.BRANDS_QUIET_START_HOUR = settings.BRANDS_QUIET_END_HOUR = 0
    owner = make_user()
    brand = services.brand_create(name="Live Brand", owner=owner)
    people = [make_user() for _ in range(4)]
    for p in people:
        services.follow_create(brand=brand, user=p, marketing_opt_in=True)
    seg = services.segment_save(brand_id=brand.pk, acting_user=owner, name="all", rules={})
    c = campaigns.campaign_create(
        brand_id=brand.pk,
        acting_user=owner,
        name="Live",
        kind="card",
        content={"text": "Hi", "title": "New!", "link": "https://live.test/x"},
        segment_id=seg.pk,
        holdout_percent=0,
    )
    return owner, brand, people, c


async def test_connected_follower_gets_the_campaign_frame(make_user, settings):
    owner, brand, people, c = await sync_to_async(_setup)(make_user, settings)
    comm = await connect(people[0])
    await sync_to_async(campaigns.campaign_schedule)(
        brand_id=brand.pk, acting_user=owner, campaign_id=c.pk
    )
    while True:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == "message.new":
            break
    conv = await sync_to_async(lambda: Follow.objects.get(user=people[0]).conversation_id)()
    assert frame["conversation_id"] == conv
    msg = frame["message"]
    assert msg["sender_id"] is None and msg["seq"] == 1
    assert msg["payload"]["card"]["title"] == "New!" and msg["payload"]["brand_id"] == brand.pk
    await comm.disconnect()
