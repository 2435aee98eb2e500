"""wallet.updated reaches the recipient's socket after the transfer commits."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import device_token_issue
from config.asgi import application
from payments.services.transfers import transfer_accept, transfer_create
from tests.conftest import fund_wallet, make_contacts, set_payment_pin

pytestmark = pytest.mark.django_db(transaction=True)


async def _socket(user):
    comm = WebsocketCommunicator(application, "/ws/")
    assert (await comm.connect())[0]
    token = await sync_to_async(device_token_issue)(user=user)
    await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    assert json.loads(await comm.receive_from(timeout=5))["type"] == "ready"
    return comm


async def _next(comm, kind):
    for _ in range(20):
        event = json.loads(await comm.receive_from(timeout=5))
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind}")


async def test_sender_and_recipient_hear_wallet_updated(user, other_user):
    @sync_to_async
    def setup():
        make_contacts(user, other_user)
        fund_wallet(user, 1000)
        set_payment_pin(user)

    await setup()
    alice, bob = await _socket(user), await _socket(other_user)
    t = await sync_to_async(transfer_create)(
        sender=user, to_user_id=other_user.pk, amount=400, currency="USD", pin="123456"
    )
    sent = await _next(alice, "wallet.updated")
    assert sent["balances"] == [
        {"currency": "USD", "balance": 1000, "available": 600, "pending": 400}
    ]
    await sync_to_async(transfer_accept)(user=other_user, transfer_id=t.pk)
    got = await _next(bob, "wallet.updated")
    assert got["currency"] == "USD"
    assert got["balances"] == [{"currency": "USD", "balance": 400, "available": 400, "pending": 0}]
    await alice.disconnect()
    await bob.disconnect()
