"""Wiring of chat history, called from ChatConfig.ready(): the privacy hooks, the beat
jobs, and the task module (Celery autodiscovery only finds chat/tasks.py)."""

from __future__ import annotations


def ready() -> None:
    from django.conf import settings

    from accounts import privacy as account_privacy

    from . import (
        history_tasks,  # noqa: F401  (registers the tasks with Celery)
        privacy,
    )

    account_privacy.register(
        "chat", export=privacy.export_user, erase=privacy.erase_user, order=500
    )
    settings.CELERY_BEAT_SCHEDULE.setdefault(
        "chat-purge-disappearing",
        {"task": "chat.history_tasks.purge_disappearing", "schedule": 60.0},
    )
    settings.CELERY_BEAT_SCHEDULE.setdefault(
        "chat-expire-backups",
        {"task": "chat.history_tasks.expire_backups", "schedule": 900.0},
    )
