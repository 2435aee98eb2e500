"""Celery tasks: thin, idempotent wrappers around brands services."""

from celery import shared_task

from . import campaigns


@shared_task(acks_late=True)
def campaign_send_batch_task(campaign_id: int) -> str:
    """One batch; it enqueues the next one after its commit. Safe to run twice or to be
    killed mid-way: the batch is one transaction under the campaign's row lock."""
    return campaign_send_batch_result(campaign_id)


def campaign_send_batch_result(campaign_id: int) -> str:
    r = campaigns.campaign_send_batch(campaign_id=campaign_id)
    return f"{r.status}: picked {r.picked}, sent {r.sent}, capped {r.capped}, held out {r.holdout}, deferred {r.deferred}"


@shared_task
def campaigns_due_task() -> int:
    """Beat, every minute: start scheduled campaigns and deferred passes whose time came."""
    return campaigns.campaigns_due()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invite_email_task(to: str, subject: str, body: str) -> None:
    """A team invite by email (brands.invites), through Django's email backend."""
    from django.conf import settings
    from django.core.mail import send_mail

    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
