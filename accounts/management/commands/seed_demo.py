"""Load demo data: each app's `demo.seed()` in dependency order. Safe to run twice."""

import importlib

from django.core.management.base import BaseCommand
from django.db import transaction

APPS = ["accounts", "payments", "store", "chat", "brands"]


class Command(BaseCommand):
    help = "Load idempotent demo data for every app"

    def handle(self, **options):
        for app in APPS:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as e:
                if e.name != f"{app}.demo":
                    raise
                continue
            with transaction.atomic():
                summary = module.seed()
            self.stdout.write(f"{app}: {summary or 'ok'}")
