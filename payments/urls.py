"""Payments' REST routes: one urls module per area under payments/api/, included here."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("payments.checkout_urls")),  # merchant checkout (buyer side)
]
