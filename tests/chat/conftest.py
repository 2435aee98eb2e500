import pytest

from config import realtime


@pytest.fixture
def pushed(monkeypatch):
    """Every event published to people's sockets, as (user_ids, event, skip_channel).
    Captures at the transport boundary (after commit), not inside chat's code."""
    sent: list[tuple[list[int], dict, str | None]] = []

    def capture(user_ids, event, *, skip_channel=None):
        # A batch (config.realtime.push_many_to_users) is one publish of several events.
        for one in event["events"] if event.get("type") == "batch" else [event]:
            sent.append((list(user_ids), one, skip_channel))

    monkeypatch.setattr(realtime, "publish_now", capture)
    return sent


def of_type(pushed, type_):
    return [(ids, ev) for ids, ev, _skip in pushed if ev["type"] == type_]
