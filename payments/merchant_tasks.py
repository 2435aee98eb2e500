"""Celery tasks for merchant checkout (imported by PaymentsConfig.ready()). Thin: each
calls a service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="payments.webhook_deliver", ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    from .services.webhooks import webhook_attempt

    webhook_attempt(delivery_id=delivery_id)


@shared_task(name="payments.webhook_deliver_batch", ignore_result=True)
def webhook_deliver_batch(delivery_ids: list[int]) -> None:
    from .services.webhooks import webhook_attempt_batch

    webhook_attempt_batch(delivery_ids=[int(i) for i in delivery_ids])


@shared_task(name="payments.webhooks_retry_due", ignore_result=True)
def webhooks_retry_due() -> int:
    from .services.webhooks import BATCH_MAX, webhooks_due

    due = webhooks_due()
    for i in range(0, len(due), BATCH_MAX):
        webhook_deliver_batch.delay(due[i : i + BATCH_MAX])
    return len(due)


@shared_task(name="payments.orders_expire", ignore_result=True)
def orders_expire() -> int:
    from .services.orders import orders_expire_due

    return orders_expire_due()


@shared_task(name="payments.pay_codes_prune", ignore_result=True)
def pay_codes_prune() -> int:
    from .services.paycodes import pay_codes_prune as prune

    return prune()
