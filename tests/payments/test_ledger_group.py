"""payments.ledger_group: concurrent post_entry calls outside a transaction share one
statement and one COMMIT on PostgreSQL, and every caller still gets its own answer."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from payments import ledger, ledger_group
from payments.models import JournalEntry, Posting
from tests.conftest import assert_ledger_balanced, fund_wallet, postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def _shop():
    return ledger.owner_account(kind="brand_wallet", owner_ref="brand:9:sales:0", currency="USD")


class _Blocker:
    """Holds an account's row lock from another connection, so the batch in flight waits
    and every later caller queues behind it: the next batch's content is then known."""

    def __init__(self, account_id: int):
        self.account_id = account_id
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with transaction.atomic():
                ledger.lock_accounts(accounts=[self.account_id])
                self.locked.set()
                self.release.wait(30)
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(30)


def _in_threads(calls):
    """Run each zero-argument call in its own thread; returns their results or errors."""
    out = [None] * len(calls)

    def run(i):
        try:
            out[i] = calls[i]()
        except Exception as exc:
            out[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
        # Start them one by one so the queue order, and so who gets the money, is known.
        time.sleep(0.05)
    return threads, out


def _wait_queued(n: int):
    deadline = time.monotonic() + 10
    while len(ledger_group.group()._queue) < n:
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.01)


def test_queued_entries_post_in_one_batch_each_judged_alone(make_user):
    """Eight people pay a shop 300 while a batch is in flight. Three have the money, five
    do not: the three are posted, each of the five gets its own insufficient_funds, and
    they went to the database as one batch."""
    people = [make_user() for _ in range(8)]
    for p in people[:3]:
        fund_wallet(p, 300)
    shop = _shop()
    wallets = [ledger.user_wallet(user_id=p.pk, currency="USD") for p in people]
    first = make_user()
    fund_wallet(first, 50)
    first_wallet = ledger.user_wallet(user_id=first.pk, currency="USD")
    group = ledger_group.group()
    with _Blocker(shop.pk):
        # The first caller leads a batch of one that waits on the shop's row lock...
        lead, lead_out = _in_threads(
            [lambda: ledger.post_entry(kind="test.pay", postings=[(first_wallet, -50), (shop, 50)])]
        )
        time.sleep(0.2)
        batches_before = group.batches
        # ...and the eight queue behind it (the paying three last, so funds do not
        # depend on timing: each is judged on its own wallet).
        order = [3, 4, 5, 6, 7, 0, 1, 2]
        threads, out = _in_threads(
            [
                (
                    lambda w=wallets[i]: ledger.post_entry(
                        kind="test.pay", postings=[(w, -300), (shop, 300)]
                    )
                )
                for i in order
            ]
        )
        _wait_queued(8)
    for t in lead + threads:
        t.join(30)
    assert isinstance(lead_out[0], JournalEntry)
    assert group.batches == batches_before + 2  # the lead's batch, then the eight at once
    results = dict(zip(order, out, strict=True))
    for i in (0, 1, 2):
        assert isinstance(results[i], JournalEntry), results[i]
        assert results[i].postings.count() == 2
    for i in (3, 4, 5, 6, 7):
        assert isinstance(results[i], ledger.InsufficientFunds), results[i]
    assert [ledger.user_wallet(user_id=p.pk, currency="USD").balance for p in people] == [0] * 8
    shop.refresh_from_db()
    assert shop.balance == 50 + 3 * 300
    # Running balances follow queue order: 50 from the lead, then 350, 650, 950.
    afters = list(
        Posting.objects.filter(account=shop).order_by("id").values_list("balance_after", flat=True)
    )
    assert afters == [50, 350, 650, 950]
    assert_ledger_balanced()


def test_the_same_key_twice_in_a_batch_posts_once_and_other_content_is_a_conflict(make_user):
    payer = make_user()
    fund_wallet(payer, 1000)
    wallet = ledger.user_wallet(user_id=payer.pk, currency="USD")
    shop = _shop()

    def pay(amount):
        return lambda: ledger.post_entry(
            kind="test.pay",
            postings=[(wallet, -amount), (shop, amount)],
            idempotency_key="order:77",
            reference="order:77",
        )

    with _Blocker(shop.pk):
        lead, _ = _in_threads(
            [lambda: ledger.post_entry(kind="test.other", postings=[(wallet, -1), (shop, 1)])]
        )
        time.sleep(0.2)
        threads, out = _in_threads([pay(400), pay(400), pay(500)])
        _wait_queued(3)
    for t in lead + threads:
        t.join(30)
    assert isinstance(out[0], JournalEntry) and isinstance(out[1], JournalEntry)
    assert out[0].pk == out[1].pk
    assert isinstance(out[2], ledger.LedgerConflict)
    assert out[2].code == "entry_exists_with_different_amounts"
    assert JournalEntry.objects.filter(idempotency_key="order:77").count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == 1000 - 1 - 400
    # A later replay answers the same entry.
    again = pay(400)()
    assert again.pk == out[0].pk
    assert_ledger_balanced()


def test_a_grouped_post_is_committed_when_it_returns(make_user):
    payer = make_user()
    fund_wallet(payer, 100)
    wallet = ledger.user_wallet(user_id=payer.pk, currency="USD")
    shop = _shop()
    entry = ledger.post_entry(kind="test.pay", postings=[(wallet, -60), (shop, 60)])
    assert wallet.balance == 40  # the caller's account object gets the posted balance
    seen = {}

    def look():  # another connection, as another process would
        try:
            seen["balance"] = ledger.account_get(account_id=wallet.pk).balance
            seen["entry"] = JournalEntry.objects.filter(pk=entry.pk).exists()
        finally:
            connection.close()

    t = threading.Thread(target=look)
    t.start()
    t.join(10)
    assert seen == {"balance": 40, "entry": True}
    assert_ledger_balanced()


def test_inside_a_transaction_the_entry_commits_with_the_caller(make_user):
    payer = make_user()
    fund_wallet(payer, 100)
    wallet = ledger.user_wallet(user_id=payer.pk, currency="USD")
    shop = _shop()
    group = ledger_group.group()
    before = group.entries
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger.post_entry(kind="test.pay", postings=[(wallet, -60), (shop, 60)])
        raise RuntimeError("the business row failed")
    assert group.entries == before  # not grouped: it rolled back with the caller
    wallet.refresh_from_db()
    assert wallet.balance == 100
    assert not JournalEntry.objects.filter(kind="test.pay").exists()
    assert_ledger_balanced()


def test_with_autocommit_off_the_caller_commits_its_own_entry(make_user):
    payer = make_user()
    fund_wallet(payer, 100)
    wallet = ledger.user_wallet(user_id=payer.pk, currency="USD")
    shop = _shop()
    group = ledger_group.group()
    before = group.entries
    transaction.set_autocommit(False)
    try:
        ledger.post_entry(kind="test.pay", postings=[(wallet, -60), (shop, 60)])
        transaction.rollback()  # the caller's to decide, not a batch's
    finally:
        transaction.set_autocommit(True)
    assert group.entries == before
    wallet.refresh_from_db()
    assert wallet.balance == 100
    assert not JournalEntry.objects.filter(kind="test.pay").exists()
    assert_ledger_balanced()


def test_many_threads_conserve_money_and_refuse_overdrafts(make_user):
    """32 threads move money at random among 10 wallets with little in them: many posts
    are refused, none overdraws, and the books balance."""
    import random

    people = [make_user() for _ in range(10)]
    for p in people:
        fund_wallet(p, 500)
    wallets = [ledger.user_wallet(user_id=p.pk, currency="USD").pk for p in people]
    fee = [ledger.revenue_account(currency="USD", shard=s).pk for s in range(2)]
    counts = {"posted": 0, "refused": 0}
    errors = []
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        try:
            for _ in range(40):
                a, b = rng.sample(wallets, 2)
                amount = rng.randint(2, 200)
                try:
                    ledger.post_entry(
                        kind="test.move",
                        postings=[(a, -amount), (b, amount - 1), (rng.choice(fee), 1)],
                    )
                    with lock:
                        counts["posted"] += 1
                except ledger.InsufficientFunds:
                    with lock:
                        counts["refused"] += 1
                connection.close()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert not errors, errors[:3]
    assert counts["posted"] + counts["refused"] == 32 * 40
    assert counts["posted"] > 0
    balances = [ledger.account_get(account_id=w).balance for w in wallets]
    revenue = ledger.system_balance(code="revenue", currency="USD")
    assert min(balances) >= 0
    assert sum(balances) + revenue == 10 * 500
    assert revenue == counts["posted"]
    assert_ledger_balanced()
