import pytest

from tests.load.servers import start_servers


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            # One xdist worker runs every e2e test, so the servers start once.
            item.add_marker(pytest.mark.xdist_group("e2e"))
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def server():
    servers = start_servers(1)
    yield servers
    servers.stop()
