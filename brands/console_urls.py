"""The brand console at /console/ (issue 11, docs/CONSOLE.md)."""

from django.urls import path

from brands.console import views as v

app_name = "console"

B = "b/<int:brand_id>/"

urlpatterns = [
    path("", v.home, name="home"),
    path("login/", v.login_view, name="login"),
    path("login/code/", v.login_code, name="login_code"),
    path("logout/", v.logout_view, name="logout"),
    path("account/", v.account, name="account"),
    path("invite/<str:token>/", v.invite_accept, name="invite_accept"),
    path(B, v.dashboard, name="dashboard"),
    path(B + "segments/", v.segment_list, name="segments"),
    path(B + "segments/new/", v.segment_edit, name="segment_new"),
    path(B + "segments/compare/", v.segment_compare, name="segment_compare"),
    path(B + "segments/<int:segment_id>/", v.segment_edit, name="segment_edit"),
    path(B + "segments/<int:segment_id>/duplicate/", v.segment_duplicate, name="segment_duplicate"),
    path(B + "campaigns/", v.campaign_list, name="campaigns"),
    path(B + "campaigns/new/", v.campaign_new, name="campaign_new"),
    path(B + "campaigns/<int:campaign_id>/", v.campaign_detail, name="campaign"),
    path(B + "campaigns/<int:campaign_id>/progress.json", v.campaign_progress, name="progress"),
    path(B + "campaigns/<int:campaign_id>/live/", v.campaign_live, name="campaign_live"),
    path(
        B + "campaigns/<int:campaign_id>/<str:action>/", v.campaign_action, name="campaign_action"
    ),
    path(B + "offers/", v.offer_list, name="offers"),
    path(B + "offers/live/<str:part>/", v.offers_live, name="offers_live"),
    path(B + "offers/<int:offer_id>/stop/", v.offer_stop, name="offer_stop"),
    path(B + "sales/new/", v.sale_new, name="sale_new"),
    path(B + "sales/<int:sale_id>/stop/", v.sale_stop, name="sale_stop"),
    path(B + "team/", v.team, name="team"),
    path(B + "team/invites/<int:invite_id>/revoke/", v.invite_revoke, name="invite_revoke"),
    path(B + "team/<int:user_id>/<str:action>/", v.team_member, name="team_member"),
    path(B + "audit/", v.audit_log, name="audit"),
]
