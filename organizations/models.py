"""Organizations (tenants), their members with roles, and API keys for integrations."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from organizations.tenancy import OrganizationOwned, OrganizationScopedQuerySet


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    TRADER = "trader", "Trader"
    VIEWER = "viewer", "Viewer"


# Each role can do everything the roles below it can.
ROLE_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user) -> OrganizationQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user_id=user.pk)


class Organization(models.Model):
    """A customer: owns exchange accounts, bots and everything they produce."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(OrganizationScopedQuerySet):
    pass


class Membership(OrganizationOwned):
    """A user's role in one organization; the role gates every write on every surface."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    TRADE = "trade", "Trade"
    ADMIN = "admin", "Admin"


API_KEY_PREFIX_LENGTH = 8


def hash_api_secret(secret: str) -> str:
    # The secret has 256 bits of entropy, so one round of SHA-256 is enough and keeps every
    # authenticated request cheap (a password hash would cost ~100 ms per call).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(OrganizationOwned):
    """A key an integration sends as `Authorization: Api-Key <prefix>.<secret>`.

    Only the SHA-256 of the secret is stored; the full key is shown once when created.
    """

    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Subset of read, trade, admin.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """A new (prefix, secret, full key); the caller stores the hash and shows the key once."""
        prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
        secret = secrets.token_urlsafe(32)
        return prefix, secret, f"{prefix}.{secret}"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def check_secret(self, secret: str) -> bool:
        return secrets.compare_digest(self.hashed_secret, hash_api_secret(secret))
