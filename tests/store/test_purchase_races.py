"""Concurrent purchases on PostgreSQL with real threads: no double charge, books balance."""

import threading

import pytest
from django.db import connection

from payments.selectors import wallet_balance
from payments.services.pin import pin_free_limit_set
from store.models import Entitlement, Purchase
from store.services.purchases import creator_earnings, pack_purchase
from tests.conftest import assert_ledger_balanced, fund_wallet, postgres_only, set_payment_pin
from tests.store.builders import creator_for, published_pack

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def run_threads(n, target):
    results, barrier = [], threading.Barrier(n)

    def work(i):
        try:
            barrier.wait()
            results.append(("ok", target(i)))
        except Exception as exc:  # the outcome is what the test asserts
            results.append(("err", getattr(exc, "code", repr(exc))))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_one_person_buying_twice_at_once_pays_once(make_user):
    buyer = make_user("Racer")
    fund_wallet(buyer, 10_000)
    set_payment_pin(buyer)
    pin_free_limit_set(user=buyer, limit=1000)
    pack = published_pack(creator_for(make_user("C")), price=300, stickers=1)
    results = run_threads(
        8, lambda i: pack_purchase(buyer=buyer, pack_id=pack.pk, expected_price=300)
    )
    assert sorted(r[0] for r in results) == ["err"] * 7 + ["ok"]
    assert {r[1] for r in results if r[0] == "err"} == {"already_owned"}
    assert wallet_balance(user_id=buyer.pk, currency="USD") == 9_700
    assert Entitlement.objects.filter(user=buyer).count() == 1
    assert_ledger_balanced()


def test_many_buyers_of_one_creator_at_once(make_user):
    pack = published_pack(creator_for(make_user("C")), price=100, stickers=1)
    buyers = [make_user(f"B{i}") for i in range(12)]
    for b in buyers:
        fund_wallet(b, 150)
        set_payment_pin(b)
        pin_free_limit_set(user=b, limit=1000)
    results = run_threads(
        12, lambda i: pack_purchase(buyer=buyers[i], pack_id=pack.pk, expected_price=100)
    )
    assert [r[0] for r in results] == ["ok"] * 12
    assert Purchase.objects.filter(pack=pack).count() == 12
    assert creator_earnings(creator_id=pack.creator_id, currency="USD") == 12 * 70
    pack.refresh_from_db()
    assert pack.popularity == 12
    assert_ledger_balanced()
