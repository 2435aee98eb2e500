"""Payments' REST routes: one urls module per area, included here."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("payments.api.urls")),  # wallet, transfers, top-ups, Stripe webhook
    path("", include("payments.checkout_urls")),  # merchant checkout (buyer side)
]
