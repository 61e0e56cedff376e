"""Time series of each bot's money: the source of charts, statistics and reports."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from core.fields import MoneyField
from organizations.tenancy import OrganizationOwned


class Resolution(models.IntegerChoices):
    """How much time one snapshot stands for: raw rows are downsampled as they age."""

    MINUTE = 60, "1 minute"
    HOUR = 3600, "1 hour"
    DAY = 86400, "1 day"


class MetricSnapshot(OrganizationOwned):
    """A bot's balance, equity and activity at one instant (written by a beat job every minute).

    Balance is the bot's capital plus its realized PnL net of fees; equity adds the unrealized
    PnL of the open position at the last stored price. Old raw rows are replaced by hourly and
    then daily rows (averages of the money values, the last of the counts), marked by
    `resolution`, so one table serves every chart range.
    """

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="metric_snapshots")
    ts = models.DateTimeField()
    resolution = models.PositiveIntegerField(
        choices=Resolution.choices, default=Resolution.MINUTE, help_text="Seconds this row stands for."
    )
    balance = MoneyField(help_text="Quote-currency balance.")
    equity = MoneyField(help_text="Balance plus the marked value of open positions.")
    pnl = MoneyField(default=Decimal("0"), help_text="Equity minus the bot's capital.")
    pnl_pct = MoneyField(default=Decimal("0"), help_text="PnL in % of the bot's capital.")
    realized_pnl = MoneyField(default=Decimal("0"), help_text="Closed and partly closed trades, net of fees.")
    unrealized_pnl = MoneyField(default=Decimal("0"), help_text="Open position at the last price.")
    open_orders = models.PositiveIntegerField(default=0)
    filled_orders = models.PositiveIntegerField(default=0, help_text="Orders with a fill in the last 24 hours.")
    volume_24h = MoneyField(default=Decimal("0"), help_text="Quote value traded in the last 24 hours.")

    class Meta:
        ordering = ["-ts"]
        # The unique (bot, ts) index is also the one the chart query reads.
        constraints = [models.UniqueConstraint(fields=["bot", "ts"], name="snapshot_unique_bot_ts")]
        indexes = [
            models.Index(fields=["organization", "-ts"], name="snapshot_org_ts_idx"),
            # Retention finds the old raw rows without walking every bot's series.
            models.Index(fields=["resolution", "ts"], name="snapshot_resolution_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.bot} @ {self.ts:%Y-%m-%d %H:%M}: equity {self.equity}"
