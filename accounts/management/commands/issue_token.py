from django.core.management.base import BaseCommand, CommandError

from accounts.services import device_token_issue, user_get_or_create_by_phone
from config.errors import DomainError


class Command(BaseCommand):
    help = "Print a bearer token for PHONE, creating the account if needed."

    def add_arguments(self, parser):
        parser.add_argument("phone")
        parser.add_argument("--name", default="", help="display name for a new account")

    def handle(self, phone, name, **options):
        try:
            user, created = user_get_or_create_by_phone(phone=phone)
        except DomainError as e:
            raise CommandError(e.message)
        if created and name:
            user.display_name = name
            user.save(update_fields=["display_name"])
        self.stdout.write(device_token_issue(user=user, device_name="issue_token"))
