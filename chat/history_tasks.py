"""Celery tasks of chat history: thin wrappers around services (issue 5)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def build_backup(backup_id: int) -> None:
    from .services.backups import backup_build

    backup_build(backup_id=backup_id)


@shared_task(ignore_result=True)
def expire_backups() -> int:
    from .services.backups import backups_expire

    return backups_expire()


@shared_task(ignore_result=True)
def purge_disappearing() -> int:
    from .services.disappearing import disappearing_purge

    return disappearing_purge()
