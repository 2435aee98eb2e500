"""Fixtures shared by every app's tests. Data is built through real services."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import sms
from accounts.services import device_token_issue, user_get_or_create_by_phone

_phones = itertools.count(1000)

postgres_only = pytest.mark.skipif(
    not settings.DATABASE_IS_POSTGRES, reason="needs PostgreSQL (runs in the second shape)"
)


@pytest.fixture(autouse=True, scope="session")
def _close_pooled_connections_at_the_end(django_db_setup, django_db_blocker):
    """Before the test databases are dropped (PostgreSQL): close psycopg's pool, where the
    application's worker threads hand their connections back, and end the sessions that
    other threads of this process left open (consumers' database threads, asgiref's
    shared thread). Otherwise the drop fails with 'being accessed by other users'."""
    yield
    from django.db import connection

    # Only where this process made a test database (the browser tests' process talks to
    # live servers and has none).
    if connection.vendor != "postgresql" or not connection.settings_dict["NAME"].startswith(
        "test_"
    ):
        return
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


def _only_test_atomics(connection) -> bool:
    return connection.in_atomic_block and all(
        getattr(a, "_from_testcase", False) for a in connection.atomic_blocks
    )


@pytest.fixture(autouse=True, scope="session")
def _on_commit_like_production():
    """Inside a test's wrapping transaction, run on_commit callbacks when the code's own
    outermost atomic block exits, as a real commit would. Rolled-back work never fires."""
    from django.db import transaction
    from django.db.backends.base.base import BaseDatabaseWrapper

    original_exit = transaction.Atomic.__exit__
    original_on_commit = BaseDatabaseWrapper.on_commit

    def exit_(self, exc_type, exc_value, traceback):
        result = original_exit(self, exc_type, exc_value, traceback)
        connection = transaction.get_connection(self.using)
        if _only_test_atomics(connection) and connection.run_on_commit:
            callbacks, connection.run_on_commit = connection.run_on_commit, []
            if exc_type is None:
                for _sids, func, _robust in callbacks:
                    func()
        return result

    def on_commit(self, func, robust=False):
        if _only_test_atomics(self):
            func()
            return
        original_on_commit(self, func, robust)

    transaction.Atomic.__exit__ = exit_
    BaseDatabaseWrapper.on_commit = on_commit
    yield
    transaction.Atomic.__exit__ = original_exit
    BaseDatabaseWrapper.on_commit = original_on_commit


@pytest.fixture(autouse=True)
def _isolated_side_effects(settings):
    settings.SMS_BACKEND = "accounts.sms.LocmemBackend"
    sms.outbox.clear()
    clear_cache()
    yield
    sms.outbox.clear()


def clear_cache() -> None:
    """Forget rate-limit counters and cached pages between tests. On Redis only this run's
    keys go (its own prefix), never another run's: FLUSHDB would wipe parallel runs."""
    if settings.REDIS_URL:
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


def new_phone() -> str:
    # +1 415 555 01xx numbers are valid and reserved for fiction.
    n = next(_phones)
    return f"+1415555{n % 10000:04d}"


@pytest.fixture
def make_user(db):
    def make(display_name: str = "", **profile):
        user, _ = user_get_or_create_by_phone(phone=new_phone())
        if display_name or profile:
            for k, v in {"display_name": display_name, **profile}.items():
                setattr(user, k, v)
            user.save()
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("Alice")


@pytest.fixture
def other_user(make_user):
    return make_user("Bob")


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {device_token_issue(user=user)}")
    client.user = user
    return client


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def auth_client(user):
    return client_for(user)


@pytest.fixture
def client_of():
    return client_for


# --- money helpers (payments) ---------------------------------------------------------


def assert_ledger_balanced() -> None:
    """Fail the test if the books do not balance (the same proof as `manage.py
    ledger_check`). Call it at the end of every test that moves money."""
    from payments.ledger import ledger_check

    problems = ledger_check()
    assert not problems, "ledger_check failed:\n" + "\n".join(problems)


def fund_wallet(user, amount: int, currency: str = "USD") -> None:
    """Put money into `user`'s wallet through a real service (an operator credit from the
    platform funding account), so the ledger stays balanced."""
    from payments.services.funding import operator_credit

    operator_credit(user_id=user.pk, amount=amount, currency=currency, reason="test funding")


def set_payment_pin(user, pin: str = "123456") -> str:
    from payments.services.pin import pin_set

    pin_set(user=user, pin=pin)
    return pin


@pytest.fixture
def ledger_balanced(db):
    """Use in a money test: checks `ledger_check` when the test ends."""
    yield
    assert_ledger_balanced()


def make_contacts(a, b) -> None:
    """Make two people contacts through the real friend-request services."""
    from accounts.friends import friend_request_send

    friend_request_send(from_user=a, to_user=b)
    friend_request_send(from_user=b, to_user=a)  # they asked me too: contacts at once
