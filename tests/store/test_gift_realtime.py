"""A gift reaches the recipient's connected devices in real time."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from accounts.friends import friend_request_accept, friend_request_send
from accounts.services import device_token_issue
from config.asgi import application
from store.services.purchases import pack_purchase
from tests.conftest import assert_ledger_balanced, fund_wallet, set_payment_pin
from tests.store.builders import creator_for, published_pack

pytestmark = pytest.mark.django_db(transaction=True)


def setup(make_user):
    giver, friend = make_user("Giver"), make_user("Friend")
    sent = friend_request_send(from_user=giver, to_user_id=friend.pk)
    friend_request_accept(user=friend, request_id=sent.request.pk)
    fund_wallet(giver, 500)
    set_payment_pin(giver, "135790")
    pack = published_pack(creator_for(make_user("Creator")), title="Hearts", price=150)
    return giver, friend, pack, device_token_issue(user=friend)


async def test_recipient_hears_of_the_gift(make_user):
    giver, friend, pack, token = await sync_to_async(setup)(make_user)
    comm = WebsocketCommunicator(application, "/ws/")
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    assert (await comm.receive_json_from(timeout=5))["type"] == "ready"
    purchase = await sync_to_async(pack_purchase)(
        buyer=giver, pack_id=pack.pk, expected_price=150, recipient_id=friend.pk, pin="135790"
    )
    while True:
        event = await comm.receive_json_from(timeout=5)
        if event["type"] == "store.gift_received":
            break
    assert event["purchase_id"] == purchase.pk
    assert event["pack"] == {"id": pack.pk, "title": "Hearts"}
    assert event["from"]["id"] == giver.pk and "phone" not in event["from"]
    await comm.disconnect()
    await sync_to_async(assert_ledger_balanced)()
    # The sync helpers ran on asgiref's worker thread: close its connection so the test
    # database can be dropped at the end of the run.
    await sync_to_async(connections.close_all)()
