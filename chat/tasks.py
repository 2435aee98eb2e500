"""Celery tasks of chat: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def push_offline(message_id: int, user_ids: list[int]) -> int:
    from .services.notifications import push_offline_message

    return push_offline_message(message_id=message_id, user_ids=user_ids)
