from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import Device, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["id", "phone", "display_name", "region", "is_active", "date_joined"]
    search_fields = ["phone", "display_name"]
    list_filter = ["is_active", "is_staff", "region"]
    fieldsets = [
        (None, {"fields": ["phone", "password"]}),
        (
            "Profile",
            {
                "fields": [
                    "display_name",
                    "avatar_url",
                    "bio",
                    "region",
                    "language",
                    "time_zone",
                    "birth_year",
                    "gender",
                    "discoverable_by_phone",
                ]
            },
        ),
        (
            "Status",
            {
                "fields": [
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "verification_tier",
                    "erased_at",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["phone", "password1", "password2"]})]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "name", "platform", "last_used_at", "revoked_at"]
    raw_id_fields = ["user"]
    exclude = ["token_digest"]
