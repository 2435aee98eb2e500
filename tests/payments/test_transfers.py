"""Transfers: to a contact, pending until accepted, returned, expired by the beat job."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.friends import block_create
from config.errors import DomainError, NotFound
from payments.api.transfers import TransferOutput
from payments.models import Transfer
from payments.selectors import wallet_balances
from payments.services import events
from payments.services.transfers import (
    transfer_accept,
    transfer_create,
    transfer_return,
    transfers_expire_due,
)
from payments.tasks import transfers_expire_due_task
from tests.conftest import (
    client_for,
    fund_wallet,
    make_contacts,
    postgres_only,
    set_payment_pin,
)


@pytest.fixture
def pair(user, other_user):
    make_contacts(user, other_user)
    fund_wallet(user, 10_000)
    set_payment_pin(user)
    return user, other_user


def _usd(user):
    return next(b for b in wallet_balances(user.pk) if b["currency"] == "USD")


def test_transfer_reserves_then_accept_moves_the_money(pair):
    alice, bob = pair
    t = transfer_create(sender=alice, to_user_id=bob.pk, amount=2500, currency="USD", pin="123456")
    assert t.status == "pending"
    assert _usd(alice) == {
        "currency": "USD",
        "balance": 10_000,
        "available": 7_500,
        "pending": 2_500,
    }
    assert wallet_balances(bob.pk) in (
        [],
        [{"currency": "USD", "balance": 0, "available": 0, "pending": 0}],
    )
    transfer_accept(user=bob, transfer_id=t.pk)
    assert _usd(alice)["balance"] == 7_500 and _usd(alice)["pending"] == 0
    assert _usd(bob)["balance"] == 2_500
    # accepting twice is harmless
    assert transfer_accept(user=bob, transfer_id=t.pk).status == "accepted"
    with pytest.raises(DomainError) as exc:
        transfer_return(user=bob, transfer_id=t.pk)
    assert exc.value.code == "transfer_already_accepted" and exc.value.status == 409


def test_return_gives_the_money_back(pair):
    alice, bob = pair
    t = transfer_create(sender=alice, to_user_id=bob.pk, amount=2500, currency="USD", pin="123456")
    transfer_return(user=bob, transfer_id=t.pk)
    assert _usd(alice) == {"currency": "USD", "balance": 10_000, "available": 10_000, "pending": 0}
    with pytest.raises(DomainError) as exc:
        transfer_accept(user=bob, transfer_id=t.pk)
    assert exc.value.code == "transfer_already_returned"


def test_only_the_recipient_may_accept_or_return(pair, make_user):
    alice, bob = pair
    t = transfer_create(sender=alice, to_user_id=bob.pk, amount=100, currency="USD", pin="123456")
    for who in (alice, make_user("Eve")):
        with pytest.raises(NotFound):
            transfer_accept(user=who, transfer_id=t.pk)
        with pytest.raises(NotFound):
            transfer_return(user=who, transfer_id=t.pk)


def test_refusals(pair, make_user):
    alice, bob = pair
    stranger = make_user("Stranger")
    cases = [
        (dict(to_user_id=alice.pk), "transfer_to_self"),
        (dict(to_user_id=stranger.pk), "not_a_contact"),
        (dict(to_user_id=bob.pk, amount=10_001), "insufficient_funds"),
        (dict(to_user_id=bob.pk, pin="000000"), "pin_wrong"),
        (dict(to_user_id=bob.pk, pin=None), "pin_required"),
        (dict(to_user_id=bob.pk, currency="XYZ"), "unsupported_currency"),
        (dict(to_user_id=bob.pk, currency="EUR"), "insufficient_funds"),
        (dict(to_user_id=999_999_999), "user_not_found"),
    ]
    for kwargs, code in cases:
        args = dict(sender=alice, amount=100, currency="USD", pin="123456") | kwargs
        with pytest.raises(DomainError) as exc:
            transfer_create(**args)
        assert exc.value.code == code, kwargs
    assert _usd(alice)["available"] == 10_000


def test_blocked_people_cannot_send_to_each_other(pair):
    alice, bob = pair
    block_create(user=bob, other_id=alice.pk)
    with pytest.raises(NotFound):
        transfer_create(sender=alice, to_user_id=bob.pk, amount=100, currency="USD", pin="123456")


def test_daily_limit_per_verification_tier(pair, settings):
    alice, bob = pair
    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 3_000, 2: 9_000}
    transfer_create(sender=alice, to_user_id=bob.pk, amount=2_000, currency="USD", pin="123456")
    with pytest.raises(DomainError) as exc:
        transfer_create(sender=alice, to_user_id=bob.pk, amount=1_001, currency="USD", pin="123456")
    assert exc.value.code == "daily_limit_exceeded" and exc.value.extra["limit"] == 3_000
    alice.verification_tier = 2
    alice.save()
    transfer_create(sender=alice, to_user_id=bob.pk, amount=1_001, currency="USD", pin="123456")


def test_beat_job_returns_transfers_after_24_hours(pair):
    alice, bob = pair
    t = transfer_create(sender=alice, to_user_id=bob.pk, amount=700, currency="USD", pin="123456")
    assert transfers_expire_due() == 0
    later = timezone.now() + dt.timedelta(hours=24, seconds=1)
    with pytest.raises(DomainError) as exc:
        t.expires_at = timezone.now() - dt.timedelta(seconds=1)
        t.save(update_fields=["expires_at"])
        transfer_accept(user=bob, transfer_id=t.pk)
    assert exc.value.code == "transfer_expired"
    assert transfers_expire_due_task.delay().get() == 1
    t.refresh_from_db()
    assert t.status == "expired"
    assert _usd(alice) == {"currency": "USD", "balance": 10_000, "available": 10_000, "pending": 0}
    assert transfers_expire_due(now=later) == 0


def test_listeners_hear_every_state_change(pair):
    alice, bob = pair
    heard = []

    def listener(transfer, event):
        heard.append((transfer.pk, event, transfer.status))

    from chat.services.conversations import conversation_get_or_create_direct

    chat, _ = conversation_get_or_create_direct(user=alice, other_user_id=bob.pk)
    events.on_transfer_change(listener)
    try:
        t1 = transfer_create(
            sender=alice,
            to_user_id=bob.pk,
            amount=1,
            currency="USD",
            pin="123456",
            conversation_id=chat.pk,
        )
        transfer_accept(user=bob, transfer_id=t1.pk)
        t2 = transfer_create(
            sender=alice, to_user_id=bob.pk, amount=1, currency="USD", pin="123456"
        )
        transfer_return(user=bob, transfer_id=t2.pk)
    finally:
        events.remove_transfer_listener(listener)
    assert heard == [
        (t1.pk, "created", "pending"),
        (t1.pk, "accepted", "accepted"),
        (t2.pk, "created", "pending"),
        (t2.pk, "returned", "returned"),
    ]
    assert t1.conversation_id == chat.pk


def test_rest_transfer_flow_with_idempotency(pair, make_user):
    alice, bob = pair
    a, b = client_for(alice), client_for(bob)
    body = {
        "to_user_id": bob.pk,
        "amount": 1234,
        "currency": "USD",
        "pin": "123456",
        "note": "lunch",
    }
    r1 = a.post("/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    r2 = a.post("/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    # The answer is the documented shape (TransferOutput) of the stored transfer.
    assert r1.json() == dict(TransferOutput(Transfer.objects.get(pk=r1.json()["id"])).data)
    assert r1.json()["note"] == "lunch" and r1.json()["resolved_at"] is None
    assert _usd(alice)["pending"] == 1234  # once, not twice
    r3 = a.post(
        "/api/v1/transfers", {**body, "amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="t-1"
    )
    assert r3.status_code == 409 and r3.json()["error"]["code"] == "idempotency_key_reused"
    tid = r1.json()["id"]
    assert b.get(f"/api/v1/transfers/{tid}").json()["status"] == "pending"
    assert client_for(make_user("Eve")).get(f"/api/v1/transfers/{tid}").status_code == 404
    assert a.post(f"/api/v1/transfers/{tid}/accept").status_code == 404
    accepted = b.post(f"/api/v1/transfers/{tid}/accept", HTTP_IDEMPOTENCY_KEY="acc")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    stored = Transfer.objects.get(pk=tid)
    assert accepted.json() == dict(TransferOutput(stored).data)
    assert accepted.json()["resolved_at"].endswith("Z")
    assert b.get("/api/v1/wallet").json()["balances"][0]["balance"] == 1234


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"to_user_id": "x", "amount": 1, "currency": "USD"},
        {"to_user_id": 1, "amount": -5, "currency": "USD"},
        {"to_user_id": 1, "amount": 2**70, "currency": "USD"},
        {"to_user_id": 1, "amount": 1.5, "currency": "USD"},
        {"to_user_id": 1, "amount": 1, "currency": "US"},
    ],
)
def test_rest_bad_input_is_400(auth_client, body):
    response = auth_client.post("/api/v1/transfers", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_optional_fee_goes_to_the_sharded_revenue_account(pair, settings):
    from payments import ledger

    settings.PAYMENTS_TRANSFER_FEE_BPS = 100  # 1 %
    alice, bob = pair
    t = transfer_create(sender=alice, to_user_id=bob.pk, amount=1000, currency="USD", pin="123456")
    transfer_accept(user=bob, transfer_id=t.pk)
    assert _usd(alice)["balance"] == 9000 and _usd(bob)["balance"] == 990
    assert ledger.system_balance(code="revenue", currency="USD") == 10


def _wallet_events(user) -> list[dict]:
    from chat.models import UserEvent

    rows = UserEvent.objects.filter(user_id=user.pk).order_by("seq")
    return [e.event for e in rows if e.event["type"] == "wallet.updated"]


def test_wallet_updated_is_recorded_in_the_transfers_own_transaction(pair):
    # Recorded in each person's sync stream inside the money transaction (no commit of its
    # own), with the balances that transaction left: nothing to read after the commit.
    alice, bob = pair
    seen_a, seen_b = len(_wallet_events(alice)), len(_wallet_events(bob))
    t = transfer_create(sender=alice, to_user_id=bob.pk, amount=400, currency="USD", pin="123456")
    usd = {"currency": "USD", "balance": 10_000, "available": 9_600, "pending": 400}
    assert _wallet_events(alice)[seen_a:] == [
        {"type": "wallet.updated", "currency": "USD", "balances": [usd]}
    ]
    assert _wallet_events(bob)[seen_b:] == []
    transfer_accept(user=bob, transfer_id=t.pk)
    assert _wallet_events(alice)[-1]["balances"] == [
        {"currency": "USD", "balance": 9_600, "available": 9_600, "pending": 0}
    ]
    assert _wallet_events(bob)[seen_b:] == [
        {
            "type": "wallet.updated",
            "currency": "USD",
            "balances": [{"currency": "USD", "balance": 400, "available": 400, "pending": 0}],
        }
    ]
    # Accepting again changes nothing and says nothing.
    transfer_accept(user=bob, transfer_id=t.pk)
    assert len(_wallet_events(bob)) == seen_b + 1


def test_a_transfer_refused_in_its_transaction_records_no_event(pair):
    alice, bob = pair
    seen = len(_wallet_events(alice))
    with pytest.raises(NotFound):  # the chat listener refuses a chat that is not theirs
        transfer_create(
            sender=alice,
            to_user_id=bob.pk,
            amount=400,
            currency="USD",
            pin="123456",
            conversation_id=999_999_999,
        )
    assert len(_wallet_events(alice)) == seen
    assert _usd(alice)["pending"] == 0 and not Transfer.objects.exists()


def test_past_the_daily_limit_and_short_of_money_is_insufficient_funds(pair, settings):
    alice, bob = pair
    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 3_000}
    for amount, code in ((10_001, "insufficient_funds"), (3_001, "daily_limit_exceeded")):
        with pytest.raises(DomainError) as exc:
            transfer_create(
                sender=alice, to_user_id=bob.pk, amount=amount, currency="USD", pin="123456"
            )
        assert exc.value.code == code
    assert _usd(alice)["pending"] == 0 and not Transfer.objects.exists()


def test_rest_refusal_past_the_daily_limit_is_replayed_and_holds_nothing(pair, settings):
    # The keyed request's transaction stores the 422 and commits: the refused transfer must
    # have written nothing in it (no savepoint is taken around the money call).
    alice, bob = pair
    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 1_000}
    a = client_for(alice)
    body = {"to_user_id": bob.pk, "amount": 1_001, "currency": "USD", "pin": "123456"}
    r1 = a.post("/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY="lim")
    r2 = a.post("/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY="lim")
    assert r1.status_code == r2.status_code == 422 and r1.json() == r2.json()
    assert r1.json()["error"]["code"] == "daily_limit_exceeded"
    assert r2["Idempotent-Replayed"] == "true"
    assert _usd(alice)["pending"] == 0 and not Transfer.objects.exists()
    ok = a.post("/api/v1/transfers", {**body, "amount": 1_000}, format="json")
    assert ok.status_code == 201 and _usd(alice)["pending"] == 1_000


@postgres_only
def test_a_transfer_is_five_statements_on_postgresql(pair):
    # The read before the money, one call each for create and accept, and the
    # wallet.updated records in those transactions: the sender's, then both people's in
    # one statement (docs/LEDGER.md, "Transfers").
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from payments.services.pin import pin_free_limit_set

    alice, bob = pair
    pin_free_limit_set(user=alice, limit=100)
    fund_wallet(bob, 1)  # a first payment to someone also makes their wallet
    with CaptureQueriesContext(connection) as ctx:
        t = transfer_create(sender=alice, to_user_id=bob.pk, amount=100, currency="USD", pin=None)
        transfer_accept(user=bob, transfer_id=t.pk)
    sql = [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    assert len(sql) == 5, sql
    assert _usd(bob)["balance"] == 101


@pytest.mark.parametrize(
    "body",
    [
        {"to_user_id": 5, "amount": 100, "currency": "USD"},
        {"to_user_id": 5, "amount": 100, "currency": "usd", "pin": "123456", "note": "lunch"},
        {"to_user_id": 5, "amount": 1, "currency": "EUR", "pin": "", "note": "", "x": 1},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "conversation_id": None},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "conversation_id": 7},
        {"to_user_id": 2**63 - 1, "amount": 2**63 - 1, "currency": "USD"},
        {"to_user_id": 2**63, "amount": 100, "currency": "USD"},
        {"to_user_id": 0, "amount": 100, "currency": "USD"},
        {"to_user_id": True, "amount": 100, "currency": "USD"},
        {"to_user_id": "5", "amount": 100, "currency": "USD"},
        {"to_user_id": 5, "amount": 100.0, "currency": "USD"},
        {"to_user_id": 5, "amount": -1, "currency": "USD"},
        {"to_user_id": 5, "amount": 100, "currency": "US"},
        {"to_user_id": 5, "amount": 100, "currency": " USD"},
        {"to_user_id": 5, "amount": 100, "currency": "US\x00"},
        {"to_user_id": 5, "amount": 100, "currency": None},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "pin": "1234567"},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "pin": None},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "note": " lunch "},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "note": "a\nb"},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "note": "n" * 201},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "conversation_id": 0},
        {"to_user_id": 5, "amount": 100, "currency": "USD", "conversation_id": "7"},
        {"amount": 100, "currency": "USD"},
        ["not", "an", "object"],
    ],
)
def test_the_plain_create_input_shortcut_agrees_with_the_serializer(body):
    """The create view skips its serializer for plainly valid bodies (config.plain_input):
    whatever the shortcut accepts, the serializer accepts with the same validated data."""
    from config.plain_input import plain_validated
    from payments.api.transfers import TransferCreateInput

    fast = plain_validated(TransferCreateInput, body)
    if fast is not None:
        data = TransferCreateInput(data=body)
        assert data.is_valid(), data.errors
        assert fast == dict(data.validated_data)


def test_the_plain_create_input_shortcut_takes_the_usual_bodies():
    from config.plain_input import plain_validated
    from payments.api.transfers import TransferCreateInput

    body = {"to_user_id": 5, "amount": 100, "currency": "USD", "pin": "123456", "note": "hi"}
    assert plain_validated(TransferCreateInput, body) == body
    with_chat = {**body, "conversation_id": 9}
    assert plain_validated(TransferCreateInput, with_chat)["conversation_id"] == 9
