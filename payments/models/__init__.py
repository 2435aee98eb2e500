# One module per area; import each here so Django finds the models.
from .checkout import Order, PayCode, Refund  # noqa: F401  (merchant checkout)
from .idempotency import IdempotencyRecord  # noqa: F401
from .ledger import (  # noqa: F401
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    JournalEntry,
    Posting,
)
from .merchants import Merchant, MerchantApiKey  # noqa: F401  (merchant checkout)
from .pin import PaymentPin  # noqa: F401
from .red_packets import RedPacket, RedPacketShare, RedPacketStatus  # noqa: F401
from .topups import StripeEvent, TopUp, TopUpStatus  # noqa: F401
from .transfers import Transfer, TransferStatus  # noqa: F401
from .webhooks import WebhookAttempt, WebhookDelivery  # noqa: F401  (merchant checkout)
