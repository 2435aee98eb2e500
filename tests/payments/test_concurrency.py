"""On PostgreSQL, real threads: no deadlock reaches a client and money is conserved."""

import random
import threading
import time

import pytest
from django.db import connection

from config.errors import DomainError
from payments.ledger import ledger_check
from payments.models import Account
from payments.services.pin import pin_free_limit_set, pin_set
from payments.services.transfers import transfer_accept, transfer_create, transfer_return
from tests.conftest import fund_wallet, make_contacts, postgres_only

THREADS, WALLETS, SECONDS = 32, 20, 4.0


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_32_threads_of_random_transfers_among_20_wallets(make_user, settings):
    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 10**12}
    users = [make_user(f"u{i}") for i in range(WALLETS)]
    # Each wallet is a contact of its 4 neighbours on a ring (40 pairs), so transfers
    # cross every wallet in both directions and lock rows in both id orders.
    pairs = [(users[i], users[(i + k) % WALLETS]) for i in range(WALLETS) for k in (1, 2)]
    for a, b in pairs:
        make_contacts(a, b)
    for a in users:
        fund_wallet(a, 10_000)
        pin_set(user=a, pin="123456")
        pin_free_limit_set(user=a, limit=20_000)
    total_before = sum(Account.objects.filter(kind="user_wallet").values_list("balance", flat=True))
    deadline = time.monotonic() + SECONDS
    errors: list[BaseException] = []
    done = {"transfers": 0, "refused": 0}
    lock = threading.Lock()

    def worker(seed: int):
        rng = random.Random(seed)
        try:
            while time.monotonic() < deadline:
                a, b = rng.choice(pairs)
                if rng.random() < 0.5:
                    a, b = b, a
                try:
                    t = transfer_create(
                        sender=a,
                        to_user_id=b.pk,
                        amount=rng.randint(1, 3000),
                        currency="USD",
                        pin=None,
                    )
                except DomainError as exc:
                    assert exc.code == "insufficient_funds", exc.code
                    with lock:
                        done["refused"] += 1
                    continue
                if rng.random() < 0.8:
                    transfer_accept(user=b, transfer_id=t.pk)
                else:
                    transfer_return(user=b, transfer_id=t.pk)
                with lock:
                    done["transfers"] += 1
                # Hand the connection back to the pool after each use case, as a request
                # does: 32 threads then really share the pool's connections (16).
                connection.close()
        except BaseException as exc:  # any deadlock or 500 that reached the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    [t.start() for t in threads]
    [t.join(SECONDS + 60) for t in threads]
    assert not errors, errors[:3]
    assert done["transfers"] > THREADS
    total_after = sum(Account.objects.filter(kind="user_wallet").values_list("balance", flat=True))
    assert total_after == total_before == WALLETS * 10_000
    assert Account.objects.filter(kind="user_wallet", pending_debits__gt=0).count() == 0
    assert ledger_check() == []
