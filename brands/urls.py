from django.urls import path

from . import api

urlpatterns = [
    path("brands", api.BrandListView.as_view()),
    path("brands/<id:brand_id>", api.BrandDetailView.as_view()),
    path("brands/<id:brand_id>/follow", api.BrandFollowView.as_view()),
    path("brands/<id:brand_id>/block", api.BrandBlockView.as_view()),
    path("brands/<id:brand_id>/sales/<id:sale_id>/orders", api.SaleOrderCreateView.as_view()),
    path(
        "brands/<id:brand_id>/campaigns/<id:campaign_id>/click",
        api.CampaignClickView.as_view(),
    ),
    path("offers/<id:offer_id>/claim", api.OfferClaimView.as_view()),
]
