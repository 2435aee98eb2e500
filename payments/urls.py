"""Payments' REST routes: one urls module per area under payments/api/, included here."""

urlpatterns: list = []
