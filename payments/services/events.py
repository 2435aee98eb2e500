"""`wallet.updated` pushes and the transfer hook registry (for chat, without imports)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

from config.realtime import push_each_to_users, push_to_users

log = logging.getLogger(__name__)


def wallet_changed(*, user_ids: Iterable[int], currency: str) -> None:
    """Tell each person's devices that a wallet balance changed (after commit). The event
    carries the balances so clients need not refetch.

    The balances are read after the commit, in one query for everyone, not inside the
    money transaction: that keeps the wallet rows locked one statement shorter, and the
    event says what the wallet holds now (a later change sends its own event)."""
    ids = list(dict.fromkeys(user_ids))
    if ids:
        # robust: a failed read must not turn a committed payment into an error.
        transaction.on_commit(lambda: _push_balances(ids, currency), robust=True)


def _push_balances(user_ids: list[int], currency: str) -> None:
    from ..selectors import wallet_balances_of  # local: selectors import models only

    balances = wallet_balances_of(user_ids)
    for uid in user_ids:
        push_to_users(
            [uid],
            {"type": "wallet.updated", "currency": currency, "balances": balances[uid]},
        )


def wallet_updated_now(*, balances: dict[int, list[dict]], currency: str) -> None:
    """`wallet.updated` for each person with the balances the caller read inside its
    money transaction (`{user_id: wallet_balances(...)}`), recorded in their sync stream
    in that same transaction and published after its commit. For hot paths whose money
    statement already returns the balances: no read and no commit of its own per event,
    where `wallet_changed` costs a read and, per person, a record in its own transaction
    after the commit."""
    push_each_to_users(
        [
            (uid, {"type": "wallet.updated", "currency": currency, "balances": rows})
            for uid, rows in balances.items()
        ],
        record_now=True,
    )


# --- transfer listeners ---------------------------------------------------------------
# chat registers a callback (in its AppConfig.ready) to update a transfer's message when
# the transfer changes state; payments never imports chat.

TransferListener = Callable[[object, str], None]
_transfer_listeners: list[TransferListener] = []


def on_transfer_change(listener: TransferListener) -> TransferListener:
    """Register `listener(transfer, event)`; `event` is one of "created", "accepted",
    "returned", "expired". Called inside the service's transaction (so the listener's
    writes commit or roll back with the transfer); use on_commit for pushes."""
    if listener not in _transfer_listeners:
        _transfer_listeners.append(listener)
    return listener


def remove_transfer_listener(listener: TransferListener) -> None:
    if listener in _transfer_listeners:
        _transfer_listeners.remove(listener)


def transfer_changed(transfer, event: str) -> None:
    for listener in list(_transfer_listeners):
        listener(transfer, event)
