"""Buyer-facing merchant checkout routes (included from payments/urls.py)."""

from django.urls import path

from .api import checkout

urlpatterns = [
    path("checkout/<str:token>", checkout.CheckoutPreviewView.as_view()),
    path("checkout/<str:token>/pay", checkout.CheckoutPayView.as_view()),
    path("checkout/<str:token>/qr.svg", checkout.CheckoutQrSvgView.as_view()),
    path("checkout/<str:token>/qr.png", checkout.CheckoutQrPngView.as_view()),
    path("wallet/pay-code", checkout.PayCodeCreateView.as_view()),
]
