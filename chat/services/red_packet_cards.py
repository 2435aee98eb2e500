"""What chat keeps in the cache about a red packet, so the crowd that comes too late is
answered without the database (docs/RED-PACKETS.md, "Late claims").

A *card* is written after the packet's message commits: its conversation, the
conversation's kind, the sender, and who was a member then. Together with payments'
record of a finished packet it answers a late claim - `red_packet_empty`, `expired` or
`already_claimed` - from one cache round trip. The cache only ever answers refusals:
money moves only after the database has checked membership and taken a share.

The card's member list is as of the send, so it can only be stale for someone who left
since: leaving writes a *left mark* for the person (before and after its commit), and a
claimer with a mark, or not on the card, goes to the database. A missing card, record or
cache (evicted, down) also means the database answers: never a wrong answer, only a
slower one.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection

log = logging.getLogger(__name__)

# As long as payments keeps a finished packet's record: a left mark must outlive every
# card written before the leave.
CARD_TTL_SECONDS = 3 * 86400


def _card_key(packet_id: int) -> str:
    return f"chat:rp:{packet_id}"


def _left_key(user_id: int) -> str:
    return f"chat:left:{user_id}"


def card_write(
    *, packet_id: int, conversation_id: int, kind: str, sender_id: int, member_ids
) -> None:
    """After the send commits. Best effort: without a card the database answers."""
    card = {"c": conversation_id, "k": kind, "s": sender_id, "m": frozenset(member_ids)}
    try:
        cache.set(_card_key(packet_id), card, timeout=CARD_TTL_SECONDS)
    except Exception:
        log.exception("could not write red packet %s's card", packet_id)


def mark_left(user_id: int) -> None:
    """Someone left a conversation: their late claims go to the database for a while
    (cards written before they left still list them)."""
    try:
        cache.set(_left_key(user_id), 1, timeout=CARD_TTL_SECONDS)
    except Exception:
        log.exception("could not mark that user %s left a conversation", user_id)


def late_records(*, packet_id: int, user_id: int, done_key: str):
    """(card, done record, left mark) in one round trip; (None, None, None) when the cache
    cannot say."""
    keys = (_card_key(packet_id), done_key, _left_key(user_id))
    try:
        found = cache.get_many(keys)
    except Exception:  # the cache is down: the database answers
        log.exception("could not read red packet %s's card", packet_id)
        return None, None, None
    return tuple(found.get(k) for k in keys)


def card_lists(card: dict | None, user_id: int, left) -> bool:
    """The card can speak for this person's membership: they were a member at the send and
    have left no conversation since."""
    return card is not None and left is None and user_id in card["m"]


def is_member(*, conversation_id: int, user_id: int) -> bool:
    """The database's word, in one lean statement (this runs for every winning claim)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM chat_membership WHERE conversation_id = %s AND user_id = %s"
            " AND left_at IS NULL",
            [conversation_id, user_id],
        )
        return cur.fetchone() is not None
