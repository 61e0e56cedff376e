"""Time series of each bot's money: the source of charts, statistics and reports."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from core.fields import MoneyField
from organizations.tenancy import OrganizationOwned


class MetricSnapshot(OrganizationOwned):
    """A bot's balance, equity and activity at one instant (written by a beat job)."""

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="metric_snapshots")
    ts = models.DateTimeField()
    balance = MoneyField(help_text="Quote-currency balance.")
    equity = MoneyField(help_text="Balance plus the marked value of open positions.")
    pnl = MoneyField(default=Decimal("0"))
    pnl_pct = MoneyField(default=Decimal("0"))
    open_orders = models.PositiveIntegerField(default=0)
    filled_orders = models.PositiveIntegerField(default=0)
    volume_24h = MoneyField(default=Decimal("0"))

    class Meta:
        ordering = ["-ts"]
        constraints = [models.UniqueConstraint(fields=["bot", "ts"], name="snapshot_unique_bot_ts")]
        indexes = [models.Index(fields=["organization", "-ts"], name="snapshot_org_ts_idx")]

    def __str__(self) -> str:
        return f"{self.bot} @ {self.ts:%Y-%m-%d %H:%M}: equity {self.equity}"
