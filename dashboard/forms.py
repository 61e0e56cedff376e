"""Dashboard forms: they validate input and name the field at fault; services do the writes."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone

from bots.models import Bot, BotExecution, BotMode, MarginMode, MarketType, OrderSide, OrderType
from exchanges import venues
from exchanges.models import ExchangeAccount
from organizations.models import ApiKeyScope
from risk.engine import LIMIT_FIELDS
from risk.models import RiskLimits


class BotForm(forms.Form):
    """A bot's settings; the strategy's parameters are JSON, checked against its schema by the
    service (empty: the strategy's defaults)."""

    name = forms.CharField(max_length=120)
    strategy = forms.ChoiceField(choices=())
    exchange_account = forms.ModelChoiceField(queryset=ExchangeAccount.objects.none())
    secondary_exchange_account = forms.ModelChoiceField(
        queryset=ExchangeAccount.objects.none(), required=False, help_text="Only for strategies across two accounts."
    )
    symbol = forms.CharField(
        max_length=32, initial="BTC/USDT", help_text="BTC/USDT for spot; BTC/USDC:USDC style for a perpetual."
    )
    market_type = forms.ChoiceField(choices=MarketType.choices, initial=MarketType.SPOT, label="Market", required=False)
    leverage = forms.DecimalField(
        max_digits=6,
        decimal_places=2,
        min_value=Decimal("1"),
        initial=Decimal("1"),
        required=False,
        help_text="Perpetuals only: set on the exchange before the first order.",
    )
    margin_mode = forms.ChoiceField(
        choices=MarginMode.choices, initial=MarginMode.ISOLATED, required=False, help_text="Perpetuals only."
    )
    mode = forms.ChoiceField(choices=BotMode.choices, initial=BotMode.PAPER)
    execution = forms.ChoiceField(choices=BotExecution.choices, initial=BotExecution.NATIVE)
    tick_interval = forms.IntegerField(min_value=1, initial=60, help_text="Seconds between ticks.")
    capital = forms.DecimalField(max_digits=38, decimal_places=18, min_value=Decimal("0"), initial=Decimal("1000"))
    params = forms.JSONField(required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 6}))

    def __init__(self, *args, organization=None, **kwargs) -> None:
        from strategies.registry import choices

        super().__init__(*args, **kwargs)
        accounts = ExchangeAccount.objects.for_organization(organization).order_by("label")
        self.fields["exchange_account"].queryset = accounts
        self.fields["secondary_exchange_account"].queryset = accounts
        self.fields["strategy"].choices = choices()

    @classmethod
    def initial_for(cls, bot: Bot) -> dict:
        names = (
            "name",
            "strategy",
            "symbol",
            "market_type",
            "leverage",
            "margin_mode",
            "mode",
            "execution",
            "tick_interval",
            "capital",
            "params",
        )
        return {
            **{name: getattr(bot, name) for name in names},
            "exchange_account": bot.exchange_account_id,
            "secondary_exchange_account": bot.secondary_exchange_account_id,
        }

    def clean_market_type(self) -> str:
        return self.cleaned_data.get("market_type") or MarketType.SPOT

    def clean_leverage(self) -> Decimal:
        return self.cleaned_data.get("leverage") or Decimal("1")

    def clean_margin_mode(self) -> str:
        return self.cleaned_data.get("margin_mode") or MarginMode.ISOLATED

    def clean_symbol(self) -> str:
        symbol = self.cleaned_data["symbol"].strip().upper()
        if "/" not in symbol:
            raise forms.ValidationError("Use a unified symbol like BTC/USDT.")
        return symbol

    def clean_capital(self) -> Decimal:
        capital = self.cleaned_data["capital"]
        if capital <= 0:
            raise forms.ValidationError("The capital must be more than zero.")
        return capital

    def clean_params(self) -> dict:
        params = self.cleaned_data.get("params")
        if params in (None, ""):
            return {}
        if not isinstance(params, dict):
            raise forms.ValidationError('Parameters are a JSON object, e.g. {"levels": 5}.')
        return params


class ManualOrderForm(forms.Form):
    side = forms.ChoiceField(choices=OrderSide.choices)
    type = forms.ChoiceField(choices=OrderType.choices, initial=OrderType.MARKET)
    amount = forms.DecimalField(max_digits=38, decimal_places=18, min_value=Decimal("0"))
    price = forms.DecimalField(
        max_digits=38, decimal_places=18, min_value=Decimal("0"), required=False, help_text="Limit orders only."
    )

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("The amount must be more than zero.")
        return amount

    def clean(self) -> dict:
        data = super().clean()
        price = data.get("price")
        if data.get("type") == OrderType.LIMIT:
            if price is None:
                self.add_error("price", "A limit order needs a price.")
            elif price <= 0:
                self.add_error("price", "The price must be more than zero.")
        elif price is not None:
            self.add_error("price", "A market order takes no price.")
        return data


class ExchangeAccountForm(forms.Form):
    """Credentials are write-only: the inputs never render a stored value back. The form carries
    exactly the credentials the chosen exchange needs (ccxt's requiredCredentials): an API key and
    secret for Binance, a passphrase as well for OKX, a wallet address and private key for
    Hyperliquid, none for paper."""

    exchange = forms.CharField(
        max_length=32,
        initial="paper",
        help_text="'paper' or a ccxt id such as 'binance', 'bybit', 'hyperliquid'.",
        widget=forms.TextInput(attrs={"list": "exchange-ids"}),
    )
    label = forms.CharField(max_length=120)
    is_testnet = forms.BooleanField(required=False, label="Testnet (sandbox)")

    def __init__(self, *args, organization=None, exchange: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        chosen = (self.data.get("exchange") if self.is_bound else exchange) or "paper"
        chosen = chosen.strip().lower()
        self.initial.setdefault("exchange", chosen)
        self.credential_names = venues.credential_fields(chosen)
        for name in self.credential_names:
            self.fields[name] = forms.CharField(
                label=venues.CREDENTIAL_LABELS[name],
                required=True,
                strip=True,
                widget=forms.PasswordInput(render_value=False),
                error_messages={"required": f"{chosen} needs {venues.credentials_sentence(chosen)}."},
            )

    def clean_exchange(self) -> str:
        from exchanges.models import validate_exchange_id

        value = self.cleaned_data["exchange"].strip().lower()
        validate_exchange_id(value)
        return value

    def clean_label(self) -> str:
        label = self.cleaned_data["label"].strip()
        if (
            self.organization is not None
            and ExchangeAccount.objects.filter(organization=self.organization, label=label).exists()
        ):
            raise forms.ValidationError("This organization already has an account with that label.")
        return label


class RiskLimitsForm(forms.ModelForm):
    allowed_symbols = forms.CharField(
        required=False, help_text="Comma-separated, e.g. BTC/USDT, ETH/USDT. Empty: every symbol."
    )

    class Meta:
        model = RiskLimits
        fields = list(LIMIT_FIELDS)  # the risk engine's limits, in its order

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.allowed_symbols:
            self.initial["allowed_symbols"] = ", ".join(self.instance.allowed_symbols)

    def clean_allowed_symbols(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_symbols") or ""
        symbols = [s.strip().upper() for s in raw.split(",") if s.strip()]
        bad = [s for s in symbols if "/" not in s]
        if bad:
            raise forms.ValidationError(f"Use unified symbols like BTC/USDT: {', '.join(bad)}.")
        return symbols


class KillSwitchEngageForm(forms.Form):
    reason = forms.CharField(max_length=400, widget=forms.TextInput)
    confirm = forms.CharField(max_length=120, label="Type the organization's name to confirm")

    def __init__(self, *args, organization=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the kill switch is engaged.")
        return reason

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if self.organization is not None and value != self.organization.name:
            raise forms.ValidationError(f"Type {self.organization.name} exactly to confirm.")
        return value


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=120)
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiKeyScope.READ]
    )
    expires_at = forms.DateTimeField(
        required=False,
        help_text="Optional, UTC (YYYY-MM-DD HH:MM).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class SignalSourceForm(forms.Form):
    """A new signal source; the service checks the values and names the field at fault."""

    name = forms.CharField(max_length=64)
    kind = forms.ChoiceField(choices=())
    weight = forms.DecimalField(max_digits=6, decimal_places=3, initial=Decimal("1"), help_text="0 to 100.")

    def __init__(self, *args, **kwargs) -> None:
        from signals.models import SourceKind

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = SourceKind.choices


class WatchedMarketForm(forms.Form):
    """A symbol/timeframe an engine or AI source computes at each candle close."""

    source = forms.ModelChoiceField(queryset=None)
    exchange = forms.CharField(max_length=32, initial="binance")
    symbol = forms.CharField(max_length=32, initial="BTC/USDT")
    timeframe = forms.CharField(max_length=8, initial="1h", help_text="1m, 5m, 15m, 1h, 4h or 1d.")

    def __init__(self, *args, organization=None, **kwargs) -> None:
        from signals.models import SignalSource

        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = SignalSource.objects.for_organization(organization).order_by("name")


class SignalDeployForm(forms.Form):
    """Deploy a signal on one of the organization's stopped Hummingbot bots trading its symbol."""

    bot = forms.ModelChoiceField(queryset=None, help_text="Stopped bots that run on Hummingbot and trade this symbol.")
    as_kind = forms.ChoiceField(
        required=False,
        choices=[("", "The signal's own kind"), ("market_making", "Market making"), ("grid", "Grid")],
        label="Deploy as",
        help_text="A directional signal runs as market making leaned to its side, or as a grid.",
    )
    order_amount = forms.DecimalField(
        required=False, min_value=Decimal("0"), max_digits=30, decimal_places=12, help_text="Default: the bot's."
    )
    lower = forms.DecimalField(required=False, max_digits=30, decimal_places=12, help_text="Grid: default support.")
    upper = forms.DecimalField(required=False, max_digits=30, decimal_places=12, help_text="Grid: default resistance.")
    levels = forms.IntegerField(initial=10, min_value=2, max_value=200)

    def __init__(self, *args, signal=None, **kwargs) -> None:
        from bots.state import BotStatus

        super().__init__(*args, **kwargs)
        self.fields["bot"].queryset = (
            Bot.objects.for_organization(signal.organization_id)
            .filter(
                execution=BotExecution.HUMMINGBOT,
                symbol=signal.symbol,
                status__in=[BotStatus.STOPPED, BotStatus.ERROR],
            )
            .select_related("exchange_account", "secondary_exchange_account")
            .order_by("name")
        )
