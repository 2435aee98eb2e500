"""Operators can audit the ledger in the admin, and cannot edit it there."""

from accounts.models import User
from payments import ledger
from tests.conftest import fund_wallet


def test_ledger_screens_are_read_only(client, user):
    fund_wallet(user, 300)
    admin = User.objects.create_superuser(phone="+14155550999")
    client.force_login(admin)
    entry = ledger.JournalEntry.objects.filter(kind="operator.credit").first()
    for path in (
        "/admin/payments/account/",
        "/admin/payments/journalentry/",
        f"/admin/payments/journalentry/{entry.pk}/change/",
        "/admin/payments/hold/",
        "/admin/payments/transfer/",
        "/admin/payments/topup/",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/payments/journalentry/add/").status_code == 403
    assert client.post(f"/admin/payments/journalentry/{entry.pk}/delete/").status_code == 403
