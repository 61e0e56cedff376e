"""Risk limits at organization, exchange-account and bot level, and the kill switches."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from core.fields import MoneyField
from organizations.tenancy import OrganizationOwned, OrganizationScopedQuerySet


class RiskScope(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    ACCOUNT = "account", "Exchange account"
    BOT = "bot", "Bot"


def _limit(help_text: str) -> models.DecimalField:
    return MoneyField(null=True, blank=True, help_text=help_text)


class RiskLimits(OrganizationOwned):
    """One set of limits. An empty value means 'no limit at this level'; the check applies the
    strictest value across the organization, account and bot levels."""

    exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount", on_delete=models.CASCADE, null=True, blank=True, related_name="risk_limits"
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, null=True, blank=True, related_name="risk_limits")
    max_order_notional = _limit("Largest single order, in quote currency.")
    max_position_notional = _limit("Largest position value, in quote currency.")
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    max_daily_loss = _limit("Realized + unrealized loss per UTC day that halts new entries, in quote.")
    max_daily_trades = models.PositiveIntegerField(null=True, blank=True)
    max_drawdown_pct = _limit("Peak-to-trough equity drop, in %, that halts new entries.")
    default_stop_loss_pct = _limit("Stop-loss applied to entries that bring none, in %.")
    default_take_profit_pct = _limit("Take-profit applied to entries that bring none, in %.")
    price_band_pct = _limit("Fat-finger guard: reject limit prices this % away from the last price.")
    max_leverage = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True, help_text="Perpetuals: highest leverage a bot may use."
    )
    min_liquidation_distance_pct = _limit(
        "Perpetuals: refuse entries that would put the liquidation price closer than this % to the mark."
    )
    allowed_symbols = models.JSONField(default=list, blank=True, help_text="Empty: every symbol.")
    loss_cooldown_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Consecutive losing trades that trigger a cooldown."
    )
    loss_cooldown_minutes = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "risk limits"
        verbose_name_plural = "risk limits"
        constraints = [
            models.CheckConstraint(
                condition=Q(exchange_account__isnull=True) | Q(bot__isnull=True), name="risklimits_one_scope"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(exchange_account__isnull=True, bot__isnull=True),
                name="risklimits_unique_org",
            ),
            models.UniqueConstraint(
                fields=["exchange_account"],
                condition=Q(exchange_account__isnull=False),
                name="risklimits_unique_account",
            ),
            models.UniqueConstraint(fields=["bot"], condition=Q(bot__isnull=False), name="risklimits_unique_bot"),
            models.CheckConstraint(
                condition=Q(max_order_notional__isnull=True) | Q(max_order_notional__gt=0),
                name="risklimits_order_notional_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_position_notional__isnull=True) | Q(max_position_notional__gt=0),
                name="risklimits_position_notional_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_daily_loss__isnull=True) | Q(max_daily_loss__gt=0),
                name="risklimits_daily_loss_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_drawdown_pct__isnull=True) | (Q(max_drawdown_pct__gt=0) & Q(max_drawdown_pct__lte=100)),
                name="risklimits_drawdown_range",
            ),
            models.CheckConstraint(
                condition=Q(price_band_pct__isnull=True) | Q(price_band_pct__gt=0), name="risklimits_band_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_leverage__isnull=True) | Q(max_leverage__gte=1), name="risklimits_leverage_min"
            ),
            models.CheckConstraint(
                condition=Q(min_liquidation_distance_pct__isnull=True)
                | (Q(min_liquidation_distance_pct__gt=0) & Q(min_liquidation_distance_pct__lt=100)),
                name="risklimits_liquidation_distance_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label} limits"

    @property
    def scope(self) -> str:
        if self.bot_id:
            return RiskScope.BOT
        if self.exchange_account_id:
            return RiskScope.ACCOUNT
        return RiskScope.ORGANIZATION

    @property
    def scope_label(self) -> str:
        if self.bot_id:
            return f"Bot {self.bot}"
        if self.exchange_account_id:
            return f"Account {self.exchange_account}"
        return f"Organization {self.organization}"


class KillSwitchAction(models.TextChoices):
    CANCEL = "cancel", "Cancel open orders and stop the bots"
    FLATTEN = "flatten", "Also close every position (reduce-only market orders)"


class KillSwitch(models.Model):
    """Halts trading: for one organization, or for every organization when `organization` is empty.
    While engaged nothing places an order."""

    organization = models.OneToOneField(
        "organizations.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="kill_switch",
        help_text="Empty: the global switch.",
    )
    engaged = models.BooleanField(default=False)
    action = models.CharField(
        max_length=8,
        choices=KillSwitchAction.choices,
        default=KillSwitchAction.CANCEL,
        help_text="What engaging does to the organization's bots, chosen per organization.",
    )
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "kill switches"
        constraints = [
            # One row per scope, the global one included (organization empty).
            models.UniqueConstraint(Coalesce("organization", Value(0)), name="killswitch_one_per_scope"),
        ]

    def __str__(self) -> str:
        scope = self.organization or "Global"
        return f"{scope}: {'ENGAGED' if self.engaged else 'off'}"
