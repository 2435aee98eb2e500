"""Operator screens for the brand console's records (Django admin discovers this module).

Read-only: the audit log is append-only evidence, and invites change only through the
owner's console (brands.invites) — an operator edit here would write no audit entry.
"""

from __future__ import annotations

from django.contrib import admin

from .models import AuditEvent, TeamInvite


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "brand", "actor", "action", "campaign", "segment", "detail"]
    list_filter = ["action"]
    search_fields = ["=brand__id", "brand__name", "actor__phone"]
    list_select_related = ["brand", "actor", "campaign", "segment"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]


@admin.register(TeamInvite)
class TeamInviteAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "brand", "role", "email", "phone", "expires_at", "accepted_at"]
    list_display += ["revoked_at"]
    search_fields = ["=brand__id", "brand__name", "email", "phone"]
    list_select_related = ["brand"]
    ordering = ["-created_at", "-id"]
    exclude = ["token_digest"]
