from celery import shared_task

from .sms import send_sms


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def send_sms_task(phone: str, text: str) -> None:
    send_sms(phone, text)
