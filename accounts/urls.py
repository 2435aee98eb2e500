from django.urls import path

from . import api, api_social, privacy_api

urlpatterns = [
    path("auth/otp", api.OtpRequestView.as_view()),
    path("auth/token", api.TokenView.as_view()),
    path("me", api.MeView.as_view()),
    path("me/export", privacy_api.MyDataExportView.as_view()),
    path("me/devices", api.DeviceListView.as_view()),
    path("me/devices/<id:device_id>", api.DeviceDetailView.as_view()),
    path("me/devices/current/push-token", api.PushTokenView.as_view()),
    # friend graph
    path("friend-requests", api_social.FriendRequestListCreateView.as_view()),
    path("friend-requests/<id:request_id>", api_social.FriendRequestCancelView.as_view()),
    path("friend-requests/<id:request_id>/accept", api_social.FriendRequestAcceptView.as_view()),
    path("friend-requests/<id:request_id>/decline", api_social.FriendRequestDeclineView.as_view()),
    path("contacts", api_social.ContactListView.as_view()),
    path("contacts/discover", api_social.ContactDiscoverView.as_view()),
    path("contacts/<id:user_id>", api_social.ContactDetailView.as_view()),
    path("blocks", api_social.BlockListCreateView.as_view()),
    path("blocks/<id:user_id>", api_social.BlockDetailView.as_view()),
    # add-me codes
    path("me/add-me", api_social.MyAddMeCodeView.as_view()),
    path("me/add-me/reset", api_social.MyAddMeCodeResetView.as_view()),
    path("me/qr.svg", api_social.MyQrSvgView.as_view()),
    path("me/qr.png", api_social.MyQrPngView.as_view()),
    path("add-me/<str:code>", api_social.AddMeResolveView.as_view()),
]
