"""payments.ledger_batch: many balanced entries in one transaction, each refused alone."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from payments import ledger, ledger_batch
from payments.models import JournalEntry
from tests.conftest import fund_wallet


def _shop():
    return ledger.owner_account(kind="brand_wallet", owner_ref="brand:77:sales:0", currency="USD")


def _entries(people, shop, price, tag="a"):
    return [
        ledger_batch.Entry(
            key=f"test.batch:{tag}:{p.pk}",
            reference=f"test:{p.pk}",
            lines={ledger.user_wallet(user_id=p.pk, currency="USD").pk: -price, shop.pk: price},
        )
        for p in people
    ]


@pytest.mark.django_db
def test_a_batch_posts_each_entry_and_refuses_the_one_without_funds(make_user, ledger_balanced):
    people = [make_user() for _ in range(4)]
    for p in people[:3]:
        fund_wallet(p, 1000)
    shop = _shop()
    with transaction.atomic():
        out = ledger_batch.post_entries(kind="test.batch", entries=_entries(people, shop, 600))
    assert len(out.posted) == 3 and out.refused == [f"test.batch:a:{people[3].pk}"]
    assert [ledger.user_wallet(user_id=p.pk, currency="USD").balance for p in people] == [
        400,
        400,
        400,
        0,
    ]
    shop.refresh_from_db()
    assert shop.balance == 1800
    # A replay posts nothing again; the same key with other amounts is a conflict.
    with transaction.atomic():
        again = ledger_batch.post_entries(
            kind="test.batch", entries=_entries(people[:3], shop, 600)
        )
    assert again.existing == out.posted and not again.posted
    with pytest.raises(ledger.LedgerConflict), transaction.atomic():
        ledger_batch.post_entries(kind="test.batch", entries=_entries(people[:1], shop, 500))
    assert JournalEntry.objects.filter(kind="test.batch").count() == 3


@pytest.mark.django_db
def test_one_wallet_twice_in_a_batch_keeps_its_running_balance(make_user, ledger_balanced):
    p = make_user()
    fund_wallet(p, 1000)
    shop = _shop()
    wallet = ledger.user_wallet(user_id=p.pk, currency="USD")
    entries = [
        ledger_batch.Entry(
            key=f"test.twice:{i}", reference="t", lines={wallet.pk: -400, shop.pk: 400}
        )
        for i in range(3)
    ]
    with transaction.atomic():
        out = ledger_batch.post_entries(kind="test.batch", entries=entries)
    assert len(out.posted) == 2 and out.refused == ["test.twice:2"]
    wallet.refresh_from_db()
    assert wallet.balance == 200


@pytest.mark.django_db
def test_statements_do_not_grow_with_the_batch_on_postgres(make_user, ledger_balanced):
    if connection.vendor != "postgresql":
        pytest.skip("the embedded shape posts entry by entry")
    shop = _shop()
    people = [make_user() for _ in range(30)]
    for p in people:
        fund_wallet(p, 100)
    counts = []
    for tag, group in (("s", people[:3]), ("l", people[3:])):
        entries = _entries(group, shop, 50, tag)
        with CaptureQueriesContext(connection) as q, transaction.atomic():
            ledger_batch.post_entries(kind="test.batch", entries=entries)
        counts.append(len(q))
    assert counts[0] == counts[1]
