"""GET /api/v1/search/messages on both shapes (FTS5 on SQLite, tsvector + pg_trgm on PG)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from chat.models import Message
from chat.services.conversations import member_add, member_remove
from chat.services.messages import message_hide, message_recall, message_send_system
from tests.conftest import client_for, postgres_only

from .history_helpers import direct, group, say

pytestmark = pytest.mark.django_db


def search(client, q, **params):
    r = client.get("/api/v1/search/messages", {"q": q, **params})
    assert r.status_code == 200, r.content
    return r.json()


def texts(page):
    return [hit["message"]["text"] for hit in page["results"]]


@pytest.fixture
def alice(make_user):
    return make_user("Alice")


@pytest.fixture
def bob(make_user):
    return make_user("Bob")


@pytest.fixture
def carol(make_user):
    return make_user("Carol")


def test_finds_words_ranks_and_highlights(alice, bob):
    conv = direct(alice, bob)
    say(alice, conv, "lunch tomorrow at the noodle place?")
    say(bob, conv, "sure, noodle noodle noodle, I love noodle soup")
    say(bob, conv, "unrelated message about the weather")
    page = search(client_for(alice), "noodle")
    assert len(page["results"]) == 2
    assert page["next"] is None
    # The message that says it four times ranks first.
    assert page["results"][0]["message"]["text"].startswith("sure, noodle")
    assert page["results"][0]["rank"] >= page["results"][1]["rank"]
    assert "<mark>noodle</mark>" in page["results"][0]["snippet"].lower()
    hit = page["results"][0]
    assert hit["conversation_id"] == conv.pk and hit["seq"] == 2


def test_several_words_must_all_match(alice, bob):
    conv = direct(alice, bob)
    say(alice, conv, "the red bicycle is fast")
    say(alice, conv, "the blue bicycle is slow")
    assert texts(search(client_for(alice), "red bicycle")) == ["the red bicycle is fast"]
    assert texts(search(client_for(alice), "bicycle -blue")) == ["the red bicycle is fast"]


def test_snippets_escape_html(alice, bob):
    conv = direct(alice, bob)
    say(alice, conv, "look <script>alert(1)</script> pineapple")
    snippet = search(client_for(alice), "pineapple")["results"][0]["snippet"]
    # Markup in a message is never passed through (escaped, or dropped by ts_headline).
    assert "<" not in snippet.replace("<mark>", "").replace("</mark>", "")
    assert "alert(1)" in snippet
    assert "<mark>pineapple</mark>" in snippet


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("我们明天下午三点开会讨论预算", "开会"),
        ("我们明天下午三点开会讨论预算", "讨论预算"),
        ("明日の会議は十時からです", "会議"),
        ("오늘저녁에만나요", "저녁"),
    ],
)
def test_text_without_spaces_is_found(alice, bob, text, query):
    conv = direct(alice, bob)
    say(alice, conv, text)
    say(alice, conv, "something else entirely")
    page = search(client_for(bob), query)
    assert texts(page) == [text]
    assert f"<mark>{query}</mark>" in page["results"][0]["snippet"]


def test_only_my_conversations(alice, bob, carol):
    mine = direct(alice, bob)
    theirs = direct(bob, carol)
    say(alice, mine, "secret plan alpha")
    say(bob, theirs, "secret plan beta")
    assert texts(search(client_for(alice), "secret")) == ["secret plan alpha"]
    assert len(search(client_for(bob), "secret")["results"]) == 2
    # Asking for someone else's conversation by id is a 404, not an empty list.
    r = client_for(alice).get(
        "/api/v1/search/messages", {"q": "secret", "conversation_id": theirs.pk}
    )
    assert r.status_code == 404


def test_in_a_group_only_messages_since_i_joined(alice, bob, carol):
    team = group(alice, bob, title="Team")
    say(alice, team, "budget draft before carol")
    member_add(conversation_id=team.pk, user_ids=[carol.pk], actor=alice)
    say(bob, team, "budget final after carol joined")
    assert texts(search(client_for(carol), "budget")) == ["budget final after carol joined"]
    assert len(search(client_for(alice), "budget")["results"]) == 2


def test_after_leaving_a_group_it_is_not_searched(alice, bob):
    team = group(alice, bob)
    say(alice, team, "quarterly numbers")
    member_remove(conversation_id=team.pk, user_id=bob.pk, actor=bob)
    assert search(client_for(bob), "quarterly")["results"] == []


def test_recalled_hidden_and_system_messages_never_match(alice, bob):
    conv = direct(alice, bob)
    recalled = say(alice, conv, "oops wrong password hunter2")
    message_recall(user=alice, conversation_id=conv.pk, seq=recalled.seq)
    hidden = say(bob, conv, "hidden banana")
    message_hide(user=alice, conversation_id=conv.pk, seq=hidden.seq)
    message_send_system(conversation_id=conv.pk, text="system banana announcement")
    say(bob, conv, "visible banana")
    assert search(client_for(alice), "hunter2")["results"] == []
    assert search(client_for(bob), "hunter2")["results"] == []
    assert texts(search(client_for(alice), "banana")) == ["visible banana"]
    # Delete-for-me hides it from Alice only.
    assert sorted(texts(search(client_for(bob), "banana"))) == ["hidden banana", "visible banana"]


def test_edited_text_is_what_is_searched(alice, bob):
    from chat.services.messages import message_edit

    conv = direct(alice, bob)
    m = say(alice, conv, "meet at the old cafe")
    message_edit(user=alice, conversation_id=conv.pk, seq=m.seq, text="meet at the new library")
    assert search(client_for(bob), "cafe")["results"] == []
    assert texts(search(client_for(bob), "library")) == ["meet at the new library"]


def test_filters_conversation_sender_and_before(alice, bob, carol):
    one = direct(alice, bob)
    two = group(alice, bob, carol)
    say(alice, one, "invoice one from alice")
    say(bob, one, "invoice two from bob")
    old = say(carol, two, "invoice three from carol")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    client = client_for(alice)
    assert len(search(client, "invoice")["results"]) == 3
    assert len(search(client, "invoice", conversation_id=one.pk)["results"]) == 2
    assert texts(search(client, "invoice", **{"from": bob.pk})) == ["invoice two from bob"]
    before = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert texts(search(client, "invoice", before=before)) == ["invoice three from carol"]


def test_cursor_pages_through_every_hit_once(alice, bob):
    conv = direct(alice, bob)
    for i in range(7):
        say(alice, conv, "report " * (1 + i % 3) + f"number {i}")
    client = client_for(alice)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = search(client, "report", **params)
        pages += 1
        seen += [hit["seq"] for hit in page["results"]]
        cursor = page["next"]
        if not cursor:
            break
    assert pages == 3
    assert sorted(seen) == list(range(1, 8))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "ok", "conversation_id": "abc"},
        {"q": "ok", "conversation_id": str(2**64)},
        {"q": "ok", "from": "-1"},
        {"q": "ok", "before": "yesterday"},
        {"q": "ok", "cursor": "!!!"},
        {"q": "ok", "cursor": "eyJyIjoiYSJ9"},
        {"q": "ok", "limit": "0"},
        {"q": "a\x00b"},
    ],
)
def test_bad_input_is_a_400_in_the_one_shape(alice, params):
    r = client_for(alice).get("/api/v1/search/messages", params)
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] in ("invalid", "invalid_cursor")


def test_odd_queries_do_not_break(alice, bob, settings):
    settings.CHAT_SEARCH_RATE = "1000/s"
    conv = direct(alice, bob)
    say(alice, conv, "100% sure_thing \\ back")
    client = client_for(alice)
    for q in ['"unterminated', "-", "or", "!!!", "%", "_", "\\", "a & b | c", "'quote'", "(paren"]:
        r = client.get("/api/v1/search/messages", {"q": q})
        assert r.status_code in (200, 400), (q, r.content)
    # LIKE wildcards in the query are literal characters, not wildcards.
    assert texts(search(client, "100%")) in (["100% sure_thing \\ back"], [])


def test_search_is_rate_limited(alice, settings):
    settings.CHAT_SEARCH_RATE = "2/m"
    client = client_for(alice)
    assert client.get("/api/v1/search/messages", {"q": "a"}).status_code == 200
    assert client.get("/api/v1/search/messages", {"q": "a"}).status_code == 200
    r = client.get("/api/v1/search/messages", {"q": "a"})
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1


def test_needs_a_token(api):
    assert api.get("/api/v1/search/messages", {"q": "x"}).status_code == 401


def test_chinese_matches_the_exact_substring_only(alice, bob):
    conv = direct(alice, bob)
    say(alice, conv, "明天下午开会")
    say(alice, conv, "开车去会场")  # both characters, not next to each other
    say(alice, conv, "会议改到周五")
    client = client_for(bob)
    assert texts(search(client, "开会")) == ["明天下午开会"]
    assert sorted(texts(search(client, "会"))) == sorted(
        ["明天下午开会", "开车去会场", "会议改到周五"]
    )
    assert texts(search(client, "会议 周五")) == ["会议改到周五"]
    assert texts(search(client, "会 -开车")) in (
        ["会议改到周五", "明天下午开会"],
        ["明天下午开会", "会议改到周五"],
    )


@postgres_only
def test_a_word_in_most_messages_comes_newest_first(alice, bob, carol, settings):
    """PostgreSQL pages through a very common word newest first instead of ranking it
    (its statistics say it is in most messages); the same rules hold on that path."""
    from django.db import connection

    from chat import selectors_search
    from config.pagination import decode_cursor

    settings.CHAT_SEARCH_RATE = "1000/s"
    settings.CHAT_SEARCH_MAX_CANDIDATES = 4
    team = group(alice, bob)
    say(alice, team, "hello from before carol joined")
    member_add(conversation_id=team.pk, user_ids=[carol.pk], actor=alice)
    said = [say(bob if i % 2 else alice, team, "hello " * (1 + i % 4) + f"n{i}") for i in range(9)]
    recalled = say(alice, team, "hello recalled")
    message_recall(user=alice, conversation_id=team.pk, seq=recalled.seq)
    message_hide(user=carol, conversation_id=team.pk, seq=said[4].seq)
    say(bob, team, "something else entirely")
    with connection.cursor() as cur:
        cur.execute("ANALYZE chat_message")  # what the planner (and the selector) go by
    selectors_search._FREQS["at"] = -1e9  # forget statistics cached by earlier tests

    client = client_for(carol)
    seen, cursor, pages = [], None, 0
    while True:
        page = search(client, "hello", limit=3, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen += [hit["seq"] for hit in page["results"]]
        assert all("<mark>hello</mark>" in hit["snippet"] for hit in page["results"])
        cursor = page["next"]
        if not cursor:
            break
        assert decode_cursor(cursor)["o"] == "new"  # the newest-first path, not the ranked
    expected = [m.seq for m in reversed(said) if m.seq != said[4].seq]
    assert seen == expected  # newest first, every hit once, hidden / recalled / before
    assert pages == 3  # joining left out


def test_a_quoted_phrase_needs_the_words_side_by_side(alice, bob):
    conv = direct(alice, bob)
    say(alice, conv, "see you later")
    say(bob, conv, "you see, it works")
    say(bob, conv, "banana bread")
    client = client_for(alice)
    assert texts(search(client, '"see you"')) == ["see you later"]
    assert sorted(texts(search(client, "see you"))) == ["see you later", "you see, it works"]
    assert texts(search(client, '"see you" -later')) == []


@postgres_only
def test_phrase_word_pairs_follow_the_parser(alice, bob):
    """PostgreSQL indexes neighbouring words as pairs and narrows phrases by them: a
    phrase still matches across punctuation and inside hyphenated words, as the
    positional match always did, and a pair cannot be typed as a word."""
    conv = direct(alice, bob)
    say(alice, conv, "See, you know it")
    say(alice, conv, "the well-known place, Room 101")
    client = client_for(bob)
    assert texts(search(client, '"see you"')) == ["See, you know it"]
    assert texts(search(client, '"well-known place"')) == ["the well-known place, Room 101"]
    assert texts(search(client, '"room 101"')) == ["the well-known place, Room 101"]
    assert texts(search(client, '"known place" "see you"')) == []
    assert texts(search(client, "'see you'")) == ["See, you know it"]  # two words, not a pair
    # `or` (websearch syntax; PostgreSQL only): the phrase is one alternative, not
    # required of every hit, so its pairs must not narrow the others.
    say(bob, conv, "banana bread")
    assert sorted(texts(search(client, '"see you" or banana'))) == [
        "See, you know it",
        "banana bread",
    ]
