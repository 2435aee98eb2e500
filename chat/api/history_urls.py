"""Routes of chat history: search, backups, disappearing messages (issue 5)."""

from django.urls import path

from . import search

urlpatterns = [
    path("search/messages", search.MessageSearchView.as_view()),
]
