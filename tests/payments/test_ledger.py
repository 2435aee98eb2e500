"""The ledger's promises: balanced, never negative, idempotent, holds accounted for."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from payments import ledger
from payments.models import Account, Posting
from tests.conftest import fund_wallet, postgres_only


def test_post_entry_moves_money_and_records_running_balances(user, other_user):
    fund_wallet(user, 1000)
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    b = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    entry = ledger.post_entry(kind="test.move", postings=[(a, -300), (b, 300)])
    assert (a.balance, b.balance) == (700, 300)
    a.refresh_from_db()
    assert a.balance == 700
    rows = list(
        Posting.objects.filter(entry=entry)
        .order_by("amount")
        .values_list("amount", "balance_after")
    )
    assert rows == [(-300, 700), (300, 300)]


def test_insufficient_funds_is_refused_and_nothing_is_written(user, other_user):
    fund_wallet(user, 100)
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    b = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    before = Posting.objects.count()
    with pytest.raises(ledger.InsufficientFunds) as exc:
        ledger.post_entry(kind="test.move", postings=[(a, -101), (b, 101)])
    assert exc.value.status == 422 and exc.value.code == "insufficient_funds"
    assert Posting.objects.count() == before
    a.refresh_from_db()
    assert a.balance == 100


def test_unbalanced_or_mixed_currency_entries_are_programming_errors(user, other_user):
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    b = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    e = ledger.user_wallet(user_id=other_user.pk, currency="EUR")
    with pytest.raises(ledger.LedgerError):
        ledger.post_entry(kind="x", postings=[(a, -1), (b, 2)])
    with pytest.raises(ledger.LedgerError):
        ledger.post_entry(kind="x", postings=[(a, -1), (e, 1)])
    with pytest.raises(ledger.LedgerError):
        ledger.post_entry(kind="x", postings=[(a, 1.5), (b, -1.5)])


def test_database_refuses_a_negative_wallet_even_bypassing_the_service(user):
    wallet = ledger.user_wallet(user_id=user.pk, currency="USD")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=wallet.pk).update(balance=-1)


def test_same_idempotency_key_returns_the_first_entry_and_conflicts_on_other_content(
    user, other_user
):
    fund_wallet(user, 1000)
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    b = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    first = ledger.post_entry(kind="t", postings=[(a, -10), (b, 10)], idempotency_key="k1")
    again = ledger.post_entry(kind="t", postings=[(a, -10), (b, 10)], idempotency_key="k1")
    assert again.pk == first.pk
    a.refresh_from_db()
    assert a.balance == 990
    with pytest.raises(ledger.LedgerConflict) as exc:
        ledger.post_entry(kind="t", postings=[(a, -11), (b, 11)], idempotency_key="k1")
    assert exc.value.code == "entry_exists_with_different_amounts"
    with pytest.raises(ledger.LedgerConflict) as exc:
        ledger.post_entry(kind="other", postings=[(a, -10), (b, 10)], idempotency_key="k1")
    assert exc.value.code == "entry_exists_with_different_kind"
    fee = ledger.revenue_account(currency="USD", shard=0)
    with pytest.raises(ledger.LedgerConflict) as exc:
        ledger.post_entry(kind="t", postings=[(a, -10), (fee, 10)], idempotency_key="k1")
    assert exc.value.code == "entry_exists_with_different_accounts"


def test_hold_reserves_then_posts_or_voids(user, other_user):
    fund_wallet(user, 500)
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    b = ledger.user_wallet(user_id=other_user.pk, currency="USD")
    hold = ledger.hold_create(kind="transfer", debit=a, credit=b, amount=400)
    a.refresh_from_db()
    assert (a.balance, a.available) == (500, 100)
    # The reserved money cannot be spent twice.
    with pytest.raises(ledger.InsufficientFunds):
        ledger.hold_create(kind="transfer", debit=a, credit=b, amount=101)
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post_entry(kind="t", postings=[(a, -101), (b, 101)])
    ledger.hold_post(hold=hold)
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.balance, a.pending_debits, b.balance) == (100, 0, 400)
    with pytest.raises(ledger.LedgerConflict) as exc:
        ledger.hold_void(hold=hold)
    assert exc.value.code == "hold_already_posted"

    second = ledger.hold_create(kind="transfer", debit=a, credit=b, amount=100)
    ledger.hold_void(hold=second)
    a.refresh_from_db()
    assert (a.balance, a.available) == (100, 100)
    with pytest.raises(ledger.LedgerConflict) as exc:
        ledger.hold_post(hold=second)
    assert exc.value.code == "hold_already_voided"


def test_hold_post_with_fee_split_and_partial_amount(user, other_user):
    fund_wallet(user, 1000)
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    b = ledger.owner_account(kind="escrow", owner_ref="order:1", currency="USD")
    fee = ledger.revenue_account(currency="USD")
    hold = ledger.hold_create(kind="escrow", debit=a, credit=b, amount=600)
    ledger.hold_post(hold=hold, postings=[(a, -500), (b, 490), (fee, 10)])
    a.refresh_from_db()
    assert (a.balance, a.pending_debits) == (500, 0)
    assert ledger.system_balance(code="revenue", currency="USD") == 10


def test_revenue_is_sharded_and_summed(user):
    fund_wallet(user, 1000)
    a = ledger.user_wallet(user_id=user.pk, currency="USD")
    for i in range(16):
        ledger.post_entry(
            kind="fee", postings=[(a, -1), (ledger.revenue_account(currency="USD", shard=i % 8), 1)]
        )
    shards = Account.objects.filter(kind="platform_revenue", currency="USD")
    assert shards.count() == 8
    assert ledger.system_balance(code="revenue", currency="USD") == 16


def test_ledger_check_command_passes_and_fails_on_a_broken_cache(user, capsys):
    fund_wallet(user, 250)
    call_command("ledger_check")
    assert "OK" in capsys.readouterr().out
    wallet = ledger.user_wallet(user_id=user.pk, currency="USD")
    with transaction.atomic():
        sid = transaction.savepoint()
        Account.objects.filter(pk=wallet.pk).update(balance=251)
        with pytest.raises(CommandError):
            call_command("ledger_check")
        transaction.savepoint_rollback(sid)


@postgres_only
def test_postgres_refuses_an_unbalanced_entry_at_commit(user):
    wallet = ledger.user_wallet(user_id=user.pk, currency="USD")
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        entry = ledger.JournalEntry.objects.create(kind="bad")
        Posting.objects.create(
            entry=entry, account=wallet, amount=5, currency="USD", balance_after=5
        )


@postgres_only
def test_postgres_postings_are_append_only(user, other_user):
    fund_wallet(user, 10)
    p = Posting.objects.filter(account__owner=user).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.filter(pk=p.pk).update(amount=1000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.filter(pk=p.pk).delete()
