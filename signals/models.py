"""Trading signals and where they come from.

A `SignalSource` belongs to an organization and says what produces its signals: the factor
engine over stored candles, the AI factor, news sentiment, an inbound webhook (TradingView-style
alerts) or a person. Each source has a weight, used where signals of several sources are blended
(the `signal_follower` strategy, the evaluation page). A `Signal` is one call: a side on a symbol
and timeframe, a confidence from 0 to 1, the factors behind it and a plain-language reasoning,
valid until a given time. `WatchedMarket` lists the symbol/timeframes the beat computes at each
candle close; `WebhookReceipt` remembers accepted webhook payloads so a replay stores nothing;
`AiUsage` and `AiBudget` count the AI factor's tokens and cost against a monthly budget.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.fields import MoneyField
from exchanges.fields import SecretField
from organizations.tenancy import OrganizationOwned, OrganizationScopedQuerySet


class SourceKind(models.TextChoices):
    ENGINE = "engine", "Factor engine"
    AI = "ai", "AI model"
    SENTIMENT = "sentiment", "News sentiment"
    WEBHOOK = "webhook", "Webhook"
    MANUAL = "manual", "Manual"


class SignalSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"
    NEUTRAL = "neutral", "Neutral"


class SignalKind(models.TextChoices):
    """What a signal calls for; the Hummingbot converter's signal types are among them."""

    DIRECTIONAL = "directional", "Directional"
    ENTRY = "entry", "Entry"
    EXIT = "exit", "Exit"
    MARKET_MAKING = "market_making", "Market making"
    GRID = "grid", "Grid"
    ARBITRAGE = "arbitrage", "Arbitrage"


class SignalSource(OrganizationOwned):
    """One producer of signals for an organization. `config` holds the kind's settings (factor
    weights and thresholds for the engine, feed URLs for sentiment, the model for AI); the webhook
    URL token is stored as its SHA-256 only and shown once, when it is made."""

    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    weight = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="How much this source counts where signals are blended (0 to 100).",
    )
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    alert_min_confidence = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Signals at or above this confidence are written to the event log, where alert rules see them. "
        "Empty: none.",
    )
    webhook_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    webhook_hmac_secret = SecretField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="signalsource_unique_name"),
            models.UniqueConstraint(
                fields=["webhook_token_hash"], condition=~Q(webhook_token_hash=""), name="signalsource_unique_token"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class SignalQuerySet(OrganizationScopedQuerySet):
    def valid_at(self, moment) -> SignalQuerySet:
        return self.filter(valid_until__gt=moment)


class Signal(OrganizationOwned):
    """One signal: side, confidence and the factors that made it, on one symbol and timeframe.
    `bar_ts` is the open time of the candle whose close produced it (engine signals; a webhook or
    AI signal may have none); `price` is the close it was computed at, when known."""

    source = models.ForeignKey(SignalSource, on_delete=models.CASCADE, related_name="signals")
    exchange = models.CharField(max_length=32, blank=True)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    side = models.CharField(max_length=8, choices=SignalSide.choices)
    kind = models.CharField(max_length=16, choices=SignalKind.choices, default=SignalKind.DIRECTIONAL)
    confidence = models.DecimalField(
        max_digits=5, decimal_places=4, validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]
    )
    factors = models.JSONField(default=dict, blank=True)
    reasoning = models.TextField(blank=True)
    price = MoneyField(null=True, blank=True)
    bar_ts = models.DateTimeField(null=True, blank=True, help_text="Open time of the candle it was computed on.")
    valid_until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = SignalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "symbol", "timeframe", "-created_at"], name="signal_org_market"),
            models.Index(fields=["source", "-created_at"], name="signal_source_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="signal_confidence_0_1"),
            models.UniqueConstraint(
                fields=["source", "exchange", "symbol", "timeframe", "bar_ts"],
                condition=Q(bar_ts__isnull=False),
                name="signal_unique_bar",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.side} {self.confidence}"


class WatchedMarket(OrganizationOwned):
    """A symbol/timeframe whose signals an engine source computes at each candle close."""

    source = models.ForeignKey(SignalSource, on_delete=models.CASCADE, related_name="watched_markets")
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    enabled = models.BooleanField(default=True)
    last_bar_ts = models.DateTimeField(null=True, blank=True, help_text="The last candle a signal was computed on.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "exchange", "symbol", "timeframe"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "exchange", "symbol", "timeframe"], name="watchedmarket_unique_market"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"


class WebhookReceipt(models.Model):
    """An accepted webhook payload, by its digest: the same payload again is a replay."""

    source = models.ForeignKey(SignalSource, on_delete=models.CASCADE, related_name="webhook_receipts")
    digest = models.CharField(max_length=64)
    signal = models.ForeignKey(Signal, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["source", "digest"], name="webhookreceipt_unique_digest")]

    def __str__(self) -> str:
        return f"{self.source_id} {self.digest[:12]}"


class AiBudget(OrganizationOwned):
    """The organization's monthly spend limit for the AI factor, in USD; calls stop when spent."""

    monthly_limit = MoneyField(default=Decimal("0"), help_text="USD per calendar month (UTC). 0: no AI calls.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="aibudget_unique_org")]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.monthly_limit} USD/month"


class AiUsage(OrganizationOwned):
    """One call to the AI model: tokens, cost and outcome (a failed call is counted too)."""

    source = models.ForeignKey(SignalSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    model = models.CharField(max_length=64)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = MoneyField(default=Decimal("0"), help_text="USD.")
    ok = models.BooleanField(default=True)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.model} {self.prompt_tokens}+{self.completion_tokens} tokens"
