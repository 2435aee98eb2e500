"""Buying, claiming, gifting and refunding packs: money, entitlements and the ledger."""

import pytest

from accounts.friends import friend_request_accept, friend_request_send
from payments import ledger
from payments.selectors import wallet_balance
from store.models import Entitlement, Purchase
from store.selectors import sticker_for_user
from store.services import creators
from store.services.purchases import creator_earnings, purchase_refund
from tests.conftest import assert_ledger_balanced, fund_wallet, set_payment_pin
from tests.store.builders import published_pack

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _books_balance(db):
    yield
    assert_ledger_balanced()


@pytest.fixture
def paid_pack(creator):
    return published_pack(creator, title="Party Cats", price=199)


@pytest.fixture
def buyer(user):
    fund_wallet(user, 1000)
    set_payment_pin(user, "246810")
    return user


def buy(client, pack, **body):
    body.setdefault("expected_price", pack.price_amount)
    headers = {}
    if "key" in body:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("key")
    return client.post(f"/api/v1/store/packs/{pack.pk}/purchase", body, format="json", **headers)


def creator_balance(pack):
    return creator_earnings(creator_id=pack.creator_id, currency="USD")


def test_purchase_moves_money_in_one_entry_and_grants_the_pack(buyer, paid_pack, client_of):
    c = client_of(buyer)
    sticker = paid_pack.stickers.first()
    assert sticker_for_user(user_id=buyer.pk, sticker_id=sticker.pk) is None
    r = buy(c, paid_pack, pin="246810", key="k1")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["amount"] == 199 and body["currency"] == "USD" and body["gift"] is False
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 1000 - 199
    # 70% of 199 rounds down to 139 for the creator; the platform keeps 60.
    assert creator_balance(paid_pack) == 139
    assert ledger.system_balance(code="revenue", currency="USD") == 60
    purchase = Purchase.objects.get(pk=body["id"])
    entry = ledger.JournalEntry.objects.get(pk=purchase.entry_id)
    assert entry.kind == "store.purchase"
    assert sorted(entry.postings.values_list("amount", flat=True)) == [-199, 60, 139]
    assert sticker_for_user(user_id=buyer.pk, sticker_id=sticker.pk)["pack_id"] == paid_pack.pk
    mine = c.get("/api/v1/me/sticker-packs").json()["results"]
    assert [p["id"] for p in mine] == [paid_pack.pk]


def test_creator_share_is_per_creator(make_user, buyer, client_of):
    studio = creators.creator_profile_upsert(user=make_user("Big"), display_name="Big Studio")
    studio.revenue_share_bps = 8500
    studio.save(update_fields=["revenue_share_bps"])
    pack = published_pack(studio, price=200)
    assert buy(client_of(buyer), pack, pin="246810").status_code == 201
    assert creator_balance(pack) == 170
    assert ledger.system_balance(code="revenue", currency="USD") == 30


def test_changed_price_is_409_and_charges_nothing(buyer, paid_pack, client_of):
    creators.pack_update(creator=paid_pack.creator, pack_id=paid_pack.pk, price_amount=299)
    r = buy(client_of(buyer), paid_pack, expected_price=199, pin="246810")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "price_changed" and err["price"] == 299 and err["currency"] == "USD"
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 1000
    assert not Entitlement.objects.filter(user=buyer).exists()


def test_expected_price_is_required_for_paid_packs(buyer, paid_pack, client_of):
    r = client_of(buyer).post(
        f"/api/v1/store/packs/{paid_pack.pk}/purchase", {"pin": "246810"}, format="json"
    )
    assert r.status_code == 400 and "expected_price" in r.json()["error"]["fields"]


def test_already_owned_is_409_and_charges_once(buyer, paid_pack, client_of):
    c = client_of(buyer)
    assert buy(c, paid_pack, pin="246810").status_code == 201
    again = buy(c, paid_pack, pin="246810")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_owned"
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 801


def test_already_owned_with_a_new_key_is_409_and_charges_once(buyer, paid_pack, client_of):
    c = client_of(buyer)
    assert buy(c, paid_pack, pin="246810", key="first").status_code == 201
    again = buy(c, paid_pack, pin="246810", key="second")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_owned"
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 1000 - paid_pack.price_amount
    assert Purchase.objects.filter(buyer=buyer).count() == 1
    assert_ledger_balanced()


def test_idempotency_key_replays_the_first_purchase(buyer, paid_pack, client_of):
    c = client_of(buyer)
    first = buy(c, paid_pack, pin="246810", key="same")
    replay = buy(c, paid_pack, pin="246810", key="same")
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Purchase.objects.filter(buyer=buyer).count() == 1
    other = buy(c, paid_pack, expected_price=1, pin="246810", key="same")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_not_enough_money_is_422_and_nothing_changes(user, paid_pack, client_of):
    fund_wallet(user, 100)
    set_payment_pin(user, "246810")
    r = buy(client_of(user), paid_pack, pin="246810")
    assert r.status_code == 422 and r.json()["error"]["code"] == "insufficient_funds"
    assert wallet_balance(user_id=user.pk, currency="USD") == 100
    assert not Purchase.objects.exists() and not Entitlement.objects.exists()


def test_not_enough_money_with_a_key_is_422_remembered_and_nothing_changes(
    user, paid_pack, client_of
):
    # The refusal is the stored answer for the key (a business answer), and the purchase
    # transaction that was refused left nothing behind for it to commit with.
    fund_wallet(user, 100)
    set_payment_pin(user, "246810")
    c = client_of(user)
    first = buy(c, paid_pack, pin="246810", key="broke")
    assert first.status_code == 422 and first.json()["error"]["code"] == "insufficient_funds"
    fund_wallet(user, 1000)
    again = buy(c, paid_pack, pin="246810", key="broke")
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert wallet_balance(user_id=user.pk, currency="USD") == 1100
    assert not Purchase.objects.exists() and not Entitlement.objects.exists()
    fresh = buy(c, paid_pack, pin="246810", key="funded")
    assert fresh.status_code == 201
    assert wallet_balance(user_id=user.pk, currency="USD") == 1100 - paid_pack.price_amount
    assert_ledger_balanced()


def test_pin_is_needed_above_the_password_free_limit(buyer, paid_pack, client_of):
    from payments.services.pin import pin_free_limit_set

    c = client_of(buyer)
    assert buy(c, paid_pack).json()["error"]["code"] == "pin_required"
    assert buy(c, paid_pack, pin="000000").json()["error"]["code"] == "pin_wrong"
    pin_free_limit_set(user=buyer, limit=500)
    assert buy(c, paid_pack).status_code == 201


def test_free_pack_is_claimed_without_money(user, creator, client_of):
    pack = published_pack(creator, price=0)
    r = client_of(user).post(f"/api/v1/store/packs/{pack.pk}/purchase", {}, format="json")
    assert r.status_code == 201 and r.json()["amount"] == 0
    assert Purchase.objects.get().entry_id is None
    assert not ledger.JournalEntry.objects.exists()
    again = client_of(user).post(f"/api/v1/store/packs/{pack.pk}/purchase", {}, format="json")
    assert again.json()["error"]["code"] == "already_owned"


def test_unpublished_or_unknown_pack_is_404(buyer, creator, client_of):
    from tests.store.builders import draft_pack

    draft = draft_pack(creator, price=100)
    assert buy(client_of(buyer), draft, pin="246810").status_code == 404
    r = client_of(buyer).post(
        "/api/v1/store/packs/987654321/purchase", {"expected_price": 1}, format="json"
    )
    assert r.status_code == 404


def befriend(a, b):
    req = friend_request_send(from_user=a, to_user_id=b.pk)
    friend_request_accept(user=b, request_id=req.request.pk)


def test_gift_to_a_contact(buyer, paid_pack, other_user, client_of):
    befriend(buyer, other_user)
    r = client_of(buyer).post(
        f"/api/v1/store/packs/{paid_pack.pk}/gift",
        {"to_user_id": other_user.pk, "expected_price": 199, "pin": "246810"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["gift"] is True and r.json()["recipient_id"] == other_user.pk
    theirs = client_of(other_user).get("/api/v1/me/sticker-packs").json()["results"]
    assert [p["id"] for p in theirs] == [paid_pack.pk]
    assert theirs[0]["gift_from"]["id"] == buyer.pk
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 801
    assert not Entitlement.objects.filter(user=buyer).exists()
    again = client_of(buyer).post(
        f"/api/v1/store/packs/{paid_pack.pk}/gift",
        {"to_user_id": other_user.pk, "expected_price": 199, "pin": "246810"},
        format="json",
    )
    assert again.json()["error"]["code"] == "already_owned"


def test_gift_to_a_stranger_is_404(buyer, paid_pack, other_user, client_of):
    r = client_of(buyer).post(
        f"/api/v1/store/packs/{paid_pack.pk}/gift",
        {"to_user_id": other_user.pk, "expected_price": 199, "pin": "246810"},
        format="json",
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_a_contact"
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 1000


def test_refund_reverses_the_entry_and_takes_the_pack_back(buyer, paid_pack, client_of):
    r = buy(client_of(buyer), paid_pack, pin="246810")
    purchase = purchase_refund(purchase_id=r.json()["id"], reason="accidental purchase")
    assert purchase.status == "refunded" and purchase.refund_entry_id
    reversal = ledger.JournalEntry.objects.get(pk=purchase.refund_entry_id)
    assert sorted(reversal.postings.values_list("amount", flat=True)) == [-139, -60, 199]
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 1000
    assert creator_balance(paid_pack) == 0
    assert ledger.system_balance(code="revenue", currency="USD") == 0
    assert not Entitlement.objects.filter(user=buyer).exists()
    with pytest.raises(Exception) as twice:
        purchase_refund(purchase_id=purchase.pk)
    assert twice.value.code == "already_refunded"
    # Refunded, the person may buy it again.
    assert buy(client_of(buyer), paid_pack, pin="246810").status_code == 201


def test_a_creators_sales_spread_over_shards_of_their_earnings(
    make_user, creator, client_of, settings
):
    # A best-seller's buyers must not all queue on one earnings row: each purchase credits
    # a random shard; the creator's earnings are the sum, and a refund debits the shard
    # that was credited.
    settings.LEDGER_HOT_ACCOUNT_SHARDS = 4
    settings.STORE_PURCHASE_RATE = "100/s"
    packs = [published_pack(creator, title=f"P{i}", price=100) for i in range(16)]
    person = make_user("Fan")
    fund_wallet(person, 10_000)
    set_payment_pin(person, "246810")
    c = client_of(person)
    answers = [buy(c, p, pin="246810") for p in packs]
    assert [r.status_code for r in answers] == [201] * 16, answers[-1].content
    ids = [r.json()["id"] for r in answers]
    shards = ledger.Account.objects.filter(kind="creator_earnings", owner__isnull=True)
    refs = set(shards.values_list("owner_ref", flat=True))
    assert len(refs) > 1  # 16 sales on one of 4 shards: (1/4)^15
    assert refs <= {f"creator:{creator.pk}"} | {f"creator:{creator.pk}:{k}" for k in (1, 2, 3)}
    assert creator_earnings(creator_id=creator.pk, currency="USD") == 16 * 70
    purchase_refund(purchase_id=ids[0])
    assert creator_earnings(creator_id=creator.pk, currency="USD") == 15 * 70
    assert all(a.balance >= 0 for a in shards)


def _wallet_events(user) -> list[dict]:
    from chat.models import UserEvent

    rows = UserEvent.objects.filter(user_id=user.pk).order_by("seq")
    return [e.event for e in rows if e.event["type"] == "wallet.updated"]


def test_wallet_updated_carries_every_wallet_after_the_purchase(buyer, paid_pack, client_of):
    # The event lists all the buyer's wallets as they are after the purchase (the debited
    # one and any other currency), and a refused purchase says nothing.
    fund_wallet(buyer, 500, currency="EUR")
    seen = len(_wallet_events(buyer))
    assert buy(client_of(buyer), paid_pack, pin="246810").status_code == 201
    assert _wallet_events(buyer)[seen:] == [
        {
            "type": "wallet.updated",
            "currency": "USD",
            "balances": [
                {"currency": "EUR", "balance": 500, "available": 500, "pending": 0},
                {"currency": "USD", "balance": 801, "available": 801, "pending": 0},
            ],
        }
    ]
    dear = published_pack(paid_pack.creator, title="Dear", price=5000)
    assert buy(client_of(buyer), dear, pin="246810").status_code == 422
    assert len(_wallet_events(buyer)) == seen + 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"expected_price": -1}, "expected_price"),
        ({"expected_price": 10**12 + 1}, "expected_price"),
        ({"expected_price": "abc"}, "expected_price"),
        ({"expected_price": None}, "expected_price"),
        ({"expected_price": True}, "expected_price"),
        ({"expected_price": 199, "expected_currency": "US"}, "expected_currency"),
        ({"expected_price": 199, "expected_currency": None}, "expected_currency"),
        ({"expected_price": 199, "pin": "1234567"}, "pin"),
        ({"expected_price": 199, "pin": 246810}, None),  # a number: DRF takes it as text
    ],
)
def test_purchase_body_is_validated_like_the_serializer(buyer, paid_pack, client_of, body, field):
    # The usual body is checked by hand (no serializer); every other body goes through
    # StorePurchaseInput, so the answers are the serializer's.
    body = {"pin": "246810", **body} if "pin" not in body else body
    r = client_of(buyer).post(f"/api/v1/store/packs/{paid_pack.pk}/purchase", body, format="json")
    if field is None:
        assert r.status_code == 201, r.content
    else:
        assert r.status_code == 400, r.content
        assert field in r.json()["error"]["fields"]
    assert wallet_balance(user_id=buyer.pk, currency="USD") == (801 if field is None else 1000)


def test_a_price_sent_as_text_is_read_as_the_serializer_reads_it(buyer, paid_pack, client_of):
    r = buy(
        client_of(buyer), paid_pack, expected_price="199", expected_currency="usd", pin="246810"
    )
    assert r.status_code == 201, r.content
