from django.core.management.base import BaseCommand

from payments.services.merchants import merchant_secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt merchant API secrets with the first key of MERCHANT_SECRET_KEYS."

    def handle(self, **options):
        self.stdout.write(f"re-encrypted {merchant_secrets_reencrypt()} secrets")
