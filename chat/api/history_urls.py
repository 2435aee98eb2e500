"""Routes of chat history: search, backups, disappearing messages (issue 5)."""

from django.urls import path

from . import history, search

urlpatterns = [
    path("search/messages", search.MessageSearchView.as_view()),
    path("backups", history.BackupCreateView.as_view()),
    path("backups/restore", history.BackupRestoreView.as_view()),
    path("backups/<id:backup_id>", history.BackupDetailView.as_view()),
    path("backups/<id:backup_id>/download", history.BackupDownloadView.as_view()),
    path(
        "conversations/<id:conversation_id>/disappearing",
        history.DisappearingView.as_view(),
    ),
]
