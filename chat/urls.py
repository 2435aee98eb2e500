"""Chat's REST routes: one urls module per area under chat/api/, included here."""

urlpatterns: list = []
