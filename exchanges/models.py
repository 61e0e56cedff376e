"""Exchange accounts: an organization's credentials for one exchange (or the paper exchange)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from exchanges.fields import SecretField
from exchanges.secrets import mask
from organizations.tenancy import OrganizationOwned

PAPER_EXCHANGE = "paper"


def validate_exchange_id(value: str) -> None:
    """Accept `paper` or any exchange id ccxt knows."""
    if value == PAPER_EXCHANGE:
        return
    import ccxt  # imported here: loading ccxt takes a moment and most code paths never need it

    if value not in ccxt.exchanges:
        raise ValidationError(f"Unknown exchange {value!r}: use 'paper' or a ccxt exchange id such as 'binance'.")


class ExchangeAccountStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ERROR = "error", "Error"
    DISABLED = "disabled", "Disabled"


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"
    HALF_OPEN = "half_open", "Half-open"


class ExchangeAccount(OrganizationOwned):
    """Credentials for one exchange. Secrets are write-only: encrypted at rest, decrypted only in
    memory to build a client, and shown masked (last 4 characters) wherever they are displayed."""

    exchange = models.CharField(
        max_length=32, validators=[validate_exchange_id], help_text="A ccxt exchange id, or 'paper'."
    )
    label = models.CharField(max_length=120)
    api_key = SecretField(blank=True, default="")
    api_secret = SecretField(blank=True, default="")
    passphrase = SecretField(blank=True, default="", help_text="Only some exchanges use one.")
    is_testnet = models.BooleanField(default=False, help_text="Use the exchange's sandbox.")
    status = models.CharField(
        max_length=16, choices=ExchangeAccountStatus.choices, default=ExchangeAccountStatus.UNVERIFIED
    )
    status_reason = models.CharField(max_length=500, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_changed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "label"], name="exchangeaccount_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange})"

    @property
    def is_paper(self) -> bool:
        return self.exchange == PAPER_EXCHANGE

    @property
    def masked_api_key(self) -> str:
        return mask(self.api_key)

    @property
    def masked_api_secret(self) -> str:
        return mask(self.api_secret)

    @property
    def masked_passphrase(self) -> str:
        return mask(self.passphrase)
