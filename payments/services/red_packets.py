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
import random
import secrets
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from config.errors import Conflict, DomainError, InvalidInput, NotFound

from .. import ledger
from ..models import AccountKind, RedPacket, RedPacketShare, RedPacketStatus
from .events import wallet_changed

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


def red_packet_claim(*, packet_id: int, user_id: int) -> RedPacketShare:
    """Give `user_id` one free share. 409 `red_packet_empty` when none is left,
    `already_claimed` for a second try, `red_packet_expired` after 24 h."""
    packet = RedPacket.objects.filter(pk=packet_id).first()
    if packet is None:
        raise NotFound("No such red packet.", code="red_packet_not_found")
    mine = RedPacketShare.objects.filter(packet_id=packet_id, claimer_id=user_id).first()
    if mine is not None:
        raise AlreadyClaimed(amount=mine.amount)
    if packet.status == RedPacketStatus.EXPIRED or packet.expires_at <= timezone.now():
        raise RedPacketExpired()
    if packet.status == RedPacketStatus.EMPTY:
        raise RedPacketEmpty()
    try:
        with transaction.atomic():
            free = RedPacketShare.objects.filter(packet_id=packet_id, claimer__isnull=True)
            if connection.features.has_select_for_update_skip_locked:
                # Concurrent claimers each take a different free share instead of queueing
                # on one row; lock order everywhere is shares → packet → escrow account.
                free = free.select_for_update(skip_locked=True)
            share = free.order_by("position").first()
            if share is None:
                raise RedPacketEmpty()
            share.claimer_id = user_id
            share.claimed_at = timezone.now()
            share.save(update_fields=["claimer", "claimed_at"])
            share.entry = ledger.post_entry(
                kind="red_packet.claim",
                postings=[
                    (packet.escrow_account_id, -share.amount),
                    (ledger.user_wallet(user_id=user_id, currency=packet.currency), share.amount),
                ],
                idempotency_key=f"red_packet:{packet_id}:share:{share.position}",
                reference=f"red_packet:{packet_id}",
            )
            share.save(update_fields=["entry"])
            RedPacket.objects.filter(pk=packet_id).update(
                claimed_count=F("claimed_count") + 1,
                claimed_amount=F("claimed_amount") + share.amount,
            )
            packet.refresh_from_db()
            event = "claimed"
            if packet.claimed_count == packet.count:
                packet.status = RedPacketStatus.EMPTY
                packet.finished_at = share.claimed_at
                packet.save(update_fields=["status", "finished_at"])
                event = "empty"
            _changed(packet, event)
            wallet_changed(user_ids=[user_id], currency=packet.currency)
    except IntegrityError:
        # The unique (packet, claimer) constraint: the same person raced themselves.
        mine = RedPacketShare.objects.filter(packet_id=packet_id, claimer_id=user_id).first()
        raise AlreadyClaimed(amount=mine.amount if mine else None)
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
