"""Hypothesis drives random top-ups, transfers, accepts, returns, expiries and refunds
through the real services; after every step the books must match a simple model and
`ledger_check` must be clean."""

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.services import user_get_or_create_by_phone
from config.errors import DomainError
from payments.ledger import ledger_check
from payments.models import Account
from payments.services.pin import pin_free_limit_set, pin_set
from payments.services.topups import stripe_event_handle, topup_create
from payments.services.transfers import (
    transfer_accept,
    transfer_create,
    transfer_return,
    transfers_expire_due,
)
from tests.conftest import make_contacts, new_phone


class WalletMachine(RuleBasedStateMachine):
    transfers = Bundle("transfers")
    topups = Bundle("topups")

    @initialize()
    def people(self):
        self.users = [user_get_or_create_by_phone(phone=new_phone())[0] for _ in range(3)]
        for i, a in enumerate(self.users):
            for b in self.users[i + 1 :]:
                make_contacts(a, b)
            pin_set(user=a, pin="123456")
            pin_free_limit_set(user=a, limit=20000)  # keep argon2 out of the hot loop
        self.balance = {u.pk: 0 for u in self.users}
        self.pending = {u.pk: 0 for u in self.users}
        self.open = {}  # transfer id -> (sender, recipient, amount)
        self.topup_left = {}  # top-up id -> (user, refundable amount, refunded so far)
        self.events = 0

    @rule(target=topups, who=st.integers(0, 2), amount=st.integers(50, 20000))
    def top_up(self, who, amount):
        user = self.users[who]
        topup = topup_create(user=user, amount=amount, currency="USD")
        self.balance[user.pk] += amount
        self.topup_left[topup.pk] = (user.pk, amount, 0)
        return topup

    @rule(
        target=transfers,
        src=st.integers(0, 2),
        dst=st.integers(0, 2),
        amount=st.integers(1, 15000),
    )
    def send(self, src, dst, amount):
        a, b = self.users[src], self.users[dst]
        available = self.balance[a.pk] - self.pending[a.pk]
        try:
            t = transfer_create(sender=a, to_user_id=b.pk, amount=amount, currency="USD", pin=None)
        except DomainError as exc:
            expected = "transfer_to_self" if a == b else "insufficient_funds"
            assert exc.code == expected, (exc.code, available, amount)
            return None
        assert a != b and amount <= available
        self.pending[a.pk] += amount
        self.open[t.pk] = (a.pk, b.pk, amount)
        return t

    def _recipient(self, t):
        return next(u for u in self.users if u.pk == t.recipient_id)

    @rule(t=transfers)
    def accept(self, t):
        if t is None:
            return
        result = (
            transfer_accept(user=self._recipient(t), transfer_id=t.pk)
            if t.pk in self.open
            else None
        )
        if t.pk in self.open:
            s, r, amount = self.open.pop(t.pk)
            assert result.status == "accepted"
            self.pending[s] -= amount
            self.balance[s] -= amount
            self.balance[r] += amount

    @rule(t=transfers)
    def give_back(self, t):
        if t is None:
            return
        try:
            transfer_return(user=self._recipient(t), transfer_id=t.pk)
        except DomainError as exc:
            assert t.pk not in self.open and exc.code.startswith("transfer_already_")
            return
        if t.pk in self.open:
            s, _r, amount = self.open.pop(t.pk)
            self.pending[s] -= amount

    @rule()
    def a_day_passes(self):
        transfers_expire_due(now=timezone.now() + dt.timedelta(hours=25))
        for s, _r, amount in self.open.values():
            self.pending[s] -= amount
        self.open.clear()

    @rule(topup=topups, fraction=st.sampled_from([0.25, 0.5, 1.0]))
    def refund(self, topup, fraction):
        uid, amount, refunded = self.topup_left[topup.pk]
        total = max(refunded, int(amount * fraction))
        self.events += 1
        stripe_event_handle(
            event={
                "id": f"evt_{topup.pk}_{self.events}_{id(self)}",
                "type": "charge.refunded",
                "data": {"object": {"payment_intent": topup.provider_id, "amount_refunded": total}},
            }
        )
        delta = total - refunded
        take = min(delta, self.balance[uid] - self.pending[uid])
        self.balance[uid] -= take
        self.topup_left[topup.pk] = (uid, amount, total)

    @invariant()
    def books_match_the_model(self):
        if not hasattr(self, "users"):
            return
        for u in self.users:
            acc = Account.objects.filter(owner=u, kind="user_wallet", currency="USD").first()
            balance, pending = (acc.balance, acc.pending_debits) if acc else (0, 0)
            assert (balance, pending) == (self.balance[u.pk], self.pending[u.pk])
            assert balance >= pending >= 0

    @invariant()
    def ledger_is_clean(self):
        assert ledger_check() == []


@pytest.mark.django_db
def test_wallet_state_machine(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_SANDBOX_GATEWAY = True
    settings.PAYMENTS_TRANSFER_DAILY_LIMITS = {1: 10**12}
    run_state_machine_as_test(
        WalletMachine,
        settings=hsettings(
            max_examples=6,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
