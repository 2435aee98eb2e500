from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People"

    def ready(self):
        from . import privacy, schema  # noqa: F401  (OpenAPI auth extension; own data holders)
        from .friends import register_privacy

        register_privacy()
