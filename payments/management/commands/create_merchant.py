from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from payments.services.merchants import merchant_create


class Command(BaseCommand):
    help = "Create a merchant and print its API key id and secret (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--country", default="US")
        parser.add_argument("--city", default="San Francisco")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--mcc", default="5999", help="merchant category code")
        parser.add_argument("--fee-bps", type=int, default=60, help="60 = 0.6%%")
        parser.add_argument("--notify-url", default="")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, name, country, city, currency, mcc, fee_bps, notify_url, **options):
        try:
            merchant, key = merchant_create(
                name=name,
                country=country,
                city=city,
                currency=currency,
                mcc=mcc,
                fee_bps=fee_bps,
                notify_url=notify_url,
            )
        except DomainError as e:
            raise CommandError(f"{e.message} {e.fields or ''}".strip())
        if options["json"]:
            import json

            self.stdout.write(
                json.dumps(
                    {
                        "merchant_id": merchant.id,
                        "key_id": key.key_id,
                        "secret": key.secret,
                        "till_token": merchant.till_token,
                    }
                )
            )
            return
        self.stdout.write(f"merchant_id {merchant.id}")
        self.stdout.write(f"key_id      {key.key_id}")
        self.stdout.write(f"secret      {key.secret}")
        self.stdout.write("Store the secret now: it is not shown again.")
