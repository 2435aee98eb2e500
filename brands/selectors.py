"""Reads about brands. Anything about people comes out as floored aggregates only."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from config.errors import DomainError, NotFound

from .models import Brand, BrandBlock, BrandMember, Campaign, Follow, Offer, Segment

Role = BrandMember.Role

# What each role may do in the console (issue 11 builds screens on these).
CAN_READ = {Role.OWNER, Role.MARKETER, Role.ANALYST}
CAN_MARKET = {Role.OWNER, Role.MARKETER}  # segments, campaigns, offers, sales
CAN_MANAGE_TEAM = {Role.OWNER}


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "Your role in this brand does not allow that."


def brand_search(*, q: str = "") -> QuerySet[Brand]:
    qs = Brand.objects.filter(is_active=True)
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return qs.order_by("-verified", "name", "id")


def brand_get(*, brand_id: int) -> Brand:
    brand = Brand.objects.filter(pk=brand_id, is_active=True).first()
    if brand is None:
        raise NotFound("No such brand.", code="brand_not_found")
    return brand


def follow_get(*, brand: Brand, user) -> Follow | None:
    return Follow.objects.filter(brand=brand, user=user).first()


def is_blocked(*, brand: Brand, user) -> bool:
    return BrandBlock.objects.filter(brand=brand, user=user).exists()


def follower_count(*, brand: Brand) -> int:
    return Follow.objects.filter(brand=brand).count()


def brands_of_member(*, user) -> QuerySet[Brand]:
    """The brands a console user belongs to (for the brand picker)."""
    return Brand.objects.filter(members__user=user, is_active=True).order_by("name", "id")


def member_role(*, brand_id: int, user) -> str | None:
    return (
        BrandMember.objects.filter(brand_id=brand_id, user=user)
        .values_list("role", flat=True)
        .first()
    )


def brand_for_member(*, brand_id: int, user, roles: set[str] = CAN_READ) -> Brand:
    """The brand, if `user` is in its team with one of `roles`. Not in the team → 404 (ids
    cannot be probed); in the team with too small a role → 403."""
    role = member_role(brand_id=brand_id, user=user) if user and user.is_authenticated else None
    if role is None:
        raise NotFound("No such brand.", code="brand_not_found")
    if role not in roles:
        raise Forbidden()
    return Brand.objects.get(pk=brand_id)


def segment_for_brand(*, brand: Brand, segment_id: int) -> Segment:
    seg = Segment.objects.filter(brand=brand, pk=segment_id).first()
    if seg is None:
        raise NotFound("No such segment.", code="segment_not_found")
    return seg


def campaign_for_brand(*, brand: Brand, campaign_id: int) -> Campaign:
    c = Campaign.objects.filter(brand=brand, pk=campaign_id).first()
    if c is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    return c


def offer_for_brand(*, brand: Brand, offer_id: int) -> Offer:
    o = Offer.objects.filter(brand=brand, pk=offer_id).first()
    if o is None:
        raise NotFound("No such offer.", code="offer_not_found")
    return o


def segments_of(*, brand: Brand) -> QuerySet[Segment]:
    return Segment.objects.filter(brand=brand).order_by("-updated_at", "-id")


def campaigns_of(*, brand: Brand) -> QuerySet[Campaign]:
    return Campaign.objects.filter(brand=brand).order_by("-created_at", "-id")


def offers_of(*, brand: Brand) -> QuerySet[Offer]:
    return Offer.objects.filter(brand=brand).order_by("-created_at", "-id")
