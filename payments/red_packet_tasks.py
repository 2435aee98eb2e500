from celery import shared_task

from .services.red_packets import red_packets_expire_due


@shared_task(name="payments.red_packets_expire_due", ignore_result=True)
def red_packets_expire_due_task() -> int:
    return red_packets_expire_due()
