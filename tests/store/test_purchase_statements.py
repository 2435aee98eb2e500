"""What one purchase costs the database: statements counted, not timed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.services.pin import pin_free_limit_set
from tests.conftest import assert_ledger_balanced, fund_wallet, set_payment_pin
from tests.store.builders import published_pack

pytestmark = pytest.mark.django_db


def test_a_paid_purchase_is_a_fixed_handful_of_statements(user, creator, client_of, settings):
    settings.LEDGER_HOT_ACCOUNT_SHARDS = 1  # every revenue shard exists after the first sale
    settings.STORE_POPULARITY_FLUSH_SECONDS = 3600  # popularity is counted, not written yet
    fund_wallet(user, 100_000)
    set_payment_pin(user, "246810")
    pin_free_limit_set(user=user, limit=20000)
    first, second = (published_pack(creator, title=f"P{i}", price=100) for i in range(2))
    c = client_of(user)

    def buy(pack, key):
        return c.post(
            f"/api/v1/store/packs/{pack.pk}/purchase",
            {"expected_price": 100},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    assert buy(first, "a").status_code == 201  # creates the creator's earnings account
    with CaptureQueriesContext(connection) as ctx:
        assert buy(second, "b").status_code == 201
    sql = [q["sql"] for q in ctx.captured_queries]
    store = [q for q in sql if "store_" in q]
    # The store's own statements: one read (the pack, its creator, whether it is already
    # owned, the three ledger account ids and the buyer's PIN record), then the purchase
    # row and the entitlement.
    # The popularity count is added later, many purchases to one UPDATE.
    if connection.vendor == "postgresql":
        # The same read inside a PL/pgSQL function (its plan cached per connection).
        assert store[0].startswith("SELECT * FROM store_checkout(")
    else:
        assert "FROM store_pack" in store[0] and "store_entitlement" in store[0]
        assert "payments_paymentpin" in store[0]
    assert not [q for q in sql if "payments_paymentpin" in q and "store_pack" not in q]
    if connection.vendor == "postgresql":
        # ONE statement writes the ledger entry, the purchase and the entitlement (the
        # creator's and the revenue shard's rows stay locked for no other round trip).
        assert len(store) == 2, store
        assert "payments_ledger_post" in store[1]
        assert "INSERT INTO store_purchase" in store[1]
        assert "INSERT INTO store_entitlement" in store[1]
        # ... and the Idempotency-Key's stored answer, and the wallet.updated record is
        # written in the same transaction (no read or commit of its own after it).
        assert "INSERT INTO payments_idempotencyrecord" in store[1]
        assert not [q for q in sql if q.startswith("INSERT INTO payments_idempotencyrecord")]
        assert not [q for q in sql if "FROM payments_account" in q and "store_" not in q]
    else:
        assert len(store) == 3, store
        assert store[1].startswith('INSERT INTO "store_purchase"')
        assert store[2].startswith('INSERT INTO "store_entitlement"')
    # The whole request — token, Idempotency-Key lookup, the checkout read, the purchase
    # statement, the wallet.updated record — and its transaction control (savepoints
    # here; BEGIN/COMMIT in production). It was 24, then 20, then 13 on PostgreSQL; the
    # portable path (SQLite) posts the entry and the rows, and the answer, on their own.
    assert len(sql) <= (7 if connection.vendor == "postgresql" else 21), "\n".join(sql)
    assert_ledger_balanced()


def test_popularity_is_added_many_purchases_to_one_statement(
    user, creator, client_of, settings, django_assert_num_queries
):
    from store.models import Pack
    from store.services.purchases import popularity_flush

    settings.STORE_POPULARITY_FLUSH_SECONDS = 3600
    popularity_flush()  # nothing left over from another test
    fund_wallet(user, 100_000)
    set_payment_pin(user, "246810")
    pin_free_limit_set(user=user, limit=20000)
    packs = [published_pack(creator, title=f"P{i}", price=100, stickers=1) for i in range(3)]
    c = client_of(user)
    for p in packs:
        r = c.post(f"/api/v1/store/packs/{p.pk}/purchase", {"expected_price": 100}, format="json")
        assert r.status_code == 201
    assert [Pack.objects.get(pk=p.pk).popularity for p in packs] == [0, 0, 0]
    with django_assert_num_queries(1):
        assert popularity_flush() == 3
    assert [Pack.objects.get(pk=p.pk).popularity for p in packs] == [1, 1, 1]
    assert popularity_flush() == 0
    assert_ledger_balanced()
