"""Wallet, transfers, top-ups and the Stripe webhook (issue 6)."""

from django.urls import path

from . import topups, transfers, wallet

urlpatterns = [
    path("wallet", wallet.WalletView.as_view()),
    path("wallet/entries", wallet.WalletEntriesView.as_view()),
    path("wallet/entries.csv", wallet.WalletEntriesCsvView.as_view()),
    path("wallet/pin", wallet.WalletPinView.as_view()),
    path("wallet/topups", topups.TopUpCreateView.as_view()),
    path("wallet/topups/<id:topup_id>", topups.TopUpDetailView.as_view()),
    path("payments/stripe/webhook", topups.StripeWebhookView.as_view()),
    path("transfers", transfers.TransferCreateView.as_view()),
    path("transfers/<id:transfer_id>", transfers.TransferDetailView.as_view()),
    path("transfers/<id:transfer_id>/accept", transfers.TransferAcceptView.as_view()),
    path("transfers/<id:transfer_id>/return", transfers.TransferReturnView.as_view()),
]
