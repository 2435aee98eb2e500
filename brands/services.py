"""Writes about brands: accounts and teams, follows and consent, tags, segments, offers.

Campaign sending lives in campaigns.py and exclusive sales in sales.py; both follow the
same rules (keyword-only, one transaction each, side effects after commit).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import Conflict, DomainError, InvalidInput, NotFound

from . import audit, segments
from .models import Brand, BrandBlock, BrandMember, Follow, Offer, OfferClaim, PersonTag, Segment
from .selectors import CAN_MANAGE_TEAM, CAN_MARKET, CAN_READ, brand_for_member

Role = BrandMember.Role


class BrandBlocked(DomainError):
    status = 409
    code = "brand_blocked"
    message = "You blocked this brand; unblock it first."


# --- accounts and teams --------------------------------------------------------------------


def brand_create(
    *,
    name: str,
    owner,
    description: str = "",
    avatar_url: str = "",
    verified: bool = False,
    merchant_id: int | None = None,
    currency: str = "USD",
    commission_bps: int = 500,
    wallet_user=None,
) -> Brand:
    """Create an official account with `owner` as its first team member (operators do
    this in admin; the console has no self-service sign-up)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A brand needs a name.", fields={"name": ["Required."]})
    with transaction.atomic():
        brand = Brand.objects.create(
            name=name[:80],
            description=description,
            avatar_url=avatar_url,
            verified=verified,
            merchant_id=merchant_id,
            currency=currency,
            commission_bps=commission_bps,
            wallet_user=wallet_user or owner,
            bucket_salt=secrets.randbelow(2**31),
        )
        BrandMember.objects.create(brand=brand, user=owner, role=Role.OWNER)
    return brand


def brand_member_set(*, brand_id: int, acting_user, user, role: str) -> BrandMember:
    """Add a colleague or change their role. Owners only; the last owner stays an owner."""
    if role not in Role.values:
        raise InvalidInput("Unknown role.", fields={"role": [f"One of {', '.join(Role.values)}."]})
    with transaction.atomic():
        brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MANAGE_TEAM)
        # Lock the team so two owners demoting each other cannot leave none.
        list(BrandMember.objects.select_for_update().filter(brand=brand).order_by("id"))
        member, created = BrandMember.objects.get_or_create(
            brand=brand, user=user, defaults={"role": role}
        )
        if created:
            audit.record(
                brand=brand,
                actor=acting_user,
                action=audit.Action.TEAM_ADDED,
                member=user.phone,
                role=role,
            )
        elif member.role != role:
            if member.role == Role.OWNER and _owner_count(brand) == 1:
                raise Conflict("A brand keeps at least one owner.", code="last_owner")
            audit.record(
                brand=brand,
                actor=acting_user,
                action=audit.Action.TEAM_ROLE,
                member=user.phone,
                role=role,
                was=member.role,
            )
            member.role = role
            member.save(update_fields=["role"])
    return member


def brand_member_remove(*, brand_id: int, acting_user, user) -> None:
    with transaction.atomic():
        brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MANAGE_TEAM)
        list(BrandMember.objects.select_for_update().filter(brand=brand).order_by("id"))
        member = BrandMember.objects.filter(brand=brand, user=user).first()
        if member is None:
            raise NotFound("Not in this team.", code="member_not_found")
        if member.role == Role.OWNER and _owner_count(brand) == 1:
            raise Conflict("A brand keeps at least one owner.", code="last_owner")
        member.delete()
        audit.record(
            brand=brand,
            actor=acting_user,
            action=audit.Action.TEAM_REMOVED,
            member=user.phone,
            role=member.role,
        )


def _owner_count(brand: Brand) -> int:
    return BrandMember.objects.filter(brand=brand, role=Role.OWNER).count()


# --- follows, consent, blocks -----------------------------------------------------------------


def follow_create(*, brand: Brand, user, marketing_opt_in: bool = False) -> Follow:
    """Follow a brand (idempotent) and open the person's `brand` conversation with it."""
    if BrandBlock.objects.filter(brand=brand, user=user).exists():
        raise BrandBlocked()
    now = timezone.now()
    with transaction.atomic():
        follow, created = Follow.objects.get_or_create(
            brand=brand,
            user=user,
            defaults={
                "marketing_opt_in": marketing_opt_in,
                "consent_changed_at": now if marketing_opt_in else None,
            },
        )
        if follow.conversation_id is None:
            conversation_id = _open_brand_conversation(brand=brand, user=user)
            if conversation_id is not None:
                follow.conversation_id = conversation_id
                follow.save(update_fields=["conversation_id"])
    return follow


def _open_brand_conversation(*, brand: Brand, user) -> int | None:
    """The person's brand conversation (chat owns it); None until chat offers one."""
    try:
        from chat.services import brand_delivery
    except ImportError:
        return None
    return brand_delivery.brand_conversation_open(
        title=brand.name, avatar_url=brand.avatar_url, user_id=user.pk
    )


def follow_delete(*, brand: Brand, user) -> None:
    """Unfollow: consent goes with the follow. The conversation stays readable."""
    Follow.objects.filter(brand=brand, user=user).delete()


def follow_set_consent(*, brand: Brand, user, marketing_opt_in: bool) -> Follow:
    """Give or withdraw marketing consent in one call. Withdrawal takes effect for every
    batch not yet written, including a campaign already sending."""
    with transaction.atomic():
        follow = Follow.objects.select_for_update().filter(brand=brand, user=user).first()
        if follow is None:
            raise NotFound("You do not follow this brand.", code="not_following")
        if follow.marketing_opt_in != marketing_opt_in:
            follow.marketing_opt_in = marketing_opt_in
            follow.consent_changed_at = timezone.now()
            follow.save(update_fields=["marketing_opt_in", "consent_changed_at"])
    return follow


def brand_block(*, brand: Brand, user) -> None:
    """Block a brand: unfollow, and never be followed back into its campaigns."""
    with transaction.atomic():
        Follow.objects.filter(brand=brand, user=user).delete()
        try:
            with transaction.atomic():
                BrandBlock.objects.get_or_create(brand=brand, user=user)
        except IntegrityError:
            pass  # a concurrent block got there first


def brand_unblock(*, brand: Brand, user) -> None:
    BrandBlock.objects.filter(brand=brand, user=user).delete()


SERVICE_WINDOW = dt.timedelta(hours=48)


def brand_reply(*, brand_id: int, acting_user, conversation_id: int, text: str) -> int:
    """A customer-service reply in a follower's brand conversation. Free and uncapped, but
    only within 48 h of the person's last message there; outside it, the brand must use a
    (rationed) campaign. Returns the message's seq."""
    from chat.services import brand_delivery

    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    text = (text or "").strip()
    if not text or len(text) > 4096:
        raise InvalidInput("A reply is 1..4096 characters.", fields={"text": ["1..4096."]})
    follow = Follow.objects.filter(brand=brand, conversation_id=conversation_id).first()
    if follow is None:
        raise NotFound("No such conversation.", code="conversation_not_found")
    last = brand_delivery.last_person_message_at(
        conversation_id=conversation_id, user_id=follow.user_id
    )
    now = timezone.now()
    if last is None or now - last > SERVICE_WINDOW:
        raise DomainError(
            "Replies are free for 48 hours after the person's last message; "
            "reach them with a campaign instead.",
            code="outside_service_window",
        )
    with transaction.atomic():
        written = brand_delivery.deliver_bulk(
            brand_id=brand.pk,
            messages=[
                brand_delivery.BrandMessage(
                    user_id=follow.user_id,
                    conversation_id=conversation_id,
                    kind="text",
                    text=text,
                    payload={"reply_by": "brand"},
                )
            ],
            now=now,
        )
    return written[follow.user_id][1]


def person_tag(*, brand: Brand, user_id: int, tag: str) -> None:
    """Tag a follower from one of the brand's own events (claim, purchase, click)."""
    tag = tag.strip()[:64]
    if not tag:
        return
    PersonTag.objects.bulk_create(
        [PersonTag(brand=brand, user_id=user_id, tag=tag)], ignore_conflicts=True
    )


# --- segments ---------------------------------------------------------------------------------


def segment_save(
    *, brand_id: int, acting_user, name: str, rules: dict, segment_id: int | None = None
) -> Segment:
    """Create or update a saved segment (marketers and owners)."""
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    segments.validate(rules)
    name = (name or "").strip()[:120] or "Untitled segment"
    with transaction.atomic():
        if segment_id is None:
            seg = Segment.objects.create(
                brand=brand, name=name, rules=rules, created_by=acting_user
            )
            audit.record(
                brand=brand, actor=acting_user, action=audit.Action.SEGMENT_CREATED, segment=seg
            )
            return seg
        seg = Segment.objects.select_for_update().filter(brand=brand, pk=segment_id).first()
        if seg is None:
            raise NotFound("No such segment.", code="segment_not_found")
        seg.name, seg.rules, seg.updated_at = name, rules, timezone.now()
        seg.save(update_fields=["name", "rules", "updated_at"])
        return seg


def segment_estimate(*, brand_id: int, acting_user, rules: dict):
    """The console's live estimate (any team role). Rate-limited per brand: the privacy
    rule (segments.estimate) refuses single-query differences, and the limit bounds how
    many pairs of look-alike segments a brand can compare (docs/BRANDS.md)."""
    from django.conf import settings

    from config.ratelimit import check_rate

    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_READ)
    segments.validate(rules)
    check_rate("brands.estimate", str(brand.pk), settings.BRANDS_ESTIMATE_RATE)
    return segments.estimate(brand, rules)


# --- offers -----------------------------------------------------------------------------------


def offer_create(
    *,
    brand_id: int,
    acting_user,
    title: str,
    kind: str,
    amount_off_minor: int = 0,
    percent_off: int = 0,
    min_spend_minor: int = 0,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime,
    quantity_cap: int | None = None,
) -> Offer:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    starts_at = starts_at or timezone.now()
    fields: dict[str, list[str]] = {}
    if kind not in Offer.Kind.values:
        fields["kind"] = ["amount or percent."]
    elif kind == Offer.Kind.AMOUNT and not 0 < amount_off_minor <= 10**12:
        fields["amount_off_minor"] = ["A positive amount in minor units."]
    elif kind == Offer.Kind.PERCENT and not 0 < percent_off <= 100:
        fields["percent_off"] = ["1..100."]
    if not 0 <= min_spend_minor <= 10**12:
        fields["min_spend_minor"] = ["0..10^12."]
    if ends_at <= starts_at:
        fields["ends_at"] = ["Must be after starts_at."]
    if quantity_cap is not None and quantity_cap < 1:
        fields["quantity_cap"] = ["At least 1, or leave it empty for no cap."]
    if fields:
        raise InvalidInput(next(iter(fields.values()))[0], fields=fields)
    with transaction.atomic():
        offer = Offer.objects.create(
            brand=brand,
            title=(title or "").strip()[:120] or "Offer",
            kind=kind,
            amount_off_minor=amount_off_minor if kind == Offer.Kind.AMOUNT else 0,
            percent_off=percent_off if kind == Offer.Kind.PERCENT else 0,
            currency=brand.currency,
            min_spend_minor=min_spend_minor,
            starts_at=starts_at,
            ends_at=ends_at,
            quantity_cap=quantity_cap,
        )
        audit.record(brand=brand, actor=acting_user, action=audit.Action.OFFER_CREATED, offer=offer)
    return offer


def offer_stop(*, brand_id: int, acting_user, offer_id: int) -> Offer:
    brand = brand_for_member(brand_id=brand_id, user=acting_user, roles=CAN_MARKET)
    with transaction.atomic():
        updated = Offer.objects.filter(brand=brand, pk=offer_id).update(is_active=False)
        if not updated:
            raise NotFound("No such offer.", code="offer_not_found")
        offer = Offer.objects.get(pk=offer_id)
        audit.record(brand=brand, actor=acting_user, action=audit.Action.OFFER_STOPPED, offer=offer)
    return offer


def offer_claim(*, offer_id: int, user) -> OfferClaim:
    """Keep an offer (one per person). Idempotent: claiming again returns the claim.

    Only followers who have not blocked the brand may claim; the claim is attributed to
    the newest campaign message that carried this offer to the person, if any.
    """
    from .models import Campaign, Delivery

    now = timezone.now()
    offer = Offer.objects.filter(pk=offer_id).select_related("brand").first()
    if offer is None or not Follow.objects.filter(brand_id=offer.brand_id, user=user).exists():
        raise NotFound("No such offer.", code="offer_not_found")
    existing = OfferClaim.objects.filter(offer=offer, user=user).first()
    if existing:
        return existing
    if not offer.is_active or not offer.starts_at <= now < offer.ends_at:
        raise DomainError("This offer is not available now.", code="offer_unavailable")
    delivery = (
        Delivery.objects.filter(
            campaign__offer=offer,
            campaign__kind=Campaign.Kind.OFFER,
            user=user,
            status=Delivery.Status.SENT,
        )
        .order_by("-created_at")
        .first()
    )
    try:
        with transaction.atomic():
            # The conditional UPDATE is the quantity gate; the CHECK constraint backs it.
            if offer.quantity_cap is not None:
                taken = Offer.objects.filter(
                    pk=offer.pk, claimed_count__lt=F("quantity_cap")
                ).update(claimed_count=F("claimed_count") + 1)
                if not taken:
                    raise Conflict("This offer has all been claimed.", code="offer_exhausted")
            else:
                Offer.objects.filter(pk=offer.pk).update(claimed_count=F("claimed_count") + 1)
            claim = OfferClaim.objects.create(
                offer=offer,
                user=user,
                brand_id=offer.brand_id,
                claimed_at=now,
                campaign_id=delivery.campaign_id if delivery else None,
                variant=delivery.variant if delivery else "",
            )
            person_tag(brand=offer.brand, user_id=user.pk, tag=f"claimed:offer:{offer.pk}")
    except IntegrityError:
        # Two claims raced; the other one won and this one's count was rolled back.
        return OfferClaim.objects.get(offer=offer, user=user)
    return claim
