"""Red packets: escrow at creation, pre-cut shares, claims, and the return of the rest.

The money: creating a packet moves the whole total from the sender's wallet into the
packet's own escrow account in one entry; each claim moves one share from escrow to the
claimer; after 24 h the unclaimed rest goes back to the sender. Escrow therefore always
equals the unclaimed remainder, which `red_packets_check` proves.

The split (docs/RED-PACKETS.md): shares are cut once, at creation, by *line cutting* —
choose count−1 distinct cut points uniformly among the total−1 gaps between minor
units. Every share is ≥ 1 unit, the shares sum exactly to the total, and the joint
distribution is exchangeable, so no position (first grabber, last grabber) is favoured.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from config.errors import Conflict, DomainError, InvalidInput, NotFound

from .. import ledger, sql_rows
from ..models import AccountKind, RedPacket, RedPacketShare, RedPacketStatus
from .events import wallet_changed

log = logging.getLogger(__name__)
_system_rng = random.SystemRandom()


class RedPacketEmpty(Conflict):
    code = "red_packet_empty"
    message = "Every share of this red packet has been claimed."


class RedPacketExpired(Conflict):
    code = "red_packet_expired"
    message = "This red packet has expired; the rest went back to the sender."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    message = "You already claimed a share of this red packet."


# --- the split ------------------------------------------------------------------------


def split_random(total: int, count: int, rng: random.Random | None = None) -> list[int]:
    """Cut `total` minor units into `count` shares, each ≥ 1, summing to `total`."""
    if count < 1 or total < count:
        raise ValueError("need total >= count >= 1")
    rng = rng or _system_rng
    cuts = sorted(rng.sample(range(1, total), count - 1))
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def split_equal(total: int, count: int) -> list[int]:
    if count < 1 or total % count:
        raise ValueError("an equal split needs a total divisible by count")
    return [total // count] * count


# --- listeners (chat updates its red packet message without payments importing chat) ---

RedPacketListener = Callable[[RedPacket, str], None]
_listeners: list[RedPacketListener] = []


def on_red_packet_change(listener: RedPacketListener) -> RedPacketListener:
    """Register `listener(packet, event)`; event is "claimed", "empty" or "expired".
    Called inside the service's transaction; use on_commit for pushes."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def _changed(packet: RedPacket, event: str) -> None:
    for listener in list(_listeners):
        listener(packet, event)


# --- create ---------------------------------------------------------------------------


def _limits(currency: str) -> tuple[int, int]:
    return settings.RED_PACKET_MAX_TOTAL, settings.RED_PACKET_MAX_COUNT


def red_packet_validate(*, total: int, count: int, split: str, currency: str) -> None:
    max_total, max_count = _limits(currency)
    fields = {}
    if not 1 <= count <= max_count:
        fields["count"] = [f"Between 1 and {max_count} shares."]
    if not 1 <= total <= max_total:
        fields["total"] = [f"Between 1 and {max_total} minor units."]
    elif total < count:
        fields["total"] = ["Every share needs at least one minor unit: total must be ≥ count."]
    elif split == RedPacket.Split.EQUAL and count and total % count:
        fields["total"] = ["An equal split needs a total divisible by count."]
    if split not in RedPacket.Split.values:
        fields["split"] = ["random or equal."]
    if fields:
        raise InvalidInput(next(iter(fields.values()))[0], fields=fields)


def red_packet_create(
    *,
    sender,
    context_ref: str,
    total: int,
    count: int,
    split: str,
    currency: str,
    greeting: str = "",
    rng: random.Random | None = None,
) -> RedPacket:
    """Take `total` from the sender into the packet's escrow and cut the shares. Call it
    inside the caller's transaction (chat records the message in the same one)."""
    currency = ledger.check_currency(currency)
    red_packet_validate(total=total, count=count, split=split, currency=currency)
    amounts = (
        split_equal(total, count)
        if split == RedPacket.Split.EQUAL
        else split_random(total, count, rng)
    )
    now = timezone.now()
    with transaction.atomic():
        escrow = ledger.owner_account(
            kind=AccountKind.ESCROW,
            owner_ref=f"red_packet:{secrets.token_hex(12)}",
            currency=currency,
        )
        packet = RedPacket.objects.create(
            sender=sender,
            context_ref=context_ref,
            currency=currency,
            total=total,
            count=count,
            split=split,
            greeting=greeting[:100],
            escrow_account=escrow,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.RED_PACKET_TTL_SECONDS),
        )
        ledger.post_entry(
            kind="red_packet.create",
            postings=[
                (ledger.user_wallet(user_id=sender.pk, currency=currency), -total),
                (escrow, total),
            ],
            idempotency_key=f"red_packet:{packet.pk}:create",
            reference=f"red_packet:{packet.pk}",
        )
        RedPacketShare.objects.bulk_create(
            RedPacketShare(packet=packet, position=i, amount=a) for i, a in enumerate(amounts)
        )
        wallet_changed(user_ids=[sender.pk], currency=currency)
    return packet


# --- claim ----------------------------------------------------------------------------
#
# A rush (500 people, 100 shares) is decided by how long each successful claim holds the
# two rows every claim of a packet must touch: its escrow account and the packet's
# counters. So a claim does everything it can before taking them (the share, the
# claimer's wallet) and, once it holds them, is the ledger's locking and writing, one
# UPDATE of share and packet together, and COMMIT - on PostgreSQL all but the COMMIT in
# one PL/pgSQL call (migration 0008). What the claimer and the sender are told goes after
# commit.
#
# Once a packet is over (empty or expired), the commit that ended it leaves its final
# claims in the cache, so the hundreds who come too late are answered from the cache
# alone - `already_claimed` with their amount or `red_packet_empty` - with no query and no
# lock. The record is written only after that commit, so it never refuses a claim that
# could still succeed; without it (evicted, or before it lands) the database answers.

DONE_TTL_SECONDS = 3 * 86400


def _done_key(packet_id: int) -> str:
    return f"rp:done:{packet_id}"


def _remember_done(packet_id: int, status: str) -> None:
    """After commit: record the final claims of a packet that is over. Best effort: the
    claim has committed, and without the record the database answers."""
    try:
        claims = dict(
            RedPacketShare.objects.filter(packet_id=packet_id, claimer__isnull=False).values_list(
                "claimer_id", "amount"
            )
        )
        cache.set(
            _done_key(packet_id),
            {"status": status, "claims": {str(k): v for k, v in claims.items()}},
            timeout=DONE_TTL_SECONDS,
        )
    except Exception:
        log.exception("could not record that red packet %s is %s", packet_id, status)


def _recorded_done(packet_id: int) -> dict | None:
    try:
        return cache.get(_done_key(packet_id))
    except Exception:  # the cache is down: the database answers
        log.exception("could not read red packet %s's record", packet_id)
        return None


def red_packet_done_key(packet_id: int) -> str:
    """The cache key of a finished packet's record, for a caller that fetches it together
    with its own keys in one round trip (chat does); answer with `red_packet_done_answer`."""
    return _done_key(packet_id)


def red_packet_done_answer(done: dict, user_id: int) -> Conflict:
    """What a claim on a finished packet answers, from its record: `already_claimed` with
    the amount, or `red_packet_empty` / `red_packet_expired`."""
    amount = done["claims"].get(str(user_id))
    if amount is not None:
        return AlreadyClaimed(amount=amount)
    return RedPacketExpired() if done["status"] == RedPacketStatus.EXPIRED else RedPacketEmpty()


def _mine(packet_id: int, user_id: int) -> int | None:
    return (
        RedPacketShare.objects.filter(packet_id=packet_id, claimer_id=user_id)
        .values_list("amount", flat=True)
        .first()
    )


class RedPacketNotInContext(NotFound):
    """The packet is not where the caller believed it was (a stale card in the cache)."""

    code = "red_packet_not_found"
    message = "No such red packet."


# PostgreSQL: the whole claim is ONE call, `payments_red_packet_claim` (migration 0008):
# take a free share (SKIP LOCKED, so concurrent claimers each lock a different one), the
# claimer's wallet, the entry through `payments_ledger_post`, and the packet's counters.
# It reads the packet itself (status, expiry, context, escrow) and takes a share only from
# an open, unexpired packet in the expected context. Business answers come back as a
# status and write nothing.
_PG_CLAIM = (
    "SELECT o_status, o_amount, o_share_id, o_position, o_entry_id, o_currency, o_sender_id,"
    " o_context, o_packet_status, o_expired, o_claimed_count, o_claimed_amount"
    " FROM payments_red_packet_claim(%s, %s, %s, %s, %s)"
)

# Elsewhere: after the entry, link the share to it and count the claim on the packet,
# marking it empty with the last share - one statement that returns the packet row.
# (RETURNING names bare columns: SQLite refuses a table alias there.)
_PACKET_COLUMNS = ", ".join(f'"{f.column}"' for f in RedPacket._meta.concrete_fields)
_COUNT_CLAIM = f"""
UPDATE payments_redpacket
   SET claimed_count = claimed_count + 1,
       claimed_amount = claimed_amount + %(a)s,
       status = CASE WHEN claimed_count + 1 = count THEN %(empty)s ELSE status END,
       finished_at = CASE WHEN claimed_count + 1 = count THEN %(now)s ELSE finished_at END
 WHERE id = %(p)s
RETURNING {_PACKET_COLUMNS}
"""  # noqa: S608  (column names come from the model)


def _refused(status: str, expired: bool) -> Conflict:
    """Why a claimer with no share gets none. A packet that is over says so (`over`): its
    record is missing from the cache (evicted, or its writer failed), so the claim leaves
    it again for the claims after."""
    if status == RedPacketStatus.EMPTY:
        answer: Conflict = RedPacketEmpty()
    elif status == RedPacketStatus.EXPIRED or expired:
        answer = RedPacketExpired()
    else:
        return RedPacketEmpty()  # open, but every share is taken or being taken
    answer.over = status if status != RedPacketStatus.OPEN else None  # type: ignore[attr-defined]
    return answer


def _claim_pg(packet_id: int, user_id: int, context_ref: str | None, now):
    """(share, packet) with the claim made, or the answer raised. The packet carries what
    the call returned (the rest loads if asked for)."""
    with connection.cursor() as cur:
        cur.execute(_PG_CLAIM, [packet_id, user_id, context_ref, now, str(AccountKind.USER_WALLET)])
        (
            status,
            amount,
            share_id,
            position,
            entry_id,
            currency,
            sender_id,
            context,
            packet_status,
            expired,
            claimed_count,
            claimed_amount,
        ) = cur.fetchone()
    if status == "not_found":
        raise NotFound("No such red packet.", code="red_packet_not_found")
    if status == "not_in_context":
        raise RedPacketNotInContext()
    if status == "mine":
        raise AlreadyClaimed(amount=amount)
    if status == "refused":
        raise _refused(packet_status, expired)
    share = RedPacketShare(
        id=share_id,
        packet_id=packet_id,
        position=position,
        amount=amount,
        claimer_id=user_id,
        claimed_at=now,
        entry_id=entry_id,
    )
    packet = RedPacket.from_db(
        connection.alias,
        ["id", "sender_id", "context_ref", "currency", "status", "claimed_count", "claimed_amount"],
        [packet_id, sender_id, context, currency, packet_status, claimed_count, claimed_amount],
    )
    return share, packet


def _take_share_steps(packet: RedPacket, user_id: int, now) -> RedPacketShare:
    # Elsewhere (SQLite: one writer at a time, so no row locks to skip) the same in steps.
    amount = _mine(packet.pk, user_id)
    if amount is not None:
        raise AlreadyClaimed(amount=amount)
    if packet.status != RedPacketStatus.OPEN or packet.expires_at <= now:
        raise _refused(packet.status, packet.expires_at <= now)
    share = (
        RedPacketShare.objects.filter(packet_id=packet.pk, claimer__isnull=True)
        .order_by("position")
        .first()
    )
    if share is None:
        raise RedPacketEmpty()
    share.claimer_id, share.claimed_at = user_id, now
    share.save(update_fields=["claimer", "claimed_at"])
    return share


def _count_claim(share: RedPacketShare, now) -> RedPacket:
    RedPacketShare.objects.filter(pk=share.pk).update(entry_id=share.entry_id)
    params = {
        "p": share.packet_id,
        "a": share.amount,
        "empty": RedPacketStatus.EMPTY,
        "now": now,
    }
    with connection.cursor() as cur:
        cur.execute(_COUNT_CLAIM, params)
        row = cur.fetchone()
    return sql_rows.from_row(RedPacket, row)


def red_packet_claim(
    *,
    packet_id: int,
    user_id: int,
    packet: RedPacket | None = None,
    context_ref: str | None = None,
    check_done: bool = True,
) -> RedPacketShare:
    """Give `user_id` one free share. 409 `red_packet_empty` when none is left,
    `already_claimed` (with the amount) for a second try, `red_packet_expired` after 24 h.

    The caller has checked who may claim (chat: a member of the packet's conversation).
    `context_ref`, when given, is where the caller believes the packet is, and a share is
    taken only if it is there (`RedPacketNotInContext` otherwise). `packet` may be passed
    when the caller already read it; on PostgreSQL the claim needs neither, the one call
    that claims reads what it needs. `check_done=False` when the caller has
    just looked for the finished packet's record itself. The returned share carries its
    packet as the claim left it."""
    if check_done:
        done = _recorded_done(packet_id)
        if done is not None:
            raise red_packet_done_answer(done, user_id)
    if packet is not None and packet.pk == packet_id and context_ref is None:
        context_ref = packet.context_ref
    now = timezone.now()
    pg = connection.vendor == "postgresql"
    if not pg:
        if packet is None or packet.pk != packet_id:
            packet = RedPacket.objects.filter(pk=packet_id).first()
        if packet is None:
            raise NotFound("No such red packet.", code="red_packet_not_found")
        if context_ref is not None and packet.context_ref != context_ref:
            raise RedPacketNotInContext()
    try:
        with transaction.atomic():
            if pg:
                share, packet = _claim_pg(packet_id, user_id, context_ref, now)
                if packet.status == RedPacketStatus.EMPTY:
                    # The last share (once per packet): listeners get the whole row.
                    packet = RedPacket.objects.get(pk=packet_id)
            else:
                share = _take_share_steps(packet, user_id, now)
                # Only a claimer with a share gets a wallet made (not the crowd that came
                # too late); the share row is ours alone, so this delays no one.
                wallet = ledger.user_wallet(user_id=user_id, currency=packet.currency)
                # Lock order everywhere: shares, then the escrow account (in post_entry),
                # then the packet row.
                share.entry = ledger.post_entry(
                    kind="red_packet.claim",
                    postings=[(packet.escrow_account_id, -share.amount), (wallet, share.amount)],
                    idempotency_key=f"red_packet:{packet_id}:share:{share.position}",
                    reference=f"red_packet:{packet_id}",
                )
                packet = _count_claim(share, now)
            if packet.status == RedPacketStatus.EMPTY:
                _changed(packet, "empty")
                transaction.on_commit(lambda: _remember_done(packet_id, RedPacketStatus.EMPTY))
            else:
                _changed(packet, "claimed")
    except IntegrityError:
        # The unique (packet, claimer) constraint: the same person raced themselves.
        raise AlreadyClaimed(amount=_mine(packet_id, user_id))
    except (RedPacketEmpty, RedPacketExpired) as refused:
        over = getattr(refused, "over", None)
        if over:
            transaction.on_commit(lambda: _remember_done(packet_id, over))
        raise
    # After commit (the balance read must not lengthen the locked part).
    wallet_changed(user_ids=[user_id], currency=packet.currency)
    share.packet = packet
    return share


# --- expiry ---------------------------------------------------------------------------


def red_packet_expire(*, packet_id: int) -> int:
    """Return the unclaimed rest of an expired packet to its sender; returns the amount.
    Idempotent: a packet already expired or empty returns 0."""
    with transaction.atomic():
        # Lock order as in claims: the free shares, then the packet.
        list(
            RedPacketShare.objects.select_for_update()
            .filter(packet_id=packet_id, claimer__isnull=True)
            .values_list("id", flat=True)
        )
        packet = RedPacket.objects.select_for_update().filter(pk=packet_id).first()
        if packet is None or packet.status != RedPacketStatus.OPEN:
            return 0
        if packet.expires_at > timezone.now():
            raise DomainError("This red packet has not expired yet.", code="red_packet_not_expired")
        rest = packet.remaining
        if rest:
            ledger.post_entry(
                kind="red_packet.refund",
                postings=[
                    (packet.escrow_account_id, -rest),
                    (ledger.user_wallet(user_id=packet.sender_id, currency=packet.currency), rest),
                ],
                idempotency_key=f"red_packet:{packet.pk}:refund",
                reference=f"red_packet:{packet.pk}",
            )
        packet.refunded_amount = rest
        packet.status = RedPacketStatus.EXPIRED
        packet.finished_at = timezone.now()
        packet.save(update_fields=["refunded_amount", "status", "finished_at"])
        _changed(packet, "expired")
        transaction.on_commit(lambda: _remember_done(packet_id, RedPacketStatus.EXPIRED))
        if rest:
            wallet_changed(user_ids=[packet.sender_id], currency=packet.currency)
    return rest


def red_packets_expire_due(*, limit: int = 500) -> int:
    """The beat job: expire every open packet past its 24 h, each in its own transaction.
    Returns how many packets it expired."""
    due = list(
        RedPacket.objects.filter(status=RedPacketStatus.OPEN, expires_at__lte=timezone.now())
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    for pid in due:
        red_packet_expire(packet_id=pid)
    return len(due)


# --- audit ----------------------------------------------------------------------------


def red_packets_check(*, limit: int = 20) -> list[str]:
    """Escrow equals the unclaimed remainder of every packet; shares add up."""
    problems = []
    packets = RedPacket.objects.select_related("escrow_account").annotate(
        share_sum=Sum("shares__amount")
    )
    for p in packets.exclude(
        escrow_account__balance=F("total") - F("claimed_amount") - F("refunded_amount")
    )[:limit]:
        problems.append(
            f"red packet {p.pk}: escrow holds {p.escrow_account.balance}, "
            f"unclaimed remainder is {p.remaining}"
        )
    for p in packets.exclude(share_sum=F("total"))[:limit]:
        problems.append(f"red packet {p.pk}: shares sum to {p.share_sum}, total is {p.total}")
    claimed = (
        RedPacketShare.objects.filter(claimer__isnull=False)
        .values("packet_id")
        .annotate(s=Sum("amount"))
    )
    by_packet = {row["packet_id"]: row["s"] for row in claimed}
    for p in RedPacket.objects.exclude(claimed_amount=0).values("id", "claimed_amount")[:10_000]:
        if by_packet.get(p["id"], 0) != p["claimed_amount"]:
            problems.append(f"red packet {p['id']}: claimed_amount disagrees with its shares")
            if len(problems) >= limit:
                break
    return problems
