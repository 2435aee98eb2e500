import pytest

from tests.conftest import assert_ledger_balanced


@pytest.fixture(autouse=True)
def _ledger_checked_after_each_test(db):
    """Every payments test ends with the books proven balanced (set up after the
    database, so this check runs before the test's data is rolled back)."""
    yield
    assert_ledger_balanced()
