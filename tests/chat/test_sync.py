import pytest

from chat.selectors import sync_cursor_now, sync_page
from chat.services.conversations import (
    conversation_get_or_create_direct,
    group_create,
    member_add,
    member_remove,
)
from chat.services.messages import message_edit, message_recall, message_send, read_mark

pytestmark = pytest.mark.django_db


def send(sender, cid, client_id, text="hi"):
    return message_send(
        sender=sender, conversation_id=cid, client_id=client_id, kind="text", text=text
    )


def drain(user_id, cursor, limit=200):
    events = []
    while True:
        page = sync_page(user_id, cursor, limit=limit)
        events += page["events"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return events, cursor


def test_fifty_messages_missed_come_back_once_in_order(user, other_user, pushed):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    cursor = sync_cursor_now(other_user.pk)
    for i in range(50):
        send(user, conv.pk, f"m{i}", text=f"n{i}")
    events, cursor = drain(other_user.pk, cursor, limit=7)
    assert [e["message"]["seq"] for e in events] == list(range(1, 51))
    assert {e["type"] for e in events} == {"message.new"}
    # Each replayed event is exactly the frame that was pushed.
    live = [ev for _ids, ev, _s in pushed if ev["type"] == "message.new"]
    assert events == live
    again, _ = drain(other_user.pk, cursor)
    assert again == []


def test_without_since_only_a_cursor(auth_client):
    body = auth_client.get("/api/v1/sync").json()
    assert body["events"] == [] and body["cursor"] and body["has_more"] is False


def test_sync_over_rest_pages(auth_client, user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    cursor = auth_client.get("/api/v1/sync").json()["cursor"]
    for i in range(5):
        send(other_user, conv.pk, f"r{i}")
    r = auth_client.get("/api/v1/sync", {"since": cursor, "limit": 3}).json()
    assert r["has_more"] is True and len(r["events"]) == 3
    r2 = auth_client.get("/api/v1/sync", {"since": r["cursor"], "limit": 3}).json()
    assert r2["has_more"] is False
    assert [e["message"]["seq"] for e in r["events"] + r2["events"]] == [1, 2, 3, 4, 5]
    assert auth_client.get("/api/v1/sync", {"since": "garbage!"}).status_code == 400


def test_edits_recalls_receipts_and_membership_are_synced(user, other_user, make_user):
    carol = make_user("Carol")
    group = group_create(creator=user, title="G", member_ids=[other_user.pk])
    cursor = sync_cursor_now(other_user.pk)
    m = send(user, group.pk, "a", "helo")
    message_edit(user=user, conversation_id=group.pk, seq=m.seq, text="hello")
    send(user, group.pk, "b", "oops")
    message_recall(user=user, conversation_id=group.pk, seq=2)
    read_mark(user_id=user.pk, conversation_id=group.pk, seq=2)
    member_add(conversation_id=group.pk, user_ids=[carol.pk], actor=user)
    member_remove(conversation_id=group.pk, user_id=carol.pk, actor=carol)
    events, _ = drain(other_user.pk, cursor)
    assert [e["type"] for e in events] == [
        "message.new",
        "message.edited",
        "message.new",
        "message.recalled",
        "member.joined",
        "member.left",
    ]
    # A recalled message replays without its content; the edit replays the new text.
    assert events[2]["message"]["text"] == "" and events[2]["message"]["recalled_at"]
    assert events[1]["message"]["text"] == "hello"
    # user's own read of 2 is not news: sender's read position already covered it.


def test_new_conversation_after_cursor_is_synced_from_its_start(user, other_user):
    cursor = sync_cursor_now(other_user.pk)
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    send(user, conv.pk, "first")
    events, _ = drain(other_user.pk, cursor)
    assert [e["type"] for e in events] == ["member.joined", "member.joined", "message.new"]


def test_after_leaving_nothing_more_but_the_leave_itself(user, other_user):
    group = group_create(creator=user, title="G", member_ids=[other_user.pk])
    cursor = sync_cursor_now(other_user.pk)
    send(user, group.pk, "1")
    member_remove(conversation_id=group.pk, user_id=other_user.pk, actor=other_user)
    send(user, group.pk, "2", "secret")
    events, cursor = drain(other_user.pk, cursor)
    assert [e["type"] for e in events] == ["message.new", "member.left"]
    send(user, group.pk, "3", "secret too")
    assert drain(other_user.pk, cursor)[0] == []


def test_read_receipts_reach_the_sender(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    send(user, conv.pk, "x")
    cursor = sync_cursor_now(user.pk)
    read_mark(user_id=other_user.pk, conversation_id=conv.pk, seq=1)
    read_mark(user_id=other_user.pk, conversation_id=conv.pk, seq=1)  # no news twice
    events, _ = drain(user.pk, cursor)
    assert events == [
        {"type": "receipt.read", "conversation_id": conv.pk, "user_id": other_user.pk, "seq": 1}
    ]


def test_events_outside_conversations_are_replayed_too(user, other_user, make_user):
    from django.db import transaction

    from chat.services.conversations import membership_settings_update
    from config.realtime import push_to_users

    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    cursor = sync_cursor_now(user.pk)
    with transaction.atomic():  # any app's push, e.g. payments' wallet.updated
        push_to_users([user.pk], {"type": "wallet.updated", "currency": "USD", "balances": []})
    send(other_user, conv.pk, "m")
    membership_settings_update(user=user, conversation_id=conv.pk, muted=True)
    with transaction.atomic():
        push_to_users([user.pk], {"type": "typing", "conversation_id": 1}, durable=False)
    events, cursor = drain(user.pk, cursor, limit=1)
    assert [e["type"] for e in events] == ["wallet.updated", "message.new", "conversation.updated"]
    assert events[2]["changes"] == {"muted": True}
    assert drain(user.pk, cursor)[0] == []
    # Other people's private events are not mine.
    assert drain(other_user.pk, sync_cursor_now(other_user.pk))[0] == []


def test_each_person_their_own_event_recorded_in_the_transaction(user, other_user, monkeypatch):
    # config.realtime.push_each_to_users(record_now=True): recorded at once (one statement
    # on PostgreSQL), rolled back with the caller's transaction, published after commit
    # in one go (publish_each_now).
    from django.db import transaction

    from config import realtime

    pushed = []
    monkeypatch.setattr(realtime, "publish_each_now", lambda frames: pushed.extend(frames))
    mine, theirs = sync_cursor_now(user.pk), sync_cursor_now(other_user.pk)
    frames = [
        (other_user.pk, {"type": "wallet.updated", "currency": "USD", "balances": [2]}),
        (user.pk, {"type": "wallet.updated", "currency": "USD", "balances": [1]}),
    ]
    with pytest.raises(RuntimeError), transaction.atomic():
        realtime.push_each_to_users(frames, record_now=True)
        raise RuntimeError("rolled back")
    assert drain(user.pk, mine)[0] == [] and pushed == []
    with transaction.atomic():
        realtime.push_each_to_users(frames, record_now=True)
        assert [e["balances"] for e in drain(user.pk, mine)[0]] == [[1]]
        assert pushed == []
    assert [e["balances"] for e in drain(other_user.pk, theirs)[0]] == [[2]]
    assert pushed == frames
    # The same person twice: both recorded, in order.
    with transaction.atomic():
        realtime.push_each_to_users(
            [(user.pk, frames[1][1]), (user.pk, frames[0][1])], record_now=True
        )
    assert [e["balances"] for e in drain(user.pk, mine)[0]] == [[1], [1], [2]]
