"""Factories for every model; each owned row gets a consistent organization."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule
from analytics.models import MetricSnapshot
from backtest.models import Backtest
from bots.models import Bot, BotEvent, Fill, FundingPayment, Order, Position
from exchanges.models import ExchangeAccount
from hummingbot.models import HummingbotDeployment, HummingbotInstance
from organizations.models import ApiKey, Membership, Organization, Role, hash_api_secret
from risk.models import KillSwitch, RiskLimits


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.VIEWER


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    name = "integration"
    prefix = factory.Sequence(lambda n: f"{n:08x}")
    hashed_secret = hash_api_secret("secret")
    scopes = ["read"]


class ExchangeAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeAccount

    organization = factory.SubFactory(OrganizationFactory)
    exchange = "paper"
    label = factory.Sequence(lambda n: f"Account {n}")
    status = "active"


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Bot {n}")
    strategy = "grid"
    params = factory.LazyFunction(dict)
    exchange_account = factory.SubFactory(ExchangeAccountFactory, organization=factory.SelfAttribute("..organization"))
    symbol = "BTC/USDT"


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    bot = factory.SubFactory(BotFactory)
    organization = factory.SelfAttribute("bot.organization")
    exchange_account = factory.SelfAttribute("bot.exchange_account")
    client_order_id = factory.Sequence(lambda n: f"cid-{n:010d}")
    symbol = "BTC/USDT"
    side = "buy"
    type = "limit"
    price = Decimal("30000")
    amount = Decimal("0.01")


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    organization = factory.SelfAttribute("order.organization")
    exchange_account = factory.SelfAttribute("order.exchange_account")
    bot = factory.SelfAttribute("order.bot")
    trade_id = factory.Sequence(lambda n: f"t-{n}")
    symbol = "BTC/USDT"
    side = "buy"
    price = Decimal("30000")
    amount = Decimal("0.01")
    ts = factory.LazyFunction(timezone.now)


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    bot = factory.SubFactory(BotFactory)
    organization = factory.SelfAttribute("bot.organization")
    symbol = "BTC/USDT"
    quantity = Decimal("0.01")
    average_entry_price = Decimal("30000")
    opened_at = factory.LazyFunction(timezone.now)


class FundingPaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FundingPayment

    bot = factory.SubFactory(BotFactory, symbol="BTC/USDT:USDT", market_type="perp", leverage=3)
    organization = factory.SelfAttribute("bot.organization")
    exchange_account = factory.SelfAttribute("bot.exchange_account")
    symbol = "BTC/USDT:USDT"
    payment_id = factory.Sequence(lambda n: f"funding-{n}")
    amount = Decimal("-0.12")
    rate = Decimal("0.0001")
    position_quantity = Decimal("0.04")
    mark_price = Decimal("30000")
    ts = factory.LazyFunction(timezone.now)


class BotEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BotEvent

    bot = factory.SubFactory(BotFactory)
    organization = factory.SelfAttribute("bot.organization")
    kind = "test.event"
    message = "something happened"


class RiskLimitsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskLimits

    organization = factory.SubFactory(OrganizationFactory)
    max_order_notional = Decimal("1000")


class KillSwitchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KillSwitch

    organization = factory.SubFactory(OrganizationFactory)


class MetricSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricSnapshot

    bot = factory.SubFactory(BotFactory)
    organization = factory.SelfAttribute("bot.organization")
    ts = factory.LazyFunction(timezone.now)
    balance = Decimal("1000")
    equity = Decimal("1010")


class HummingbotInstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HummingbotInstance

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"hb-{n}")
    instance_id = factory.Sequence(lambda n: f"instance-{n}")


class HummingbotDeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HummingbotDeployment

    bot = factory.SubFactory(BotFactory, execution="hummingbot")
    organization = factory.SelfAttribute("bot.organization")
    instance = factory.SubFactory(HummingbotInstanceFactory, organization=factory.SelfAttribute("..organization"))
    strategy_name = "pure_market_making"
    config_file = "conf_pmm_1.yml"
    rendered_config = "strategy: pure_market_making\n"


class AlertChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertChannel

    organization = factory.SubFactory(OrganizationFactory)
    kind = "email"
    name = factory.Sequence(lambda n: f"channel-{n}")
    config = factory.LazyFunction(lambda: {"emails": ["ops@example.com"]})


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"rule-{n}")
    event_kinds = factory.LazyFunction(lambda: ["bot."])


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    rule = factory.SubFactory(AlertRuleFactory)
    organization = factory.SelfAttribute("rule.organization")
    kind = "bot.error"
    fingerprint = factory.Sequence(lambda n: f"fp-{n}")
    level = "critical"
    title = factory.Sequence(lambda n: f"alert-{n}")
    message = "The bot stopped with an error."
    first_at = factory.LazyFunction(timezone.now)
    last_at = factory.LazyFunction(timezone.now)


class AlertDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertDelivery

    alert = factory.SubFactory(AlertFactory)
    organization = factory.SelfAttribute("alert.organization")
    channel = factory.SubFactory(AlertChannelFactory, organization=factory.SelfAttribute("..organization"))


class BacktestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backtest

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"backtest-{n}")
    strategy = "macd_trend"
    symbol = "BTC/USDT"
    start = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=7))
    end = factory.LazyFunction(timezone.now)


def perp_bot_with_history(organization, symbol: str = "BTC/USDT:USDT") -> Bot:
    """A 5x perpetual bot short 0.5 at 30,000 (mark 29,100, liquidation 35,643.56, margin 3,000),
    whose reduce-only stop at 31,500 was filled by a liquidation, with 1.25 of funding received."""
    bot = BotFactory(organization=organization, symbol=symbol, market_type="perp", leverage=Decimal(5))
    PositionFactory(
        bot=bot,
        symbol=symbol,
        quantity=Decimal("-0.5"),
        average_entry_price=Decimal("30000"),
        mark_price=Decimal("29100"),
        unrealized_pnl=Decimal("450"),
        liquidation_price=Decimal("35643.56"),
        margin_used=Decimal("3000"),
        funding=Decimal("1.25"),
    )
    stop = OrderFactory(
        bot=bot,
        symbol=symbol,
        side="buy",
        type="market",
        price=None,
        reduce_only=True,
        trigger_price=Decimal("31500"),
        trigger_kind="sl",
        tag="protect-sl",
    )
    FillFactory(order=stop, bot=bot, symbol=symbol, liquidation=True)
    FundingPaymentFactory(bot=bot, amount=Decimal("1.25"), rate=Decimal("-0.0001"), ts=timezone.now())
    return bot


class SignalSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.SignalSource"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"source-{n}")
    kind = "engine"


class SignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.Signal"

    organization = factory.SelfAttribute("source.organization")
    source = factory.SubFactory(SignalSourceFactory)
    exchange = "binance"
    symbol = "BTC/USDT"
    timeframe = "1h"
    side = "buy"
    confidence = Decimal("0.7500")
    valid_until = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=3))


class WatchedMarketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.WatchedMarket"

    organization = factory.SelfAttribute("source.organization")
    source = factory.SubFactory(SignalSourceFactory)
    exchange = "binance"
    symbol = factory.Sequence(lambda n: f"C{n}/USDT")
    timeframe = "1h"


class AiBudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.AiBudget"

    organization = factory.SubFactory(OrganizationFactory)
    monthly_limit = Decimal("5")


class AiUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.AiUsage"

    organization = factory.SubFactory(OrganizationFactory)
    model = "gpt-4o-mini"
    prompt_tokens = 100
    completion_tokens = 20


class GatewayConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dex.GatewayConnection"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"gateway-{n}")
    url = "http://127.0.0.1:15888"


class DexWalletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dex.DexWallet"

    connection = factory.SubFactory(GatewayConnectionFactory)
    organization = factory.SelfAttribute("connection.organization")
    address = factory.Sequence(lambda n: f"So1anaWa11et{n:020d}")


class DexSwapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dex.DexSwap"

    wallet = factory.SubFactory(DexWalletFactory)
    organization = factory.SelfAttribute("wallet.organization")
    intent_key = factory.Sequence(lambda n: f"swap-{n}")
    base = "SOL"
    quote = "USDC"
    side = "sell"
    amount = Decimal("1")
    slippage_bps = 50


class DexAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dex.DexAccount"

    connection = factory.SubFactory(GatewayConnectionFactory)
    organization = factory.SelfAttribute("connection.organization")
    account = factory.SubFactory(
        ExchangeAccountFactory, organization=factory.SelfAttribute("..organization"), exchange="jupiter_paper"
    )
    pairs = factory.LazyFunction(lambda: ["SOL/USDC"])


class SniperFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dex.Sniper"

    account = factory.SubFactory(DexAccountFactory)
    organization = factory.SelfAttribute("account.organization")
    name = factory.Sequence(lambda n: f"sniper-{n}")
    source_url = "http://127.0.0.1:9/new-tokens"


class SnipeTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dex.SnipeToken"

    sniper = factory.SubFactory(SniperFactory)
    organization = factory.SelfAttribute("sniper.organization")
    mint = factory.Sequence(lambda n: f"M1nt{n:030d}")
    status = "rejected"
