"""A backtest: one strategy, its parameters (or a grid of them), a symbol and a period, run by a
Celery worker; its results are kept as JSON (statistics, trades, a downsampled equity curve)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from bots.models import MarginMode, MarketType
from core.fields import MoneyField
from organizations.tenancy import OrganizationOwned


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Backtest(OrganizationOwned):
    """A strategy replayed over stored candles. With `sweep` set (`{"param": [values, ...]}`)
    every combination of the grid is run on top of `params` and ranked; `results` then holds the
    best run's statistics, trades and equity, and the ranked table under `"sweep"`.

    With `market_type` perp the symbol is a linear perpetual (`BTC/USDT:USDT`, replayed on the
    spot pair's candles) traded with `leverage` on `margin_mode` margin: entries post initial
    margin, sells from flat open shorts, funding is charged every `funding_interval_hours` at
    `funding_rate`, and a position whose margin falls to the maintenance margin (the rate from
    `max_leverage`) is liquidated (docs/backtest.md, "Perpetual futures")."""

    name = models.CharField(max_length=200, blank=True)
    strategy = models.CharField(max_length=64, help_text="Registry key of the strategy.")
    params = models.JSONField(default=dict, blank=True, help_text="Parameters; missing ones take their default.")
    sweep = models.JSONField(
        default=dict, blank=True, help_text='Grid to sweep, e.g. {"fast_period": [8, 12, 16]}; empty for one run.'
    )
    rank_by = models.CharField(max_length=32, default="total_return_pct", help_text="Statistic the sweep ranks by.")
    exchange = models.CharField(max_length=32, default="binance", help_text="Exchange the stored candles come from.")
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8, default="5m")
    start = models.DateTimeField()
    end = models.DateTimeField()
    capital = MoneyField(default=Decimal("1000"), help_text="Quote currency the run starts with.")
    taker_fee = MoneyField(default=Decimal("0.001"), help_text="Fee rate of orders that fill at once.")
    maker_fee = MoneyField(default=Decimal("0.001"), help_text="Fee rate of resting orders.")
    slippage = MoneyField(default=Decimal("0.0005"), help_text="Market orders fill this fraction worse than the price.")
    market_type = models.CharField(max_length=8, choices=MarketType.choices, default=MarketType.SPOT)
    leverage = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("1"), help_text="Perpetuals: 1 up to max leverage; spot: 1."
    )
    margin_mode = models.CharField(
        max_length=8, choices=MarginMode.choices, default=MarginMode.ISOLATED, help_text="Perpetuals only."
    )
    funding_rate = MoneyField(
        default=Decimal("0"),
        help_text="Perpetuals: funding rate per interval (0.0001 is 0.01%); longs pay a positive rate.",
    )
    funding_interval_hours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Perpetuals: hours between funding times; empty takes the exchange's (hyperliquid 1, else 8).",
    )
    max_leverage = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("50"),
        help_text="Perpetuals: the market's maximum leverage; the maintenance margin rate is 1 / (2 x it).",
    )
    status = models.CharField(max_length=16, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100.")
    error = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="backtest_org_created_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(leverage__gte=1), name="backtest_leverage_min"),
            models.CheckConstraint(
                condition=models.Q(market_type="perp") | models.Q(leverage=1), name="backtest_spot_unleveraged"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.strategy} {self.symbol} {self.timeframe} #{self.pk}"
