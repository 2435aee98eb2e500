"""Money in chat: red packets (and transfer messages) as chat use cases.

Chat calls payments' services and records the message in the same transaction; payments
tells chat about later changes (a packet ran out or expired, a transfer was accepted)
through listeners registered in `register_money_listeners`, so payments never imports
chat.
"""

from __future__ import annotations

import contextlib

from django.db import transaction

from accounts.selectors import public_profile, user_get
from config.errors import DomainError, NotFound
from config.realtime import push_to_users
from payments import selectors as payment_selectors
from payments.models import RedPacket  # the type only; reads go through payments.selectors
from payments.services import pin as pin_services
from payments.services import red_packets as rp
from payments.services.events import on_transfer_change

from ..models import Conversation, Membership, Message
from . import red_packet_cards as cards
from .messages import message_send, message_update_payload

CONTEXT_PREFIX = "conversation:"


def _context_ref(conversation_id: int) -> str:
    return f"{CONTEXT_PREFIX}{conversation_id}"


def _conversation_id(packet: RedPacket) -> int | None:
    ref = packet.context_ref
    return int(ref[len(CONTEXT_PREFIX) :]) if ref.startswith(CONTEXT_PREFIX) else None


def red_packet_payload(packet: RedPacket) -> dict:
    """What the red packet message shows; rewritten when the packet changes state."""
    return {
        "red_packet_id": packet.pk,
        "total": packet.total,
        "count": packet.count,
        "currency": packet.currency,
        "split": packet.split,
        "greeting": packet.greeting,
        "status": packet.status,
        "claimed_count": packet.claimed_count,
        "expires_at": packet.expires_at.isoformat(),
    }


def red_packet_send(
    *,
    sender,
    conversation_id: int,
    total: int,
    count: int,
    split: str,
    currency: str,
    greeting: str = "",
    pin: str | None = None,
    rng=None,
) -> tuple[RedPacket, Message]:
    """Send a red packet into a conversation: money into escrow and the message, together."""
    rp.red_packet_validate(total=total, count=count, split=split, currency=currency)
    membership = (
        Membership.objects.filter(
            conversation_id=conversation_id, user_id=sender.pk, left_at__isnull=True
        )
        .select_related("conversation")
        .first()
    )
    if membership is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    conv = membership.conversation
    member_ids = list(
        Membership.objects.filter(conversation=conv, left_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    if conv.kind == Conversation.Kind.DIRECT:
        if count != 1:
            raise DomainError(
                "A red packet in a direct chat has exactly one share.",
                code="red_packet_count_too_large",
                fields={"count": ["Must be 1 in a direct chat."]},
            )
    elif conv.kind == Conversation.Kind.GROUP:
        size = len(member_ids)
        if count > size:
            raise DomainError(
                f"This group has {size} members; a packet can have at most that many shares.",
                code="red_packet_count_too_large",
                fields={"count": [f"At most {size}."]},
            )
    else:
        raise DomainError("Red packets go to direct chats and groups.", code="not_allowed_here")
    pin_services.payment_authorize(user=sender, amount=total, currency=currency, pin=pin)
    with transaction.atomic():
        packet = rp.red_packet_create(
            sender=sender,
            context_ref=_context_ref(conversation_id),
            total=total,
            count=count,
            split=split,
            currency=currency,
            greeting=greeting,
            rng=rng,
        )
        message = message_send(
            sender=sender,
            conversation_id=conversation_id,
            client_id=f"red_packet:{packet.pk}",
            kind="red_packet",
            text=greeting[:100],
            payload=red_packet_payload(packet),
        )
        transaction.on_commit(
            lambda: cards.card_write(
                packet_id=packet.pk,
                conversation_id=conv.pk,
                kind=conv.kind,
                sender_id=sender.pk,
                member_ids=member_ids,
            )
        )
    return packet, message


def _packet_for_member(user, packet_id: int) -> tuple[RedPacket, Conversation]:
    packet = payment_selectors.red_packet_get(packet_id=packet_id)
    conversation_id = _conversation_id(packet) if packet else None
    if conversation_id is None:
        raise NotFound("No such red packet.", code="red_packet_not_found")
    membership = (
        Membership.objects.filter(
            conversation_id=conversation_id, user_id=user.pk, left_at__isnull=True
        )
        .select_related("conversation")
        .first()
    )
    if membership is None:
        # Not yours to see: the same answer as for a packet that does not exist.
        raise NotFound("No such red packet.", code="red_packet_not_found")
    return packet, membership.conversation


def _not_for_you(kind: str, sender_id: int, user_id: int) -> None:
    if kind == Conversation.Kind.DIRECT and sender_id == user_id:
        raise DomainError("This red packet is for the other person.", code="not_for_you")


def red_packet_grab(*, user, packet_id: int):
    """A member claims a share. In a direct chat the sender cannot claim their own
    packet; in a group they may, like everyone else.

    Late claims on a finished packet are answered from the cache when it can speak for
    the claimer (red_packet_cards). Every other claim checks membership in the database
    (one statement, with the conversation from the card), and the statement that takes a
    share reads the packet: nothing else does."""
    card, done, left = cards.late_records(
        packet_id=packet_id, user_id=user.pk, done_key=rp.red_packet_done_key(packet_id)
    )
    if done is not None and cards.card_lists(card, user.pk, left):
        _not_for_you(card["k"], card["s"], user.pk)
        raise rp.red_packet_done_answer(done, user.pk)  # no database at all
    share = None
    if card is not None and cards.is_member(conversation_id=card["c"], user_id=user.pk):
        _not_for_you(card["k"], card["s"], user.pk)
        if done is not None:
            raise rp.red_packet_done_answer(done, user.pk)
        # A stale card (the packet is not in its conversation): the database decides below.
        with contextlib.suppress(rp.RedPacketNotInContext):
            share = rp.red_packet_claim(
                packet_id=packet_id,
                user_id=user.pk,
                context_ref=_context_ref(card["c"]),
                check_done=False,
            )
    if share is None:
        packet, conv = _packet_for_member(user, packet_id)
        _not_for_you(conv.kind, packet.sender_id, user.pk)
        if done is not None:
            raise rp.red_packet_done_answer(done, user.pk)
        share = rp.red_packet_claim(
            packet_id=packet_id, user_id=user.pk, packet=packet, check_done=False
        )
    packet = share.packet
    conversation_id = _conversation_id(packet)
    if packet.sender_id != user.pk:
        # Live progress for the sender, not recorded for /sync (durable=False): in a rush
        # every claim would otherwise queue on the sender's one stream row. What an
        # offline device needs is the packet's state, which the message carries
        # (rewritten, as a recorded message.edited, when the packet empties or expires)
        # and GET /red-packets/{id} shows claim by claim.
        push_to_users(
            [packet.sender_id],
            {
                "type": "red_packet.claimed",
                "red_packet_id": packet.pk,
                "conversation_id": conversation_id,
                "by": public_profile(user),
                "amount": share.amount,
            },
            durable=False,
        )
    return share


def red_packet_detail(*, user, packet_id: int) -> dict:
    """Who got what: every claim so far, mine, and the luckiest once the packet is done."""
    packet, conv = _packet_for_member(user, packet_id)
    shares = payment_selectors.red_packet_claimed_shares(packet_id=packet.pk)
    claims = [
        {"user": public_profile(s.claimer), "amount": s.amount, "claimed_at": s.claimed_at}
        for s in shares
    ]
    luckiest = None
    if packet.status != "open" and packet.split == RedPacket.Split.RANDOM and shares:
        top = max(s.amount for s in shares)
        best = next(s for s in shares if s.amount == top)  # ties: the earliest claim
        luckiest = {"user": public_profile(best.claimer), "amount": best.amount}
    mine = next((s.amount for s in shares if s.claimer_id == user.pk), None)
    sender = user_get(user_id=packet.sender_id)
    return {
        **red_packet_payload(packet),
        "id": packet.pk,
        "conversation_id": conv.pk,
        "sender": public_profile(sender) if sender else None,
        "claimed_amount": packet.claimed_amount,
        "refunded_amount": packet.refunded_amount,
        "my_amount": mine,
        "claims": claims,
        "luckiest": luckiest,
    }


def _on_red_packet_change(packet: RedPacket, event: str) -> None:
    # Only state changes rewrite the message (and fan out message.edited to every
    # member); each single claim is told to the sender alone, so a 500-member rush does
    # not become 500 × 100 pushes.
    if event not in ("empty", "expired"):
        return
    conversation_id = _conversation_id(packet)
    if conversation_id is None:
        return
    message_id = (
        Message.objects.filter(
            conversation_id=conversation_id,
            client_id=f"red_packet:{packet.pk}",
            sender_id=packet.sender_id,
        )
        .values_list("id", flat=True)
        .first()
    )
    if message_id is not None:
        message_update_payload(
            conversation_id=conversation_id,
            message_id=message_id,
            payload=red_packet_payload(packet),
        )


# --- transfers in chat -------------------------------------------------------------------


def transfer_payload(transfer) -> dict:
    return {
        "transfer_id": transfer.pk,
        "amount": transfer.amount,
        "currency": transfer.currency,
        "note": transfer.note,
        "status": transfer.status,
        "recipient_id": transfer.recipient_id,
        "expires_at": transfer.expires_at.isoformat(),
    }


def _on_transfer_change(transfer, event: str) -> None:
    """A transfer made with a `conversation_id` appears in that direct chat as a
    `transfer` message; accepting, returning or expiry rewrite it for both sides.

    Runs inside the transfer's own transaction: a transfer into a chat that is not the
    direct chat of these two people raises, and the transfer is not made."""
    if transfer.conversation_id is None:
        return
    if event == "created":
        members = set(
            Membership.objects.filter(
                conversation_id=transfer.conversation_id,
                conversation__kind=Conversation.Kind.DIRECT,
                left_at__isnull=True,
            ).values_list("user_id", flat=True)
        )
        if members != {transfer.sender_id, transfer.recipient_id}:
            raise NotFound("No such direct chat with this person.", code="conversation_not_found")
        message_send(
            sender=transfer.sender_id,
            conversation_id=transfer.conversation_id,
            client_id=f"transfer:{transfer.pk}",
            kind="transfer",
            text=transfer.note,
            payload=transfer_payload(transfer),
        )
        return
    message_id = (
        Message.objects.filter(
            conversation_id=transfer.conversation_id,
            sender_id=transfer.sender_id,
            client_id=f"transfer:{transfer.pk}",
        )
        .values_list("id", flat=True)
        .first()
    )
    if message_id is not None:
        message_update_payload(
            conversation_id=transfer.conversation_id,
            message_id=message_id,
            payload=transfer_payload(transfer),
        )


def register_money_listeners() -> None:
    rp.on_red_packet_change(_on_red_packet_change)
    on_transfer_change(_on_transfer_change)


__all__ = ["red_packet_detail", "red_packet_grab", "red_packet_send"]
