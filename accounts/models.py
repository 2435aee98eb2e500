from __future__ import annotations

import datetime as dt
import hashlib

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, phone: str, password: str | None = None, **extra):
        user = self.model(phone=phone, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, phone: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(phone, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, identified by an E.164 phone number."""

    class Gender(models.TextChoices):
        FEMALE = "female"
        MALE = "male"
        OTHER = "other"

    # Nullable so an erased account keeps its row (ledger keys) but gives up the number.
    phone = models.CharField(max_length=20, unique=True, null=True)
    display_name = models.CharField(max_length=64, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    bio = models.CharField(max_length=280, blank=True)
    region = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    language = models.CharField(max_length=16, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, blank=True)
    discoverable_by_phone = models.BooleanField(default=False)
    # SHA-256 hex of the E.164 phone, kept in step with `phone` by save(); contact
    # discovery looks people up by it. Derived, never edited.
    phone_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)
    verification_tier = models.PositiveSmallIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    erased_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900),
                name="user_birth_year_sane",
            )
        ]
        indexes = [
            models.Index(
                fields=["phone_hash"],
                condition=Q(discoverable_by_phone=True),
                name="user_discoverable_phone_hash",
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.phone or f"user {self.pk}"

    def save(self, *args, **kwargs):
        # A derived column, not a side effect: keep phone_hash equal to sha256(phone).
        self.phone_hash = phone_sha256(self.phone) if self.phone else None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone" in update_fields:
            kwargs["update_fields"] = {*update_fields, "phone_hash"}
        super().save(*args, **kwargs)


def phone_sha256(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


class PhoneOTP(models.Model):
    """A one-time login code. Only its HMAC digest is stored; only the newest counts."""

    # No index of its own: the index (phone, -created_at) leads with it.
    phone = models.CharField(max_length=20)
    code_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    tries_left = models.PositiveSmallIntegerField(default=5)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["phone", "-created_at"])]

    def __str__(self) -> str:
        return f"OTP for {self.phone}"

    @property
    def is_live(self) -> bool:
        return self.used_at is None and self.tries_left > 0 and self.expires_at > timezone.now()


class Device(models.Model):
    """One logged-in device: its bearer token (stored as SHA-256) and push token."""

    # No index of its own: the index (user, revoked_at) leads with it.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices", db_index=False)
    name = models.CharField(max_length=100, blank=True)
    platform = models.CharField(max_length=16, blank=True)
    token_digest = models.CharField(max_length=64, unique=True)
    push_token = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name or 'device'} of {self.user_id}"

    def touch_if_stale(self) -> None:
        now = timezone.now()
        if now - self.last_used_at > dt.timedelta(minutes=5):
            self.last_used_at = now
            self.save(update_fields=["last_used_at"])


# --- the friend graph ----------------------------------------------------------------


class FriendRequest(models.Model):
    """One person asking another to become contacts, with a short message."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        CANCELLED = "cancelled"

    # No index of its own: the index (from_user, created_at) leads with it.
    from_user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No index of its own: the index (to_user, status, -id) leads with it.
    to_user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    message = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Sending twice returns the first: at most one open request per direction.
            models.UniqueConstraint(
                fields=["from_user", "to_user"],
                condition=Q(status="pending"),
                name="friend_request_one_pending_per_pair",
            ),
            models.CheckConstraint(
                condition=~Q(from_user=models.F("to_user")), name="friend_request_not_self"
            ),
        ]
        indexes = [
            models.Index(fields=["to_user", "status", "-id"]),
            models.Index(fields=["from_user", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.from_user_id} -> {self.to_user_id} ({self.status})"


class Contact(models.Model):
    """Two symmetric rows per pair (owner → other and other → owner), so "my contacts" is
    one indexed scan and each side can later keep its own remark. The service writes both
    rows in one transaction; the unique constraint stops duplicates under races."""

    # No index of its own: the index contact_unique_pair leads with it.
    owner = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="contact_rows", db_index=False
    )
    other = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "other"], name="contact_unique_pair"),
            models.CheckConstraint(condition=~Q(owner=models.F("other")), name="contact_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} ~ {self.other_id}"


class Block(models.Model):
    """`blocker` no longer wants to hear from `blocked`. Hides both from each other."""

    # No index of its own: the index block_unique_pair leads with it.
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No index of its own: the index (blocked, blocker) leads with it.
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique_pair"),
            models.CheckConstraint(
                condition=~Q(blocker=models.F("blocked")), name="block_not_self"
            ),
        ]
        indexes = [models.Index(fields=["blocked", "blocker"])]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class AddMeCode(models.Model):
    """The current add-me code of a person. The code itself is HMAC(SECRET_KEY, user, nonce)
    and is never stored: a leaked table cannot be turned into working codes. Resetting
    draws a new nonce, so the old code stops resolving."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="add_me_code")
    nonce = models.CharField(max_length=32)
    code_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"add-me code of {self.user_id}"


class DiscoveryCheck(models.Model):
    """A phone hash this account has already looked up, so re-syncing the same address
    book costs no quota. Stored as HMAC(SECRET_KEY, hash): the table is not a copy of
    anyone's address book in the form the client sent it."""

    # No index of its own: the index discovery_check_once leads with it.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    hash_digest = models.CharField(max_length=64)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "hash_digest"], name="discovery_check_once")
        ]
        indexes = [models.Index(fields=["user", "checked_at"])]

    def __str__(self) -> str:
        return f"discovery check by {self.user_id}"
