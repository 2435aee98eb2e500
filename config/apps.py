from django.apps import AppConfig


class PlazaConfig(AppConfig):
    """The project package as an app, so its system checks register."""

    name = "config"
    label = "plaza_config"

    def ready(self) -> None:
        from . import checks  # noqa: F401
