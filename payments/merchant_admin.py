"""Operator screens for merchants, keys, orders, refunds and webhook deliveries
(imported by PaymentsConfig.ready())."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models

from config.errors import DomainError

from .models import Merchant, MerchantApiKey, Order, Refund, WebhookAttempt, WebhookDelivery
from .services import merchants as merchant_services
from .services import webhooks as webhook_services


class MerchantApiKeyInline(admin.TabularInline):
    model = MerchantApiKey
    fields = ["key_id", "label", "created_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MerchantCreateForm(forms.ModelForm):
    notify_url = forms.URLField(required=False, assume_scheme="https", max_length=500)

    class Meta:
        model = Merchant
        fields = ["name", "mcc", "country", "city", "currency", "fee_bps", "notify_url"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "city", "country", "currency", "fee_bps", "status"]
    search_fields = ["name", "city"]
    list_filter = ["status", "currency", "country"]
    readonly_fields = ["till_token", "created_at"]
    inlines = [MerchantApiKeyInline]
    actions = ["issue_new_key"]

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MerchantCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return MerchantCreateForm.Meta.fields
        return super().get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # New merchants go through the service: it issues the first key, shown once here.
        try:
            merchant, key = merchant_services.merchant_create(**form.cleaned_data)
        except DomainError as e:
            self.message_user(request, e.message, messages.ERROR)
            return
        obj.pk = merchant.pk
        obj.till_token = merchant.till_token
        self.message_user(
            request,
            f"API key id {key.key_id}  secret {key.secret}  (copy it now: it is not shown again)",
            messages.WARNING,
        )

    @admin.action(description="Issue a new API key (rotation; the old one keeps working)")
    def issue_new_key(self, request, queryset):
        for merchant in queryset:
            try:
                key = merchant_services.merchant_key_rotate(merchant_id=merchant.id)
            except DomainError as e:
                self.message_user(request, f"{merchant}: {e.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{merchant}: key id {key.key_id}  secret {key.secret}  (shown once)",
                messages.WARNING,
            )


@admin.register(MerchantApiKey)
class MerchantApiKeyAdmin(admin.ModelAdmin):
    list_display = ["key_id", "merchant", "label", "created_at", "revoked_at"]
    search_fields = ["key_id", "merchant__name"]
    readonly_fields = ["key_id", "merchant", "created_at", "revoked_at"]
    exclude = ["secret_encrypted"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            merchant_services.merchant_key_revoke(key_id=key.key_id)
        self.message_user(request, "Revoked.")


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ["out_refund_no", "amount", "fee_returned", "buyer_received", "entry_id", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "out_trade_no", "kind", "amount", "currency", "status"]
    list_filter = ["status", "kind", "currency"]
    search_fields = ["out_trade_no", "merchant__name"]
    list_select_related = ["merchant"]
    inlines = [RefundInline]

    def has_change_permission(self, request, obj=None):
        return False  # orders change only through services (money moves with them)

    def has_add_permission(self, request):
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "duration_ms", "status_code", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "order", "event", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "event"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send again")
    def resend(self, request, queryset):
        for d in queryset.select_related("merchant"):
            webhook_services.webhook_resend(
                merchant=d.merchant, order_id=d.order_id, delivery_id=d.id
            )
        self.message_user(request, "Queued.")
