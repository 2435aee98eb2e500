"""Operators' screens: review packs (approve, reject with a reason, feature, withdraw),
set a creator's share, refund purchases. Every change goes through store.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from config.errors import DomainError

from .models import CreatorProfile, Entitlement, Pack, Purchase, Sticker
from .selectors import file_url
from .services import review


class _ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


def _each(modeladmin, request, queryset, fn, done: str) -> None:
    ok = 0
    for obj in queryset.order_by("pk"):
        try:
            fn(obj)
            ok += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.WARNING)
    if ok:
        modeladmin.message_user(request, f"{ok} {done}.", messages.SUCCESS)


def _with_reason(modeladmin, request, queryset, *, title: str, fn, done: str):
    """An action that first asks for a reason on an intermediate page."""
    if "apply" in request.POST:
        form = _ReasonForm(request.POST)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            _each(modeladmin, request, queryset, lambda o: fn(o, reason), done)
            return None
    else:
        form = _ReasonForm()
    return TemplateResponse(
        request,
        "admin/store/reason_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action": request.POST.get("action"),
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


class StickerInline(admin.TabularInline):
    model = Sticker
    extra = 0
    can_delete = False
    fields = ("preview", "emoji", "position", "format", "width", "height", "size_bytes")
    readonly_fields = fields

    @admin.display(description="image")
    def preview(self, obj: Sticker):
        url = file_url(obj.thumbnail.name) or file_url(obj.image.name)
        return format_html('<img src="{}" style="max-height:64px">', url) if url else "-"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Pack)
class PackAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "title",
        "creator",
        "status",
        "featured",
        "price_amount",
        "currency",
        "popularity",
        "updated_at",
    )
    list_filter = ("status", "featured", "animated", "category")
    search_fields = ("title", "search_text", "creator__display_name")
    readonly_fields = (
        "creator",
        "title",
        "description",
        "cover",
        "category",
        "tags",
        "price_amount",
        "currency",
        "animated",
        "status",
        "rejection_reason",
        "featured",
        "popularity",
        "created_at",
        "updated_at",
        "published_at",
    )
    inlines = [StickerInline]
    actions = ["approve", "reject", "feature", "unfeature", "withdraw"]
    list_select_related = ("creator",)

    def has_add_permission(self, request):
        return False  # creators upload through the API

    def has_delete_permission(self, request, obj=None):
        return False  # withdraw instead: owners keep their packs

    @admin.action(description="Approve and publish")
    def approve(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda p: review.pack_approve(pack_id=p.pk, acting_user=request.user),
            "packs published",
        )

    @admin.action(description="Reject (asks for a reason)")
    def reject(self, request, queryset):
        return _with_reason(
            self,
            request,
            queryset,
            title="Reject sticker packs",
            fn=lambda p, reason: review.pack_reject(
                pack_id=p.pk, reason=reason, acting_user=request.user
            ),
            done="packs rejected",
        )

    @admin.action(description="Feature in the store")
    def feature(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda p: review.pack_feature(pack_id=p.pk, featured=True, acting_user=request.user),
            "packs featured",
        )

    @admin.action(description="Stop featuring")
    def unfeature(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda p: review.pack_feature(pack_id=p.pk, featured=False, acting_user=request.user),
            "packs no longer featured",
        )

    @admin.action(description="Withdraw from the store (asks for a reason)")
    def withdraw(self, request, queryset):
        return _with_reason(
            self,
            request,
            queryset,
            title="Withdraw sticker packs",
            fn=lambda p, reason: review.pack_withdraw(
                pack_id=p.pk, reason=reason, acting_user=request.user
            ),
            done="packs withdrawn",
        )


@admin.register(CreatorProfile)
class CreatorProfileAdmin(admin.ModelAdmin):
    list_display = ("id", "display_name", "user", "revenue_share_bps", "is_active", "created_at")
    search_fields = ("display_name",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "pack",
        "buyer",
        "recipient",
        "amount",
        "currency",
        "status",
        "created_at",
        "refunded_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("=id", "=pack__id", "=buyer__id")
    list_select_related = ("pack", "buyer", "recipient")
    readonly_fields = [f.name for f in Purchase._meta.fields]
    actions = ["refund"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Refund (asks for a reason): reverses the money, removes the pack")
    def refund(self, request, queryset):
        from .services.purchases import purchase_refund

        return _with_reason(
            self,
            request,
            queryset,
            title="Refund sticker purchases",
            fn=lambda p, reason: purchase_refund(
                purchase_id=p.pk, reason=reason, acting_user=request.user
            ),
            done="purchases refunded",
        )


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "pack", "hidden", "created_at")
    search_fields = ("=user__id", "=pack__id")
    raw_id_fields = ("user", "pack", "purchase")
    list_select_related = ("user", "pack")
    readonly_fields = ("user", "pack", "purchase", "position", "hidden", "created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # refund the purchase instead
