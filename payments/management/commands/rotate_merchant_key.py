from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from payments.services.merchants import merchant_key_revoke, merchant_key_rotate


class Command(BaseCommand):
    help = (
        "Issue a merchant a second API key (both work during the overlap), or with "
        "--revoke KEY_ID retire an old one."
    )

    def add_arguments(self, parser):
        parser.add_argument("merchant_id", type=int, nargs="?")
        parser.add_argument("--revoke", metavar="KEY_ID")

    def handle(self, merchant_id, revoke, **options):
        try:
            if revoke:
                merchant_key_revoke(key_id=revoke)
                self.stdout.write(f"revoked {revoke}")
                return
            if merchant_id is None:
                raise CommandError("give a merchant id or --revoke KEY_ID")
            key = merchant_key_rotate(merchant_id=merchant_id)
        except DomainError as e:
            raise CommandError(e.message)
        self.stdout.write(f"key_id {key.key_id}")
        self.stdout.write(f"secret {key.secret}")
