from django.apps import AppConfig


class BrandsConfig(AppConfig):
    name = "brands"

    def ready(self):
        from django.conf import settings

        from . import checkout

        # Claimed offers apply by themselves at the brand's merchant checkout.
        checkout.register()
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "brands-campaigns-due",
            {"task": "brands.tasks.campaigns_due_task", "schedule": 60.0},
        )
