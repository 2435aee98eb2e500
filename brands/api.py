"""REST edge for people and brands (API.md "Brands"): parse, call one service, render."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import decode_cursor, encode_cursor, parse_limit
from config.ratelimit import check_rate
from payments.idempotency import IDEMPOTENCY_KEY_HEADER, idempotent

from . import campaigns, sales, selectors, services
from .models import Brand, Follow, OfferClaim, SaleOrder


class BrandOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    avatar_url = serializers.CharField()
    description = serializers.CharField()
    verified = serializers.BooleanField()
    following = serializers.BooleanField()
    marketing_opt_in = serializers.BooleanField()
    conversation_id = serializers.IntegerField(allow_null=True)


def _brand_out(brand: Brand, follow: Follow | None) -> dict:
    return {
        "id": brand.pk,
        "name": brand.name,
        "avatar_url": brand.avatar_url,
        "description": brand.description,
        "verified": brand.verified,
        "following": follow is not None,
        "marketing_opt_in": bool(follow and follow.marketing_opt_in),
        "conversation_id": follow.conversation_id if follow else None,
    }


class BrandListOut(serializers.Serializer):
    results = BrandOut(many=True)
    next = serializers.CharField(allow_null=True)


class BrandListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Search in names and descriptions"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
        ],
        responses=BrandListOut,
        operation_id="brands_list",
    )
    def get(self, request):
        q = request.query_params.get("q", "")[:100]
        limit = parse_limit(request.query_params.get("limit"), default=20, maximum=100)
        cursor = decode_cursor(request.query_params.get("cursor")) or {}
        offset = cursor.get("o", 0)
        if not isinstance(offset, int) or not 0 <= offset <= 10_000:
            offset = 0
        page = list(selectors.brand_search(q=q)[offset : offset + limit + 1])
        follows = {
            f.brand_id: f
            for f in Follow.objects.filter(user=request.user, brand__in=[b.pk for b in page])
        }
        nxt = encode_cursor({"o": offset + limit}) if len(page) > limit else None
        return Response(
            {"results": [_brand_out(b, follows.get(b.pk)) for b in page[:limit]], "next": nxt}
        )


class BrandDetailView(APIView):
    @extend_schema(responses=BrandOut, operation_id="brands_retrieve")
    def get(self, request, brand_id: int):
        brand = selectors.brand_get(brand_id=brand_id)
        return Response(_brand_out(brand, selectors.follow_get(brand=brand, user=request.user)))


class BrandFollowInput(serializers.Serializer):
    marketing_opt_in = serializers.BooleanField(required=False, default=False)


class BrandConsentInput(serializers.Serializer):
    marketing_opt_in = serializers.BooleanField()


class BrandFollowView(APIView):
    @extend_schema(request=BrandFollowInput, responses={200: BrandOut, 201: BrandOut})
    def post(self, request, brand_id: int):
        brand = selectors.brand_get(brand_id=brand_id)
        data = BrandFollowInput(data=request.data or {})
        data.is_valid(raise_exception=True)
        existed = selectors.follow_get(brand=brand, user=request.user) is not None
        follow = services.follow_create(
            brand=brand, user=request.user, marketing_opt_in=data.validated_data["marketing_opt_in"]
        )
        return Response(_brand_out(brand, follow), status=200 if existed else 201)

    @extend_schema(request=BrandConsentInput, responses=BrandOut)
    def patch(self, request, brand_id: int):
        brand = selectors.brand_get(brand_id=brand_id)
        data = BrandConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        follow = services.follow_set_consent(
            brand=brand, user=request.user, marketing_opt_in=data.validated_data["marketing_opt_in"]
        )
        return Response(_brand_out(brand, follow))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, brand_id: int):
        brand = selectors.brand_get(brand_id=brand_id)
        services.follow_delete(brand=brand, user=request.user)
        return Response(status=204)


class BrandBlockView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request, brand_id: int):
        services.brand_block(brand=selectors.brand_get(brand_id=brand_id), user=request.user)
        return Response(status=204)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, brand_id: int):
        services.brand_unblock(brand=selectors.brand_get(brand_id=brand_id), user=request.user)
        return Response(status=204)


class OfferClaimOut(serializers.Serializer):
    offer_id = serializers.IntegerField()
    brand_id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    amount_off_minor = serializers.IntegerField()
    percent_off = serializers.IntegerField()
    currency = serializers.CharField()
    min_spend_minor = serializers.IntegerField()
    ends_at = serializers.DateTimeField()
    claimed_at = serializers.DateTimeField()
    redeemed_at = serializers.DateTimeField(allow_null=True)


def _claim_out(claim: OfferClaim) -> dict:
    o = claim.offer
    return {
        "offer_id": o.pk,
        "brand_id": o.brand_id,
        "title": o.title,
        "kind": o.kind,
        "amount_off_minor": o.amount_off_minor,
        "percent_off": o.percent_off,
        "currency": o.currency,
        "min_spend_minor": o.min_spend_minor,
        "ends_at": o.ends_at,
        "claimed_at": claim.claimed_at,
        "redeemed_at": claim.redeemed_at,
    }


class OfferClaimView(APIView):
    @extend_schema(request=None, responses={200: OfferClaimOut})
    def post(self, request, offer_id: int):
        claim = services.offer_claim(offer_id=offer_id, user=request.user)
        return Response(_claim_out(claim))


class SaleOrderOut(serializers.Serializer):
    order_id = serializers.IntegerField()
    sale_id = serializers.IntegerField()
    brand_id = serializers.IntegerField()
    title = serializers.CharField()
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()


class SaleOrderStatusOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["settled", "reserved", "refused", "none"])
    reason = serializers.CharField(required=False)
    order = SaleOrderOut(required=False, allow_null=True)


def _sale_order_body(order, brand_id: int) -> dict:
    return {
        "order_id": order.pk,
        "sale_id": order.sale_id,
        "brand_id": brand_id,
        "title": order.sale.title,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "created_at": order.created_at,
    }


class SaleOrderCreateView(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={201: SaleOrderOut, 200: SaleOrderOut, 202: SaleOrderStatusOut},
        description=(
            "Buy one unit of an exclusive sale from the wallet (one per person; buying "
            "again returns the first order with 200). 409 `sold_out` once the stock is gone. "
            "Under a rush the unit is reserved and settled in a batch a moment later: 202 "
            "`reserved`, then GET this URL for the order."
        ),
    )
    def post(self, request, brand_id: int, sale_id: int):
        # Sold out is answered from the cache alone, before idempotency or any query.
        if sales.is_sold_out(sale_id=sale_id):
            raise sales.SoldOut()
        check_rate("brands.sale", str(request.user.pk), "10/s,60/m")
        return self._buy(request, brand_id, sale_id)

    @idempotent
    def _buy(self, request, brand_id: int, sale_id: int):
        first = not SaleOrder.objects.filter(sale_id=sale_id, user=request.user).exists()
        try:
            order = sales.sale_buy(
                brand_id=brand_id,
                sale_id=sale_id,
                user=request.user,
                wait=getattr(settings, "BRANDS_SALE_WAIT_SECONDS", 5.0),
            )
        except sales.SalePending:
            return Response(SaleOrderStatusOut({"status": "reserved"}).data, status=202)
        body = _sale_order_body(order, brand_id)
        return Response(SaleOrderOut(body).data, status=201 if first else 200)

    @extend_schema(
        responses={200: SaleOrderStatusOut},
        description="Where my purchase stands: settled (with the order), reserved, refused, none.",
    )
    def get(self, request, brand_id: int, sale_id: int):
        st = sales.sale_order_status(sale_id=sale_id, user=request.user)
        order = st.pop("order")
        if order is not None:
            st["order"] = _sale_order_body(order, brand_id)
        return Response(SaleOrderStatusOut(st).data)


class CampaignClickView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request, brand_id: int, campaign_id: int):
        campaigns.campaign_click(brand_id=brand_id, campaign_id=campaign_id, user=request.user)
        return Response(status=204)
