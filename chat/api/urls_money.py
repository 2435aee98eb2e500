from django.urls import path

from . import money

urlpatterns = [
    path("conversations/<id:conversation_id>/red-packets", money.RedPacketSendView.as_view()),
    path("red-packets/<id:packet_id>", money.RedPacketDetailView.as_view()),
    path("red-packets/<id:packet_id>/claim", money.RedPacketClaimView.as_view()),
]
