"""Site-root routes: the reference web client and the deep links QR codes point at
(/join/<token> group invites, /pay/<token> merchant checkout, /add/<code> add-me)."""

from django.urls import path

from .web import web_client

urlpatterns = [
    path("", web_client, name="web-client"),
    path("join/<str:token>", web_client, name="web-join"),
    path("pay/<str:token>", web_client, name="web-pay"),
    path("add/<str:code>", web_client, name="web-add-me"),
    path("u/<str:code>", web_client, name="web-user"),
]
