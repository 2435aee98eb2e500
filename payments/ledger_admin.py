"""Read-only operator screens for the ledger audit: accounts, entries with their postings,
holds, transfers and top-ups (imported by PaymentsConfig.ready()). Nothing here writes:
corrections are new entries made through services, never edits."""

from __future__ import annotations

from django.contrib import admin

from .models import Account, Hold, JournalEntry, Posting, TopUp, Transfer


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "currency", "owner_id", "owner_ref", "balance", "pending_debits"]
    list_filter = ["kind", "currency"]
    search_fields = ["owner_ref", "=owner__id"]


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ["account", "amount", "currency", "balance_after"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "reference", "idempotency_key", "created_at"]
    list_filter = ["kind"]
    search_fields = ["reference", "idempotency_key"]
    inlines = [PostingInline]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "debit_account", "credit_account", "amount", "currency", "status"]
    list_filter = ["status", "kind"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "sender", "recipient", "amount", "currency", "status", "created_at"]
    list_filter = ["status", "currency"]


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "amount", "currency", "gateway", "status", "refunded_amount"]
    list_filter = ["status", "gateway"]
    search_fields = ["provider_id"]
