from django.urls import path

from . import api, privacy_api

urlpatterns = [
    path("auth/otp", api.OtpRequestView.as_view()),
    path("auth/token", api.TokenView.as_view()),
    path("me", api.MeView.as_view()),
    path("me/export", privacy_api.MyDataExportView.as_view()),
    path("me/devices", api.DeviceListView.as_view()),
    path("me/devices/<id:device_id>", api.DeviceDetailView.as_view()),
    path("me/devices/current/push-token", api.PushTokenView.as_view()),
]
