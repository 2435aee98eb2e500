"""Red packets in chats: escrow, claims, who got what, expiry, and the books."""

import datetime as dt
import os
import threading

import pytest
from django.db import connection
from django.utils import timezone

from accounts.friends import friend_request_accept, friend_request_send
from chat.models import Message
from chat.services.conversations import (
    conversation_get_or_create_direct,
    group_create,
    member_add,
)
from payments.models import RedPacket
from payments.selectors import wallet_balance
from payments.services.red_packets import red_packets_expire_due
from tests.conftest import assert_ledger_balanced, fund_wallet, postgres_only, set_payment_pin

pytestmark = pytest.mark.django_db
RUSH, SHARES = int(os.environ.get("RUSH", 500)), int(os.environ.get("SHARES", 100))


def befriend(a, b):
    sent = friend_request_send(from_user=a, to_user_id=b.pk)
    if sent.request.status == "pending":
        friend_request_accept(user=b, request_id=sent.request.pk)


def make_group(owner, members):
    for m in members:
        befriend(owner, m)
    return group_create(creator=owner, title="Lunch", member_ids=[m.pk for m in members])


@pytest.fixture
def sender(make_user):
    u = make_user("Sender")
    fund_wallet(u, 50_000)
    set_payment_pin(u)
    return u


def send(client, conv_id, **body):
    payload = {
        "total": 1000,
        "count": 3,
        "split": "random",
        "currency": "USD",
        "pin": "123456",
        "greeting": "Happy new year",
    }
    payload.update(body)
    return client.post(f"/api/v1/conversations/{conv_id}/red-packets", payload, format="json")


def test_group_red_packet_end_to_end(sender, make_user, client_of):
    a, b, c = make_user("A"), make_user("B"), make_user("C")
    conv = make_group(sender, [a, b, c])
    resp = send(client_of(sender), conv.pk)
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    packet_id = body["red_packet"]["id"]
    assert body["message"]["kind"] == "red_packet"
    assert body["message"]["payload"]["red_packet_id"] == packet_id
    assert wallet_balance(user_id=sender.pk, currency="USD") == 49_000

    got = {}
    for person in (a, b, c):
        r = client_of(person).post(f"/api/v1/red-packets/{packet_id}/claim")
        assert r.status_code == 201, r.json()
        got[person.pk] = r.json()["amount"]
        assert wallet_balance(user_id=person.pk, currency="USD") == got[person.pk]
    assert sum(got.values()) == 1000 and min(got.values()) >= 1

    # The packet is empty: the sender (allowed in groups) is too late.
    late = client_of(sender).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert late.status_code == 409 and late.json()["error"]["code"] == "red_packet_empty"

    detail = client_of(a).get(f"/api/v1/red-packets/{packet_id}").json()
    assert detail["status"] == "empty"
    assert {c["user"]["id"]: c["amount"] for c in detail["claims"]} == got
    assert detail["my_amount"] == got[a.pk]
    assert detail["luckiest"]["amount"] == max(got.values())
    assert "phone" not in str(detail)

    # The message now says it is empty, for everyone, in history.
    msg = Message.objects.get(pk=body["message"]["id"])
    assert msg.payload["status"] == "empty" and msg.payload["claimed_count"] == 3
    assert_ledger_balanced()


def test_claim_twice_is_409_already_claimed(sender, make_user, client_of):
    a, b = make_user("A"), make_user("B")
    conv = make_group(sender, [a, b])
    packet_id = send(client_of(sender), conv.pk, count=2).json()["red_packet"]["id"]
    first = client_of(a).post(f"/api/v1/red-packets/{packet_id}/claim")
    again = client_of(a).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_claimed"
    assert again.json()["error"]["amount"] == first.json()["amount"]
    assert_ledger_balanced()


def test_outsiders_get_404_and_nothing_moves(sender, make_user, client_of):
    a, stranger = make_user("A"), make_user("Stranger")
    conv = make_group(sender, [a])
    packet_id = send(client_of(sender), conv.pk, count=1).json()["red_packet"]["id"]
    assert client_of(stranger).post(f"/api/v1/red-packets/{packet_id}/claim").status_code == 404
    assert client_of(stranger).get(f"/api/v1/red-packets/{packet_id}").status_code == 404
    assert send(client_of(stranger), conv.pk).status_code == 404
    assert wallet_balance(user_id=stranger.pk, currency="USD") == 0


def test_direct_chat_one_share_for_the_other_person(sender, make_user, client_of):
    friend = make_user("Friend")
    befriend(sender, friend)
    conv, _ = conversation_get_or_create_direct(user=sender, other_user_id=friend.pk)
    too_many = send(client_of(sender), conv.pk, count=2)
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "red_packet_count_too_large"
    packet_id = send(client_of(sender), conv.pk, count=1, total=888).json()["red_packet"]["id"]
    own = client_of(sender).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert own.status_code == 422 and own.json()["error"]["code"] == "not_for_you"
    r = client_of(friend).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert r.status_code == 201 and r.json()["amount"] == 888
    assert_ledger_balanced()


def test_validation_pin_funds_and_limits(sender, make_user, client_of, settings):
    a = make_user("A")
    conv = make_group(sender, [a])
    c = client_of(sender)
    assert send(c, conv.pk, count=5).json()["error"]["code"] == "red_packet_count_too_large"
    assert send(c, conv.pk, total=1, count=2).status_code == 400
    assert send(c, conv.pk, total=11, count=2, split="equal").status_code == 400
    assert send(c, conv.pk, total=settings.RED_PACKET_MAX_TOTAL + 1).status_code == 400
    assert send(c, conv.pk, count=0).status_code == 400
    wrong = send(c, conv.pk, count=2, pin="000000")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "pin_wrong"
    poor = make_user("Poor")
    set_payment_pin(poor)
    conv2 = make_group(poor, [a])
    broke = send(client_of(poor), conv2.pk, count=1)
    assert broke.status_code == 422 and broke.json()["error"]["code"] == "insufficient_funds"
    assert RedPacket.objects.count() == 0
    assert Message.objects.filter(kind="red_packet").count() == 0
    assert wallet_balance(user_id=sender.pk, currency="USD") == 50_000
    assert_ledger_balanced()


def test_idempotency_key_sends_one_packet(sender, make_user, client_of):
    a = make_user("A")
    conv = make_group(sender, [a])
    c = client_of(sender)
    r1 = c.post(
        f"/api/v1/conversations/{conv.pk}/red-packets",
        {"total": 500, "count": 1, "pin": "123456"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rp-1",
    )
    r2 = c.post(
        f"/api/v1/conversations/{conv.pk}/red-packets",
        {"total": 500, "count": 1, "pin": "123456"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rp-1",
    )
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["red_packet"]["id"] == r2.json()["red_packet"]["id"]
    assert RedPacket.objects.count() == 1
    other = c.post(
        f"/api/v1/conversations/{conv.pk}/red-packets",
        {"total": 600, "count": 1, "pin": "123456"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rp-1",
    )
    assert other.status_code == 409
    assert wallet_balance(user_id=sender.pk, currency="USD") == 49_500
    assert_ledger_balanced()


def test_expiry_returns_the_rest_and_updates_the_message(sender, make_user, client_of):
    a, b = make_user("A"), make_user("B")
    conv = make_group(sender, [a, b])
    body = send(client_of(sender), conv.pk, total=1000, count=2).json()
    packet_id = body["red_packet"]["id"]
    got = client_of(a).post(f"/api/v1/red-packets/{packet_id}/claim").json()["amount"]
    RedPacket.objects.filter(pk=packet_id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    late = client_of(b).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert late.status_code == 409 and late.json()["error"]["code"] == "red_packet_expired"
    assert red_packets_expire_due() == 1
    assert red_packets_expire_due() == 0  # idempotent
    assert wallet_balance(user_id=sender.pk, currency="USD") == 50_000 - got
    packet = RedPacket.objects.get(pk=packet_id)
    assert packet.status == "expired" and packet.refunded_amount == 1000 - got
    assert Message.objects.get(pk=body["message"]["id"]).payload["status"] == "expired"
    assert_ledger_balanced()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_500_members_rush_one_100_share_packet(make_user):
    from chat.services.money import red_packet_grab, red_packet_send
    from config.errors import DomainError

    owner = make_user("Owner")
    fund_wallet(owner, 20_000)
    set_payment_pin(owner)
    # 499 sign-ups through the OTP service would dominate the test's time; the rows are
    # what a sign-up creates (a user with a phone), made in one statement.
    from accounts.models import User

    people = User.objects.bulk_create(
        User(phone=f"+1415557{i:04d}", display_name=f"P{i}") for i in range(RUSH - 1)
    )
    conv = group_create(creator=owner, title="Everyone", member_ids=[])
    member_add(conversation_id=conv.pk, user_ids=[p.pk for p in people])
    packet, _ = red_packet_send(
        sender=owner,
        conversation_id=conv.pk,
        total=20_000,
        count=SHARES,
        split="random",
        currency="USD",
        pin="123456",
    )
    everyone = [owner, *people]
    results: dict[int, object] = {}
    barrier = threading.Barrier(len(everyone))

    def grab(person):
        try:
            barrier.wait()
            share = red_packet_grab(user=person, packet_id=packet.pk)
            results[person.pk] = share.amount
        except DomainError as e:
            results[person.pk] = e.code
        except Exception as e:  # any other error is a failure of this test
            results[person.pk] = f"crash: {type(e).__name__}: {e}"
        finally:
            connection.close()

    threads = [threading.Thread(target=grab, args=(p,)) for p in everyone]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    amounts = [v for v in results.values() if isinstance(v, int)]
    others = [v for v in results.values() if not isinstance(v, int)]
    assert len(results) == RUSH
    assert len(amounts) == SHARES, others[:5]
    assert sum(amounts) == 20_000
    assert set(others) == {"red_packet_empty"}, [o for o in others if o != "red_packet_empty"][:5]
    packet.refresh_from_db()
    assert packet.status == "empty" and packet.claimed_count == SHARES
    assert_ledger_balanced()


def test_late_claims_are_answered_without_the_database_once_the_packet_is_over(
    sender, make_user, client_of
):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.services.money import red_packet_grab
    from payments.services import red_packets as rp

    a, b, late = make_user("A"), make_user("B"), make_user("Late")
    conv = make_group(sender, [a, b, late])
    packet_id = send(client_of(sender), conv.pk, total=1000, count=2).json()["red_packet"]["id"]
    got_a = red_packet_grab(user=a, packet_id=packet_id).amount
    # One share left: nothing may say "over" yet (that would refuse a claim that can win).
    assert cache.get(rp._done_key(packet_id)) is None
    got_b = red_packet_grab(user=b, packet_id=packet_id).amount
    assert got_a + got_b == 1000

    packet = RedPacket.objects.get(pk=packet_id)
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(rp.RedPacketEmpty):
            rp.red_packet_claim(packet_id=packet_id, user_id=late.pk, packet=packet)
        with pytest.raises(rp.AlreadyClaimed) as again:
            rp.red_packet_claim(packet_id=packet_id, user_id=a.pk, packet=packet)
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert again.value.extra["amount"] == got_a

    # Through the endpoint: the member check still runs (an outsider gets 404, not 409).
    r = client_of(late).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert r.status_code == 409 and r.json()["error"]["code"] == "red_packet_empty"
    outsider = make_user("Outsider")
    assert client_of(outsider).post(f"/api/v1/red-packets/{packet_id}/claim").status_code == 404

    # Without the record (evicted, or a cache outage) the database gives the same answers.
    cache.delete(rp._done_key(packet_id))
    r = client_of(b).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_claimed"
    assert r.json()["error"]["amount"] == got_b
    r = client_of(late).post(f"/api/v1/red-packets/{packet_id}/claim")
    assert r.status_code == 409 and r.json()["error"]["code"] == "red_packet_empty"
    assert_ledger_balanced()


def test_an_expired_packet_answers_late_claims_from_its_record(sender, make_user, client_of):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from payments.services import red_packets as rp

    a, b = make_user("A"), make_user("B")
    conv = make_group(sender, [a, b])
    packet_id = send(client_of(sender), conv.pk, total=1000, count=2).json()["red_packet"]["id"]
    got = client_of(a).post(f"/api/v1/red-packets/{packet_id}/claim").json()["amount"]
    RedPacket.objects.filter(pk=packet_id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert red_packets_expire_due() == 1
    packet = RedPacket.objects.get(pk=packet_id)
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(rp.RedPacketExpired):
            rp.red_packet_claim(packet_id=packet_id, user_id=b.pk, packet=packet)
        with pytest.raises(rp.AlreadyClaimed):
            rp.red_packet_claim(packet_id=packet_id, user_id=a.pk, packet=packet)
    assert len(queries) == 0
    assert wallet_balance(user_id=sender.pk, currency="USD") == 50_000 - got
    assert_ledger_balanced()


@postgres_only
def test_a_claim_is_a_fixed_handful_of_statements(sender, make_user):
    """The statements of a winning claim, wallet.updated record included; the part that
    holds the packet's escrow row is the tail of one call and COMMIT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.services.money import red_packet_grab, red_packet_send
    from payments.ledger import user_wallet

    people = [make_user(f"P{i}") for i in range(3)]
    conv = make_group(sender, people)
    packet, _ = red_packet_send(
        sender=sender,
        conversation_id=conv.pk,
        total=900,
        count=3,
        split="random",
        currency="USD",
        pin="123456",
    )
    user_wallet(user_id=people[0].pk, currency="USD")  # the common case: a wallet exists
    with CaptureQueriesContext(connection) as queries:
        red_packet_grab(user=people[0], packet_id=packet.pk)
    sql = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # membership; the claim (share, wallet, entry, counters: one PL/pgSQL call); the
    # balances for wallet.updated and its record in the sync stream. (Was 24, then 11.)
    assert len(sql) <= 4, "\n".join(sql)
    assert sum("payments_red_packet_claim(" in s for s in sql) == 1
    assert not any('"payments_redpacket"' in s for s in sql), "nothing reads the packet alone"
    assert_ledger_balanced()


def test_late_claims_through_chat_make_no_query_and_outsiders_still_get_404(
    sender, make_user, client_of
):
    """Once a packet is over, a member's late claim is answered from the cache alone; the
    cache never speaks for someone who is not a member, nor for someone who left."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.services.conversations import member_remove
    from chat.services.money import red_packet_grab
    from config.errors import DomainError

    a, b, late, leaver = make_user("A"), make_user("B"), make_user("Late"), make_user("Leaver")
    conv = make_group(sender, [a, b, late, leaver])
    packet_id = send(client_of(sender), conv.pk, total=1000, count=2).json()["red_packet"]["id"]
    got_a = red_packet_grab(user=a, packet_id=packet_id).amount
    red_packet_grab(user=b, packet_id=packet_id)

    def answer(person):
        try:
            red_packet_grab(user=person, packet_id=packet_id)
        except DomainError as e:
            return e.code, e.extra.get("amount")
        raise AssertionError("a late claim succeeded")

    with CaptureQueriesContext(connection) as queries:
        assert answer(late) == ("red_packet_empty", None)
        assert answer(a) == ("already_claimed", got_a)
    assert len(queries) == 0, [q["sql"] for q in queries]

    # The card lists the members at the send; someone who left since gets 404.
    member_remove(conversation_id=conv.pk, user_id=leaver.pk, actor=leaver)
    assert answer(leaver) == ("red_packet_not_found", None)
    outsider = make_user("Outsider")
    assert answer(outsider) == ("red_packet_not_found", None)
    # Someone who joined after the send is not on the card: the database lets them in.
    newcomer = make_user("Newcomer")
    from chat.services.conversations import member_add

    member_add(conversation_id=conv.pk, user_ids=[newcomer.pk])
    assert answer(newcomer) == ("red_packet_empty", None)
    assert_ledger_balanced()


def test_a_stale_card_never_moves_money_to_the_wrong_place(sender, make_user, client_of):
    """A card that names another conversation (say the cache outlived a database restore)
    is caught by the claim statement: the database decides who may claim."""
    from django.core.cache import cache

    from chat.services import red_packet_cards as cards
    from chat.services.money import red_packet_grab
    from config.errors import DomainError

    a, insider = make_user("A"), make_user("Insider")
    elsewhere = make_group(sender, [a])
    conv = make_group(sender, [insider])
    packet_id = send(client_of(sender), conv.pk, total=500, count=1).json()["red_packet"]["id"]
    cards.card_write(
        packet_id=packet_id,
        conversation_id=elsewhere.pk,
        kind="group",
        sender_id=sender.pk,
        member_ids=[sender.pk, a.pk],
    )
    with pytest.raises(DomainError) as refused:
        red_packet_grab(user=a, packet_id=packet_id)
    assert refused.value.code == "red_packet_not_found"
    assert wallet_balance(user_id=a.pk, currency="USD") == 0
    # The real member still gets the money, past the stale card.
    assert red_packet_grab(user=insider, packet_id=packet_id).amount == 500
    cache.delete(cards._card_key(packet_id))
    assert_ledger_balanced()
