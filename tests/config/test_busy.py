"""An exhausted connection pool is overload: 503 with Retry-After, never a 500."""

from __future__ import annotations

import psycopg_pool
from django.db import OperationalError

from config.errors import api_exception_handler


def _pool_timeout() -> OperationalError:
    try:
        try:
            raise psycopg_pool.PoolTimeout("couldn't get a connection after 10.00 sec")
        except psycopg_pool.PoolTimeout as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        return wrapped


def test_pool_timeout_is_503_with_retry_after():
    response = api_exception_handler(_pool_timeout(), {})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.data["error"]["code"] == "server_busy"


def test_other_database_errors_are_not_disguised():
    assert api_exception_handler(OperationalError("disk full"), {}) is None
