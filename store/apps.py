from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Sticker store"

    def ready(self):
        from django.conf import settings

        from accounts import privacy

        from . import privacy as store_privacy

        privacy.register(
            "stickers", export=store_privacy.export_user, erase=store_privacy.erase_user, order=300
        )
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "store-popularity-recount",
            {"task": "store.tasks.popularity_recount", "schedule": 600.0},
        )
