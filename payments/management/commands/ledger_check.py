"""`python manage.py ledger_check`: prove the books balance; exit 1 on any break."""

from django.core.management.base import BaseCommand, CommandError

from payments.ledger import ledger_check


class Command(BaseCommand):
    help = "Check the ledger's invariants (sums, cached balances, holds, no negative wallet)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20, help="problems shown per check")

    def handle(self, *args, limit: int = 20, **options):
        problems = ledger_check(limit=limit)
        if problems:
            for p in problems:
                self.stderr.write(p)
            raise CommandError(f"ledger_check: {len(problems)} problem(s)")
        self.stdout.write("ledger_check: OK")
