"""A transfer sent in a direct chat is a message that follows the transfer's life."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.friends import friend_request_accept, friend_request_send
from chat.models import Message
from chat.services.conversations import conversation_get_or_create_direct, group_create
from payments.models import Transfer
from payments.selectors import wallet_balance
from tests.conftest import assert_ledger_balanced, fund_wallet, set_payment_pin

pytestmark = pytest.mark.django_db


def befriend(a, b):
    sent = friend_request_send(from_user=a, to_user_id=b.pk)
    if sent.request.status == "pending":
        friend_request_accept(user=b, request_id=sent.request.pk)


@pytest.fixture
def pair(make_user):
    alice, bob = make_user("Alice"), make_user("Bob")
    befriend(alice, bob)
    fund_wallet(alice, 10_000)
    set_payment_pin(alice)
    conv, _ = conversation_get_or_create_direct(user=alice, other_user_id=bob.pk)
    return alice, bob, conv


def send_transfer(client, to, conv_id, amount=2500, **extra):
    body = {
        "to_user_id": to.pk,
        "amount": amount,
        "currency": "USD",
        "pin": "123456",
        "note": "dinner",
        "conversation_id": conv_id,
        **extra,
    }
    return client.post("/api/v1/transfers", body, format="json")


def transfer_message(conv, transfer_id):
    return Message.objects.get(conversation=conv, client_id=f"transfer:{transfer_id}")


def test_transfer_appears_in_chat_and_accept_updates_it(pair, client_of):
    alice, bob, conv = pair
    resp = send_transfer(client_of(alice), bob, conv.pk)
    assert resp.status_code == 201, resp.json()
    tid = resp.json()["id"]
    msg = transfer_message(conv, tid)
    assert msg.kind == "transfer" and msg.sender_id == alice.pk
    assert msg.payload["status"] == "pending" and msg.payload["amount"] == 2500

    history = client_of(bob).get(f"/api/v1/conversations/{conv.pk}/messages").json()["results"]
    assert history[0]["kind"] == "transfer" and history[0]["payload"]["transfer_id"] == tid

    cursors = {u.pk: client_of(u).get("/api/v1/sync").json()["cursor"] for u in (alice, bob)}
    assert client_of(bob).post(f"/api/v1/transfers/{tid}/accept").status_code == 200
    msg.refresh_from_db()
    assert msg.payload["status"] == "accepted"
    assert wallet_balance(user_id=bob.pk, currency="USD") == 2500
    # Both sides learn of it through sync as message.edited with the new payload.
    for u in (alice, bob):
        events = client_of(u).get("/api/v1/sync", {"since": cursors[u.pk]}).json()["events"]
        edited = [e for e in events if e["type"] == "message.edited"]
        assert edited and edited[-1]["message"]["payload"]["status"] == "accepted"
    assert_ledger_balanced()


def test_return_and_expiry_rewrite_the_message(pair, client_of):
    alice, bob, conv = pair
    t1 = send_transfer(client_of(alice), bob, conv.pk, amount=100).json()["id"]
    assert client_of(bob).post(f"/api/v1/transfers/{t1}/return").status_code == 200
    assert transfer_message(conv, t1).payload["status"] == "returned"

    t2 = send_transfer(client_of(alice), bob, conv.pk, amount=200).json()["id"]
    Transfer.objects.filter(pk=t2).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    from payments.services.transfers import transfers_expire_due

    assert transfers_expire_due() == 1
    assert transfer_message(conv, t2).payload["status"] == "expired"
    assert wallet_balance(user_id=alice.pk, currency="USD") == 10_000
    assert_ledger_balanced()


def test_transfer_into_someone_elses_chat_is_refused_and_nothing_moves(pair, make_user, client_of):
    alice, bob, conv = pair
    carol = make_user("Carol")
    befriend(alice, carol)
    # Alice names her chat with Bob while paying Carol: refused, no transfer, no message.
    resp = send_transfer(client_of(alice), carol, conv.pk)
    assert resp.status_code == 404
    group = group_create(creator=alice, title="g", member_ids=[bob.pk])
    assert send_transfer(client_of(alice), bob, group.pk).status_code == 404
    assert Transfer.objects.count() == 0
    assert not Message.objects.filter(kind="transfer").exists()
    assert wallet_balance(user_id=alice.pk, currency="USD") == 10_000
    assert_ledger_balanced()


def test_transfer_messages_cannot_be_recalled(pair, client_of):
    alice, bob, conv = pair
    tid = send_transfer(client_of(alice), bob, conv.pk).json()["id"]
    seq = transfer_message(conv, tid).seq
    resp = client_of(alice).delete(f"/api/v1/conversations/{conv.pk}/messages/{seq}")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "not_recallable"
