import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from brands import sales, services
from brands.models import ExclusiveSale, SaleOrder
from payments import ledger
from tests.conftest import assert_ledger_balanced, client_for, fund_wallet, postgres_only


def make_sale(brand, owner, stock=3, price=1500, starts_in=-60):
    return sales.sale_create(
        brand_id=brand.pk,
        acting_user=owner,
        title="Phone X, launch edition",
        price_minor=price,
        stock=stock,
        starts_at=timezone.now() + dt.timedelta(seconds=starts_in),
    )


def buy(client, brand, sale, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/brands/{brand.pk}/sales/{sale.pk}/orders", **headers)


def wallet(user):
    return ledger.user_wallet(user_id=user.pk, currency="USD").balance


@pytest.mark.django_db
def test_buy_once_from_the_wallet_then_sold_out_without_queries(
    brand, owner, make_user, follow, django_assert_num_queries, ledger_balanced
):
    sale = make_sale(brand, owner, stock=2)
    buyers = [follow(make_user()) for _ in range(3)]
    for b in buyers:
        fund_wallet(b, 5000)
    c0 = client_for(buyers[0])
    r = buy(c0, brand, sale, key="k1")
    assert r.status_code == 201 and r.json()["amount_minor"] == 1500
    assert wallet(buyers[0]) == 3500
    # A retry with the key replays; a second tap without it returns the same order: one charge.
    assert buy(c0, brand, sale, key="k1").json()["order_id"] == r.json()["order_id"]
    r2 = buy(c0, brand, sale)
    assert r2.status_code == 200 and r2.json()["order_id"] == r.json()["order_id"]
    assert wallet(buyers[0]) == 3500
    assert buy(client_for(buyers[1]), brand, sale).status_code == 201
    r = buy(client_for(buyers[2]), brand, sale)
    assert r.status_code == 409 and r.json()["error"]["code"] == "sold_out"
    assert wallet(buyers[2]) == 5000
    # Once sold out, the answer comes from the cache: no query beyond authentication.
    c2 = client_for(buyers[2])
    c2.get("/api/v1/brands")  # warm the token path
    with django_assert_num_queries(1):  # the device token lookup, nothing else
        assert buy(c2, brand, sale).status_code == 409
    assert ExclusiveSale.objects.get(pk=sale.pk).stock_left == 0
    assert SaleOrder.objects.filter(sale=sale).count() == 2


@pytest.mark.django_db
def test_rules_not_started_not_following_no_money(brand, owner, make_user, follow, ledger_balanced):
    later = make_sale(brand, owner, starts_in=3600)
    fan = follow(make_user())
    fund_wallet(fan, 5000)
    r = buy(client_for(fan), brand, later)
    assert r.status_code == 422 and r.json()["error"]["code"] == "sale_not_started"
    sale = make_sale(brand, owner, stock=1)
    stranger = make_user()
    fund_wallet(stranger, 5000)
    assert buy(client_for(stranger), brand, sale).status_code == 404
    poor = follow(make_user())
    r = buy(client_for(poor), brand, sale)
    assert r.status_code == 422 and r.json()["error"]["code"] == "insufficient_funds"
    # The unit the poor buyer reserved went back: the fan can still buy the last one.
    assert buy(client_for(fan), brand, sale).status_code == 201
    assert buy(client_for(poor), brand, sale).status_code == 409
    assert buy(client_for(fan), brand, ExclusiveSale(pk=999999)).status_code == 404


@pytest.mark.django_db
def test_gate_lost_from_cache_still_cannot_oversell(
    brand, owner, make_user, follow, ledger_balanced
):
    from django.core.cache import cache

    sale = make_sale(brand, owner, stock=1)
    a, b = follow(make_user()), follow(make_user())
    fund_wallet(a, 5000)
    fund_wallet(b, 5000)
    sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=a)
    cache.delete(sales._gate_key(sale.pk))
    cache.delete(sales._soldout_key(sale.pk))
    with pytest.raises(sales.SoldOut):
        sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=b)
    assert wallet(b) == 5000


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_buyers_never_oversell_or_double_charge(make_user):
    owner = make_user()
    brand = services.brand_create(name="Flash", owner=owner)
    stock, n = 20, 60
    people = []
    for _ in range(n):
        p = make_user()
        services.follow_create(brand=brand, user=p)
        fund_wallet(p, 2000)
        people.append(p)
    sale = make_sale(brand, owner, stock=stock, price=1000)
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def attempt(person):
        try:
            start.wait()
            for _ in range(2):  # everybody double-taps
                try:
                    sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=person)
                    outcome = "ok"
                except sales.SoldOut:
                    outcome = "sold_out"
                with lock:
                    results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 * n
    assert SaleOrder.objects.filter(sale=sale).count() == stock
    assert ExclusiveSale.objects.get(pk=sale.pk).stock_left == 0
    charged = [p for p in people if wallet(p) != 2000]
    assert len(charged) == stock and all(wallet(p) == 1000 for p in charged)
    assert_ledger_balanced()


def _reserve(brand, sale, person):
    return sales.sale_reserve(brand_id=brand.pk, sale_id=sale.pk, user=person)


@pytest.mark.django_db
def test_settlement_is_one_batch_and_a_buyer_without_funds_fails_alone(
    brand, owner, make_user, follow, ledger_balanced
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sale = make_sale(brand, owner, stock=3, price=1000)
    rich = [follow(make_user()) for _ in range(3)]
    poor = follow(make_user())
    for p in rich[:2]:
        fund_wallet(p, 5000)
    fund_wallet(rich[2], 5000)
    # Admission answers at once: three units reserved, nobody charged yet.
    for p in (rich[0], poor, rich[1]):
        assert _reserve(brand, sale, p).status == "reserved"
    assert wallet(rich[0]) == 5000 and SaleOrder.objects.count() == 0
    with CaptureQueriesContext(connection) as few:
        assert sales.sale_settle(sale_id=sale.pk) == 3
    # The poor buyer was refused alone; their unit went back and a late buyer takes it.
    assert sorted(SaleOrder.objects.values_list("user_id", flat=True)) == sorted(
        [rich[0].pk, rich[1].pk]
    )
    assert wallet(rich[0]) == 4000 and wallet(rich[1]) == 4000
    assert sales.sale_order_status(sale_id=sale.pk, user=poor)["reason"] == "insufficient_funds"
    assert _reserve(brand, sale, rich[2]).status == "reserved"
    with CaptureQueriesContext(connection) as one:
        sales.sale_settle(sale_id=sale.pk)
    assert ExclusiveSale.objects.get(pk=sale.pk).stock_left == 0
    if connection.vendor == "postgresql":
        # A batch costs the same statements whether it settles one buyer or three (the
        # embedded shape posts entry by entry in savepoints).
        assert len(few) <= len(one) + 1
    with pytest.raises(sales.SoldOut):
        _reserve(brand, sale, poor)


@pytest.mark.django_db
def test_admission_touches_no_database_and_a_stranger_cannot_keep_a_fans_unit(
    brand, owner, make_user, follow, django_assert_num_queries, ledger_balanced
):
    sale = make_sale(brand, owner, stock=1, price=1000)
    stranger, fan = make_user(), follow(make_user())
    fund_wallet(stranger, 5000)
    fund_wallet(fan, 5000)
    # An attempt is answered by Redis alone, follower or not.
    with django_assert_num_queries(0):
        assert _reserve(brand, sale, stranger).status == "reserved"
    # The stranger's unit was the last one: until settlement, the fan is told sold out.
    with pytest.raises(sales.SoldOut):
        _reserve(brand, sale, fan)
    assert sales.sale_settle(sale_id=sale.pk) == 1
    # Settlement refused the stranger without charging them and gave the unit back.
    assert sales.sale_order_status(sale_id=sale.pk, user=stranger)["reason"] == "not_following"
    assert wallet(stranger) == 5000 and SaleOrder.objects.count() == 0
    assert _reserve(brand, sale, fan).status == "reserved"
    sales.sale_settle(sale_id=sale.pk)
    assert list(SaleOrder.objects.values_list("user_id", flat=True)) == [fan.pk]
    assert wallet(fan) == 4000
    assert ExclusiveSale.objects.get(pk=sale.pk).stock_left == 0


@pytest.mark.django_db
def test_a_settler_dying_after_its_commit_charges_nobody_twice(
    brand, owner, make_user, follow, ledger_balanced
):
    sale = make_sale(brand, owner, stock=5, price=700)
    people = [follow(make_user()) for _ in range(3)]
    for p in people:
        fund_wallet(p, 1000)
        _reserve(brand, sale, p)
    # The settler commits its batch, then dies before recording the outcomes in Redis.
    queued = sales._gate().peek(sale.pk, 10)
    sales._settle_batch(sale.pk, queued)
    assert SaleOrder.objects.count() == 3
    # The next settler finds the committed orders and only records them.
    assert sales.sale_settle(sale_id=sale.pk) == 3
    assert SaleOrder.objects.count() == 3
    assert all(wallet(p) == 300 for p in people)
    assert ExclusiveSale.objects.get(pk=sale.pk).stock_left == 2
    for p in people:
        st = sales.sale_order_status(sale_id=sale.pk, user=p)
        assert st["status"] == "settled" and st["order"].user_id == p.pk


@pytest.mark.django_db
def test_redis_lost_the_gate_is_rebuilt_from_the_database(
    brand, owner, make_user, follow, ledger_balanced
):
    from tests.conftest import clear_cache

    sale = make_sale(brand, owner, stock=2, price=500)
    a, b, c = (follow(make_user()) for _ in range(3))
    for p in (a, b, c):
        fund_wallet(p, 1000)
    first = sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=a)
    clear_cache()  # Redis flushed: gate, buyers, queue, flags all gone
    # The gate comes back from the orders and stock_left: a keeps their order, b gets the
    # last unit, c is told sold out; nobody is charged twice.
    assert sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=a).pk == first.pk
    sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=b)
    with pytest.raises(sales.SoldOut):
        sales.sale_buy(brand_id=brand.pk, sale_id=sale.pk, user=c)
    assert (wallet(a), wallet(b), wallet(c)) == (500, 500, 1000)
    assert ExclusiveSale.objects.get(pk=sale.pk).stock_left == 0


@pytest.mark.django_db
def test_under_a_rush_the_api_answers_reserved_then_the_order(
    brand, owner, make_user, follow, ledger_balanced, settings
):
    sale = make_sale(brand, owner, stock=2, price=800)
    fan = follow(make_user())
    fund_wallet(fan, 1000)
    client = client_for(fan)
    settings.BRANDS_SALE_WAIT_SECONDS = 0.05
    token = sales._gate().lock(sale.pk)  # another settler is busy with this sale
    try:
        r = buy(client, brand, sale)
        assert r.status_code == 202 and r.json()["status"] == "reserved"
        url = f"/api/v1/brands/{brand.pk}/sales/{sale.pk}/orders"
        assert client.get(url).json()["status"] == "reserved"
    finally:
        sales._gate().unlock(sale.pk, token)
    sales.sale_settle(sale_id=sale.pk)
    body = client.get(f"/api/v1/brands/{brand.pk}/sales/{sale.pk}/orders").json()
    assert body["status"] == "settled" and body["order"]["amount_minor"] == 800
    assert wallet(fan) == 200
