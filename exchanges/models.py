"""Exchange accounts: an organization's credentials for one exchange (or the paper exchange)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.fields import MoneyField
from exchanges import venues
from exchanges.fields import SecretField
from exchanges.secrets import mask
from organizations.tenancy import OrganizationOwned

PAPER_EXCHANGE = "paper"


def validate_exchange_id(value: str) -> None:
    """Accept `paper`, a venue another app serves (e.g. `jupiter`), or any exchange id ccxt knows."""
    if value == PAPER_EXCHANGE or venues.external_venue(value) is not None:
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
    wallet_address = SecretField(
        blank=True, default="", help_text="Wallet-signed exchanges (Hyperliquid): the account's wallet address."
    )
    private_key = SecretField(
        blank=True,
        default="",
        help_text="Wallet-signed exchanges (Hyperliquid): the key (or API wallet key) that signs.",
    )
    is_testnet = models.BooleanField(default=False, help_text="Use the exchange's sandbox.")
    status = models.CharField(
        max_length=16, choices=ExchangeAccountStatus.choices, default=ExchangeAccountStatus.UNVERIFIED
    )
    status_reason = models.CharField(max_length=500, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_changed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    trades_synced_until = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Reconciliation's trade cursor per symbol (ms)."
    )
    last_reconciled_at = models.DateTimeField(null=True, blank=True, editable=False)
    reconcile_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    paper_taker_fee = MoneyField(default=Decimal("0.001"), help_text="Paper exchange: fee rate of market orders.")
    paper_maker_fee = MoneyField(default=Decimal("0.001"), help_text="Paper exchange: fee rate of resting orders.")
    paper_slippage = MoneyField(
        default=Decimal("0.0005"), help_text="Paper exchange: market orders fill this fraction worse than the price."
    )
    paper_participation = MoneyField(
        default=Decimal("0.1"), help_text="Paper exchange: share of a candle's volume one order can take."
    )
    paper_funding_rate = MoneyField(
        default=Decimal("0.0001"),
        help_text="Paper perpetuals: funding rate per interval when no stored funding series covers the time.",
    )
    paper_funding_interval_hours = models.PositiveSmallIntegerField(
        default=8, help_text="Paper perpetuals: hours between funding payments (Hyperliquid pays hourly)."
    )
    paper_max_leverage = models.PositiveSmallIntegerField(
        default=50, help_text="Paper perpetuals: highest leverage; the maintenance margin rate is 1 / (2 x this)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "label"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "label"], name="exchangeaccount_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange})"

    def clean(self) -> None:
        """A credential the exchange does not take is refused (it would sit there encrypted and
        unused, and the person who typed it probably meant another field)."""
        if not self.exchange:
            return
        wanted = venues.credential_fields(self.exchange)
        for name in venues.ALL_CREDENTIALS:
            if getattr(self, name) and name not in wanted:
                needs = venues.credentials_sentence(self.exchange)
                takes = "A paper account takes no credentials." if self.is_paper else f"{self.exchange} needs {needs}."
                raise ValidationError({name: f"{takes} It takes no {venues.CREDENTIAL_LABELS[name].lower()}."})

    @property
    def credential_fields(self) -> tuple[str, ...]:
        """The credential fields this account's exchange needs (ccxt's requiredCredentials)."""
        return venues.credential_fields(self.exchange)

    @property
    def missing_credentials(self) -> tuple[str, ...]:
        return tuple(name for name in self.credential_fields if not getattr(self, name))

    @property
    def masked_credentials(self) -> dict[str, str]:
        """Each needed credential, masked (empty when not set): what a page or the API may show."""
        return {name: mask(getattr(self, name)) for name in self.credential_fields}

    @property
    def is_paper(self) -> bool:
        """The replayed paper exchange (market time is the replay clock's)."""
        return self.exchange == PAPER_EXCHANGE

    @property
    def is_simulated(self) -> bool:
        """Fills are simulated, live prices or replayed: only paper bots trade here."""
        if self.is_paper:
            return True
        venue = venues.external_venue(self.exchange)
        return venue is not None and venue.simulated

    @property
    def masked_api_key(self) -> str:
        return mask(self.api_key)

    @property
    def masked_api_secret(self) -> str:
        return mask(self.api_secret)

    @property
    def masked_passphrase(self) -> str:
        return mask(self.passphrase)

    @property
    def masked_wallet_address(self) -> str:
        return mask(self.wallet_address)

    @property
    def masked_private_key(self) -> str:
        return mask(self.private_key)


class Candle(models.Model):
    """One OHLCV candle. Unique per exchange, symbol, timeframe and open time; gaps are reported,
    never filled with invented data."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    ts = models.DateTimeField(help_text="Open time (UTC).")
    open = MoneyField()
    high = MoneyField()
    low = MoneyField()
    close = MoneyField()
    volume = MoneyField()

    class Meta:
        ordering = ["exchange", "symbol", "timeframe", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "timeframe", "ts"], name="candle_unique_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} {self.ts:%Y-%m-%d %H:%M}"


class PaperBalance(models.Model):
    """The paper exchange's ledger: one asset of one paper account."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_balances")
    asset = models.CharField(max_length=16)
    free = MoneyField(default=Decimal("0"))
    locked = MoneyField(default=Decimal("0"))

    class Meta:
        ordering = ["account", "asset"]
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="paperbalance_unique_asset"),
            models.CheckConstraint(condition=Q(free__gte=0) & Q(locked__gte=0), name="paperbalance_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.asset}: {self.free} free, {self.locked} locked"


class PaperOrder(models.Model):
    """An order as the paper exchange holds it: the exchange side, kept apart from our Order rows
    so that the same placement and reconciliation code serves paper and live."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_orders")
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    type = models.CharField(max_length=8)
    price = MoneyField(null=True, blank=True)
    amount = MoneyField()
    filled = MoneyField(default=Decimal("0"))
    cost = MoneyField(default=Decimal("0"))
    fee = MoneyField(default=Decimal("0"))
    reserved = MoneyField(default=Decimal("0"), help_text="Funds still locked for the unfilled part.")
    reduce_only = models.BooleanField(default=False)
    trigger_price = MoneyField(null=True, blank=True, help_text="Trigger (stop) order: fires at this mark.")
    trigger_kind = models.CharField(max_length=2, blank=True, help_text="sl (stop-loss) or tp (take-profit).")
    status = models.CharField(max_length=20)
    created_ms = models.BigIntegerField(help_text="Market time of placement (ms).")
    matched_until_ms = models.BigIntegerField(help_text="Candles before this time were matched (ms).")
    updated_ms = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "status"], name="paperorder_account_status_idx")]
        constraints = [
            # Like real exchanges: a client id may not repeat while its order is still open.
            models.UniqueConstraint(
                fields=["account", "client_order_id"],
                condition=Q(status__in=["open", "partially_filled"]),
                name="paperorder_unique_open_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"paper #{self.pk} {self.side} {self.amount} {self.symbol} ({self.status})"


class PaperTrade(models.Model):
    """A fill on the paper exchange."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_trades")
    order = models.ForeignKey(PaperOrder, on_delete=models.CASCADE, related_name="trades")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    price = MoneyField()
    amount = MoneyField()
    fee = MoneyField(default=Decimal("0"))
    fee_currency = models.CharField(max_length=16)
    is_maker = models.BooleanField(default=False)
    liquidation = models.BooleanField(
        default=False, help_text="The exchange closed the position at its liquidation price."
    )
    ts_ms = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "symbol", "id"], name="papertrade_account_symbol_idx")]

    def __str__(self) -> str:
        return f"paper trade #{self.pk} {self.side} {self.amount} {self.symbol} @ {self.price}"


class FundingRate(models.Model):
    """One funding rate of a perpetual market at one funding time (a stored series the paper
    exchange and the backtester apply; without one they use the account's or run's rate)."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32, help_text="The perpetual's unified symbol, e.g. BTC/USDT:USDT.")
    ts = models.DateTimeField(help_text="Funding time (UTC).")
    rate = models.DecimalField(max_digits=20, decimal_places=12, help_text="Per funding interval: 0.0001 is 0.01%.")

    class Meta:
        ordering = ["exchange", "symbol", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "ts"], name="fundingrate_unique_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.ts:%Y-%m-%d %H:%M} {self.rate}"


class MarginMode(models.TextChoices):
    ISOLATED = "isolated", "Isolated"
    CROSS = "cross", "Cross"


class PaperPosition(models.Model):
    """A perpetual position on the paper exchange (the exchange side; bots keep their own)."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_positions")
    symbol = models.CharField(max_length=32)
    quantity = MoneyField(default=Decimal("0"), help_text="Signed: negative is short.")
    entry_price = MoneyField(default=Decimal("0"))
    leverage = MoneyField(default=Decimal("1"))
    margin_mode = models.CharField(max_length=8, choices=MarginMode.choices, default=MarginMode.ISOLATED)
    margin = MoneyField(default=Decimal("0"), help_text="Collateral posted for the position (locked).")
    realized_pnl = MoneyField(default=Decimal("0"))
    funding = MoneyField(default=Decimal("0"), help_text="Funding received since it opened (negative: paid).")
    funded_until_ms = models.BigIntegerField(default=0, help_text="Funding times up to this one are applied (ms).")
    updated_ms = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["account", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="paperposition_unique_symbol"),
            models.CheckConstraint(condition=Q(leverage__gte=1), name="paperposition_leverage_min"),
            models.CheckConstraint(condition=Q(margin__gte=0), name="paperposition_margin_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"paper {self.symbol} {self.quantity} @ {self.entry_price}"


class PaperFunding(models.Model):
    """A funding payment on the paper exchange: `amount` received by the account (negative: paid)."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_funding")
    symbol = models.CharField(max_length=32)
    ts_ms = models.BigIntegerField()
    rate = models.DecimalField(max_digits=20, decimal_places=12)
    quantity = MoneyField()
    mark_price = MoneyField()
    amount = MoneyField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol", "ts_ms"], name="paperfunding_unique_time"),
        ]

    def __str__(self) -> str:
        return f"paper funding {self.symbol} {self.amount}"
