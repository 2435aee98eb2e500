from django.urls import path

from . import conversations, messages, uploads

urlpatterns = [
    path("conversations", conversations.ConversationListCreateView.as_view()),
    path("conversations/<id:conversation_id>", conversations.ConversationDetailView.as_view()),
    path(
        "conversations/<id:conversation_id>/members",
        conversations.ConversationMembersView.as_view(),
    ),
    path(
        "conversations/<id:conversation_id>/members/<id:user_id>",
        conversations.ConversationMemberDetailView.as_view(),
    ),
    path(
        "conversations/<id:conversation_id>/messages",
        messages.MessageListCreateView.as_view(),
    ),
    path(
        "conversations/<id:conversation_id>/messages/<id:seq>",
        messages.MessageDetailView.as_view(),
    ),
    path("conversations/<id:conversation_id>/read", messages.ReadReceiptView.as_view()),
    path("conversations/<id:conversation_id>/delivered", messages.DeliveredReceiptView.as_view()),
    path("sync", messages.SyncView.as_view()),
    path("uploads", uploads.UploadCreateView.as_view()),
]
