# One module per area; import each here so Django finds the models.
from .idempotency import IdempotencyRecord  # noqa: F401
from .ledger import (  # noqa: F401
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    JournalEntry,
    Posting,
)
from .pin import PaymentPin  # noqa: F401
