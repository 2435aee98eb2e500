"""Races on PostgreSQL with real threads: seqs stay gapless, client_id stays unique,
one direct chat per pair."""

import threading
import time

import pytest
from django.db import connection, transaction

from chat.models import Conversation, Membership, Message
from chat.services import stream
from chat.services.conversations import conversation_get_or_create_direct, group_create
from chat.services.messages import message_send, read_mark
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def run_threads(n, target):
    errors, results = [], []
    barrier = threading.Barrier(n)

    def work(i):
        try:
            barrier.wait(timeout=10)
            results.append(target(i))
        except Exception as e:  # collected and asserted below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_concurrent_sends_get_gapless_unique_seqs(user, make_user):
    members = [make_user() for _ in range(8)]
    group = group_create(creator=user, title="race", member_ids=[m.pk for m in members])
    senders = [user, *members]

    def send(i):
        return message_send(
            sender=senders[i % len(senders)],
            conversation_id=group.pk,
            client_id=f"t{i}",
            kind="text",
            text=str(i),
        ).seq

    results, errors = run_threads(24, send)
    assert errors == []
    assert sorted(results) == list(range(1, 25))
    assert Conversation.objects.get(pk=group.pk).last_seq == 24


def test_concurrent_retries_of_one_client_id_store_one_message(user, other_user):
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)

    def send(_i):
        return message_send(
            sender=user, conversation_id=conv.pk, client_id="same", kind="text", text="hi"
        ).pk

    results, errors = run_threads(10, send)
    assert errors == [] and len(set(results)) == 1
    assert Message.objects.filter(conversation=conv).count() == 1
    assert Conversation.objects.get(pk=conv.pk).last_seq == 1


def test_concurrent_first_contact_makes_one_direct_chat(user, other_user):
    def start(i):
        a, b = (user, other_user) if i % 2 else (other_user, user)
        return conversation_get_or_create_direct(user=a, other_user_id=b.pk)[0].pk

    results, errors = run_threads(10, start)
    assert errors == [] and len(set(results)) == 1
    assert Conversation.objects.filter(kind="direct").count() == 1


def _wait_for_a_lock_waiter(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cur.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("nobody waited on a lock")


def test_read_receipt_while_the_same_person_sends_does_not_deadlock(user, other_user):
    """A send locks the conversation, then moves the sender's read mark; a read receipt
    from the sender's other device must take the locks in that same order, else each
    holds what the other waits for and PostgreSQL kills one of them."""
    conv, _ = conversation_get_or_create_direct(user=user, other_user_id=other_user.pk)
    message_send(sender=other_user, conversation_id=conv.pk, client_id="m1", kind="text", text="hi")
    send_holds_the_conversation = threading.Event()

    def work(i):
        if i == 0:  # a send in flight: the conversation row is locked, the read mark next
            with transaction.atomic():
                stream.bump(conv.pk, messages=0, events=0)
                send_holds_the_conversation.set()
                _wait_for_a_lock_waiter()  # the receipt is now queued behind us
                Membership.objects.filter(conversation=conv, user=user).update(last_delivered_seq=1)
            return "sent"
        send_holds_the_conversation.wait(10)
        return read_mark(user_id=user.pk, conversation_id=conv.pk, seq=1)

    results, errors = run_threads(2, work)
    assert errors == []
    assert sorted(results, key=str) == [1, "sent"]
    assert Membership.objects.get(conversation=conv, user=user).last_read_seq == 1
