from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self):
        from django.conf import settings

        from . import (  # noqa: F401  (admin screens, Celery tasks)
            ledger_admin,
            merchant_admin,
            merchant_tasks,
            red_packet_tasks,
        )
        from .api import merchant_auth  # noqa: F401  (OpenAPI scheme for signed requests)
        from .ledger import register_check
        from .services.red_packets import red_packets_check

        register_check(red_packets_check)

        settings.CELERY_BEAT_SCHEDULE.update(
            {
                "payments-webhooks-retry-due": {
                    "task": "payments.webhooks_retry_due",
                    "schedule": 10.0,
                },
                "payments-orders-expire": {"task": "payments.orders_expire", "schedule": 30.0},
                "payments-red-packets-expire": {
                    "task": "payments.red_packets_expire_due",
                    "schedule": 60.0,
                },
                "payments-pay-codes-prune": {
                    "task": "payments.pay_codes_prune",
                    "schedule": 3600.0,
                },
            }
        )
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "payments-transfers-expire",
            {"task": "payments.tasks.transfers_expire_due_task", "schedule": 300.0},
        )
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "payments-idempotency-purge",
            {"task": "payments.tasks.idempotency_purge_task", "schedule": 3600.0},
        )
