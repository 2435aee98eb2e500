"""Extension points for merchant checkout, so apps downstream of payments (brands) can
take part in a payment without payments importing them.

Two kinds of hook, registered once at start-up (e.g. from brands' AppConfig.ready()):

* an **order adjuster** sees an order about to be paid and may return an `Adjustment`:
  a discount the buyer gets (`buyer_discount`, minor units) and extra ledger postings
  (`postings`: [(ledger account, signed amount)]) that go into the SAME journal entry as
  the payment. The postings must sum to `-buyer_discount`: whoever funds the discount
  pays it there, and anything else (a commission from a brand account to platform
  revenue) must net to zero. With `commit=False` (the buyer's preview) an adjuster must
  not write anything; with `commit=True` it runs inside the payment's transaction and may
  lock and consume what it applies (a claimed offer), which rolls back with the payment.
* a **payment listener** is called inside the payment's transaction after the entry is
  posted, with the paid order and the adjustments that applied (to record attribution).
  Raising aborts the payment. Side effects outside the database belong in on_commit.

Refunds reverse adjustment postings pro rata with the rest of the payment (see
payments/services/checkout.py), so adjusters need no refund hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Adjustment:
    source: str  # who applied it, e.g. "brands.offer:42"
    buyer_discount: int = 0
    postings: list[tuple[Any, int]] = field(default_factory=list)
    label: str = ""  # shown to the buyer, e.g. "10% off with your Acme offer"
    metadata: dict = field(default_factory=dict)


OrderAdjuster = Callable[..., "Adjustment | None"]  # (order, payer, *, commit: bool)
PaymentListener = Callable[..., None]  # (order, adjustments: list[Adjustment])

_adjusters: list[OrderAdjuster] = []
_listeners: list[PaymentListener] = []


def register_order_adjuster(func: OrderAdjuster) -> OrderAdjuster:
    if func not in _adjusters:
        _adjusters.append(func)
    return func


def register_payment_listener(func: PaymentListener) -> PaymentListener:
    if func not in _listeners:
        _listeners.append(func)
    return func


def unregister(func: Callable) -> None:
    for registry in (_adjusters, _listeners):
        if func in registry:
            registry.remove(func)


def order_adjusters() -> list[OrderAdjuster]:
    return list(_adjusters)


def payment_listeners() -> list[PaymentListener]:
    return list(_listeners)
