"""Chat's REST routes: one urls module per area, included here (add yours to the list)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("chat.api.urls")),
    path("", include("chat.api.group_urls")),
    path("", include("chat.api.history_urls")),
    path("", include("chat.api.urls_money")),
]
