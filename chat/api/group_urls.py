"""Routes of group management and invites (included from chat/urls.py)."""

from django.urls import path

from . import groups as v

C = "conversations/<id:conversation_id>"

urlpatterns = [
    path(f"{C}/invites", v.ConversationInvitesView.as_view()),
    path(f"{C}/invites/<id:invite_id>", v.ConversationInviteDetailView.as_view()),
    path(f"{C}/members/<id:user_id>/role", v.GroupMemberRoleView.as_view()),
    path(f"{C}/owner", v.GroupOwnerTransferView.as_view()),
    path(f"{C}/leave", v.GroupLeaveView.as_view()),
    path(f"{C}/bans", v.GroupBansView.as_view()),
    path(f"{C}/bans/<id:user_id>", v.GroupBanDetailView.as_view()),
    path(f"{C}/group-settings", v.GroupSettingsView.as_view()),
    path(f"{C}/join-requests", v.GroupJoinRequestsView.as_view()),
    path(f"{C}/join-requests/<id:request_id>/approve", v.GroupJoinRequestApproveView.as_view()),
    path(f"{C}/join-requests/<id:request_id>/reject", v.GroupJoinRequestRejectView.as_view()),
    path("invites/<str:token>", v.InviteDetailView.as_view()),
    path("invites/<str:token>/join", v.InviteJoinView.as_view()),
    path("invites/<str:token>/qr.svg", v.InviteQrSvgView.as_view()),
    path("invites/<str:token>/qr.png", v.InviteQrPngView.as_view()),
]
