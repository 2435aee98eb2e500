"""Celery tasks: thin and idempotent; each calls a service."""

from celery import shared_task


@shared_task
def transfers_expire_due_task() -> int:
    from .services.transfers import transfers_expire_due

    return transfers_expire_due()


@shared_task
def idempotency_purge_task() -> int:
    from .idempotency import idempotency_purge

    return idempotency_purge()
