"""Bots and everything they produce: orders, fills, positions and the event log."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from bots.state import BotStatus
from core.errors import ApplicationError
from core.events import EventLevel, EventSource
from core.fields import MoneyField
from organizations.tenancy import OrganizationOwned


class BotMode(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class BotExecution(models.TextChoices):
    NATIVE = "native", "Native (Celery ticks)"
    HUMMINGBOT = "hummingbot", "Hummingbot instance"


class MarketType(models.TextChoices):
    SPOT = "spot", "Spot"
    PERP = "perp", "Perpetual futures"


class MarginMode(models.TextChoices):
    ISOLATED = "isolated", "Isolated"
    CROSS = "cross", "Cross"


class FailoverPolicy(models.TextChoices):
    PAUSE = "pause", "Pause the bot"
    NATIVE = "native", "Fail over to native execution"
    REDEPLOY = "redeploy", "Redeploy on another instance"


class Bot(OrganizationOwned):
    """A strategy running on one exchange account and symbol.

    `status` only changes through `bots.services.bot_transition` (a conditional UPDATE);
    `desired_status` is what a user asked for, so a restart after a crash knows the intent.
    """

    name = models.CharField(max_length=120)
    strategy = models.CharField(max_length=64, help_text="Strategy registry key.")
    params = models.JSONField(default=dict, blank=True, help_text="Validated against the strategy's schema.")
    exchange_account = models.ForeignKey("exchanges.ExchangeAccount", on_delete=models.PROTECT, related_name="bots")
    secondary_exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount",
        on_delete=models.PROTECT,
        related_name="secondary_bots",
        null=True,
        blank=True,
        help_text="Second leg for strategies that trade across two accounts (arbitrage).",
    )
    symbol = models.CharField(
        max_length=32, help_text="Unified market symbol: BTC/USDT (spot), BTC/USDC:USDC (linear perpetual)."
    )
    market_type = models.CharField(max_length=8, choices=MarketType.choices, default=MarketType.SPOT)
    leverage = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("1"),
        help_text="Perpetuals: set on the exchange before the first order.",
    )
    margin_mode = models.CharField(
        max_length=8, choices=MarginMode.choices, default=MarginMode.ISOLATED, help_text="Perpetuals only."
    )
    mode = models.CharField(max_length=8, choices=BotMode.choices, default=BotMode.PAPER)
    execution = models.CharField(max_length=16, choices=BotExecution.choices, default=BotExecution.NATIVE)
    failover_policy = models.CharField(max_length=16, choices=FailoverPolicy.choices, default=FailoverPolicy.PAUSE)
    status = models.CharField(max_length=16, choices=BotStatus.choices, default=BotStatus.STOPPED, editable=False)
    desired_status = models.CharField(max_length=16, choices=BotStatus.choices, default=BotStatus.STOPPED)
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    tick_interval = models.PositiveIntegerField(default=60, help_text="Seconds between ticks.")
    capital = MoneyField(
        default=Decimal("1000"),
        help_text="Quote amount allocated to the bot: inventory targets and drawdown are measured against it.",
    )
    state = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Strategy and runtime memory between ticks.",
    )
    next_tick_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Dispatched: its tick is queued until then, or re-dispatched."
    )
    tick_lock_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="A tick holds the bot until then (a crashed one lets go)."
    )
    last_tick_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_tick_ms = models.FloatField(null=True, blank=True, editable=False, help_text="Duration of the last tick.")
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    tick_count = models.PositiveBigIntegerField(default=0, editable=False)
    consecutive_errors = models.PositiveIntegerField(default=0, editable=False)
    restart_count = models.PositiveIntegerField(default=0, editable=False)
    watchdog_restarts = models.PositiveIntegerField(
        default=0, editable=False, help_text="Restarts by the heartbeat watchdog since a person last started the bot."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="bot_unique_name"),
            models.CheckConstraint(condition=Q(tick_interval__gte=1), name="bot_tick_interval_positive"),
            models.CheckConstraint(condition=Q(capital__gt=0), name="bot_capital_positive"),
            models.CheckConstraint(condition=Q(leverage__gte=1), name="bot_leverage_min"),
            models.CheckConstraint(condition=Q(market_type="perp") | Q(leverage=1), name="bot_spot_unleveraged"),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="bot_org_status_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from bots.validation import bot_validate

        try:
            bot_validate(bot=self)
        except ApplicationError as exc:
            field = (exc.field or "__all__").split(".")[0]
            raise ValidationError({field: exc.message}) from exc


class OrderSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


# Statuses only move forward along this rank; the terminal ones share the top.
ORDER_STATUS_RANK = {
    OrderStatus.NEW: 0,
    OrderStatus.OPEN: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELED: 3,
    OrderStatus.REJECTED: 3,
    OrderStatus.EXPIRED: 3,
}
OPEN_ORDER_STATUSES = (OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


class Order(OrganizationOwned):
    """One order as we sent it and as the exchange reports it.

    `client_order_id` is generated and saved before the request is sent, so a crash at any point
    can be recovered by looking the order up on the exchange.
    """

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="orders", null=True, blank=True)
    exchange_account = models.ForeignKey("exchanges.ExchangeAccount", on_delete=models.PROTECT, related_name="orders")
    client_order_id = models.CharField(max_length=64, unique=True)
    tag = models.CharField(
        max_length=32, blank=True, help_text="The strategy's name for the order (entry, grid-3-buy)."
    )
    exchange_order_id = models.CharField(max_length=128, blank=True, db_index=True)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    type = models.CharField(max_length=8, choices=OrderType.choices)
    price = MoneyField(null=True, blank=True, help_text="Limit price; empty for market orders.")
    amount = MoneyField()
    filled = MoneyField(default=Decimal("0"))
    average = MoneyField(null=True, blank=True)
    fee = MoneyField(default=Decimal("0"))
    fee_currency = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    reduce_only = models.BooleanField(default=False, help_text="Perpetuals: may only reduce the position.")
    trigger_price = MoneyField(
        null=True,
        blank=True,
        help_text="A protective stop-loss/take-profit resting on the exchange fires at this price.",
    )
    trigger_kind = models.CharField(
        max_length=2,
        blank=True,
        choices=[("sl", "Stop-loss"), ("tp", "Take-profit")],
        help_text="With a trigger price: which protective order this is.",
    )
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was rejected or canceled.")
    raw = models.JSONField(default=dict, blank=True, help_text="The exchange's last answer.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    missing_since = models.DateTimeField(
        null=True, blank=True, help_text="First time reconciliation could not find it on the exchange."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(condition=Q(filled__gte=0) & Q(filled__lte=F("amount")), name="order_filled_range"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="order_price_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="order_fee_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="order_org_created_idx"),
            models.Index(fields=["bot", "-created_at"], name="order_bot_created_idx"),
            models.Index(fields=["exchange_account", "status"], name="order_account_status_idx"),
            # A bot's working orders, read at every tick; without it the planner may combine the
            # organization index below and walk every working order of the organization.
            models.Index(
                fields=["bot"],
                condition=Q(status__in=["new", "open", "partially_filled"]),
                name="order_bot_open_idx",
            ),
            # The organization's working orders, counted at every tick when it limits them.
            models.Index(
                fields=["organization"],
                condition=Q(status__in=["new", "open", "partially_filled"]),
                name="order_org_open_idx",
            ),
        ]

    def __str__(self) -> str:
        price = f" @ {self.price}" if self.price is not None else ""
        return f"{self.side} {self.amount} {self.symbol}{price} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES


class Fill(OrganizationOwned):
    """A trade against one of our orders; unique per exchange account and trade id, so a fill
    reported twice is stored once."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    exchange_account = models.ForeignKey("exchanges.ExchangeAccount", on_delete=models.PROTECT, related_name="fills")
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="fills", null=True, blank=True)
    trade_id = models.CharField(max_length=128)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    price = MoneyField()
    amount = MoneyField()
    fee = MoneyField(default=Decimal("0"))
    fee_currency = models.CharField(max_length=16, blank=True)
    is_maker = models.BooleanField(null=True, blank=True)
    liquidation = models.BooleanField(default=False, help_text="The exchange liquidated the position.")
    ts = models.DateTimeField(help_text="When the exchange executed the trade.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts"]
        constraints = [
            models.UniqueConstraint(fields=["exchange_account", "trade_id"], name="fill_unique_trade_per_account"),
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(price__gt=0), name="fill_amount_price_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="fill_fee_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["organization", "-ts"], name="fill_org_ts_idx"),
            models.Index(fields=["bot", "-ts"], name="fill_bot_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} @ {self.price}"


class Position(OrganizationOwned):
    """A bot's holding in one symbol, derived from its fills (always their sum)."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=32)
    quantity = MoneyField(default=Decimal("0"), help_text="Signed: negative is short.")
    average_entry_price = MoneyField(default=Decimal("0"))
    realized_pnl = MoneyField(default=Decimal("0"))
    fees_paid = MoneyField(default=Decimal("0"))
    funding = MoneyField(default=Decimal("0"), help_text="Perpetuals: funding received while open (negative: paid).")
    mark_price = MoneyField(null=True, blank=True, help_text="Perpetuals: the mark at the last update.")
    unrealized_pnl = MoneyField(null=True, blank=True)
    liquidation_price = MoneyField(
        null=True,
        blank=True,
        help_text="Perpetuals: the exchange's (live) or computed from maintenance margin (paper).",
    )
    margin_used = MoneyField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=64, blank=True)
    last_fill_at = models.DateTimeField(null=True, blank=True, help_text="Time of the newest fill applied.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["organization", "closed_at"], name="position_org_closed_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "symbol"], condition=Q(closed_at__isnull=True), name="position_one_open_per_symbol"
            ),
            models.CheckConstraint(condition=Q(average_entry_price__gte=0), name="position_entry_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity} @ {self.average_entry_price}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class FundingPayment(OrganizationOwned):
    """A perpetual funding payment: its own ledger row, counted in the bot's PnL. `amount` is what
    the account received in the settle currency (negative: paid)."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="funding_payments", null=True, blank=True)
    exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount", on_delete=models.PROTECT, related_name="funding_payments"
    )
    symbol = models.CharField(max_length=32)
    payment_id = models.CharField(max_length=128, help_text="The exchange's id (or time) of the payment.")
    amount = MoneyField()
    rate = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    position_quantity = MoneyField(null=True, blank=True)
    mark_price = MoneyField(null=True, blank=True)
    ts = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ts"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange_account", "symbol", "payment_id"], name="funding_unique_payment_per_account"
            ),
        ]
        indexes = [models.Index(fields=["bot", "-ts"], name="funding_bot_ts_idx")]

    def __str__(self) -> str:
        return f"funding {self.symbol} {self.amount}"


class BotEvent(OrganizationOwned):
    """The black box and the audit trail: what happened to a bot (or its organization), who did it
    and from which surface. Written once, never edited."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="events", null=True, blank=True)
    level = models.CharField(max_length=10, choices=EventLevel.choices, default=EventLevel.INFO)
    kind = models.CharField(max_length=64, help_text="Machine-readable, e.g. bot.started, risk.rejected.")
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=16, choices=EventSource.choices, default=EventSource.SYSTEM)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="event_org_created_idx"),
            models.Index(fields=["bot", "-created_at"], name="event_bot_created_idx"),
            models.Index(fields=["kind"], name="event_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.kind}: {self.message[:80]}"
