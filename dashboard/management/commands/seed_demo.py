"""`manage.py seed_demo`: a demo organization to click through. Running it again changes nothing."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bots.models import Bot, BotMode, MarginMode, MarketType
from exchanges.models import PAPER_EXCHANGE, Candle, ExchangeAccount, ExchangeAccountStatus, PaperBalance
from organizations.models import Membership, Organization, Role
from risk.models import RiskLimits
from signals.backfill import signals_backfill
from signals.models import SignalSource, SourceKind, WatchedMarket
from strategies.registry import get as get_strategy
from strategies.registry import params_to_json

DEMO_USERS = [
    # username, password, role in the demo organization (None: platform superuser, no membership)
    ("admin", "admin-demo", None),
    ("owner", "owner-demo", Role.OWNER),
    ("viewer", "viewer-demo", Role.VIEWER),
]

DEMO_BOTS = [
    # name, strategy, symbol, tick interval (s)
    ("BTC trend", "macd_trend", "BTC/USDT", 60),
    ("ETH mean reversion", "rsi_bb_atr", "ETH/USDT", 60),
    ("SOL grid", "grid", "SOL/USDT", 30),
    ("XRP market maker", "pure_market_making", "XRP/USDT", 15),
    ("ADA momentum", "momentum_reentry", "ADA/USDT", 60),
    ("BTC arbitrage", "arbitrage", "BTC/USDT", 10),
    ("BTC signals", "signal_follower", "BTC/USDT", 60),
]

OPERATOR_APPS = ["organizations", "exchanges", "bots", "hummingbot", "risk", "signals", "analytics", "alerts"]


class Command(BaseCommand):
    help = "Create the demo organization, users, paper accounts and bots (idempotent)."

    def handle(self, *args, **options):
        if settings.SETTINGS_MODULE.endswith("production"):
            raise CommandError("seed_demo creates well-known passwords; it refuses to run with production settings.")
        with transaction.atomic():
            created = self._seed()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new rows)."))
        self.stdout.write("Logins: " + ", ".join(f"{u} / {p}" for u, p, _ in DEMO_USERS))

    def _seed(self) -> int:
        created = 0
        user_model = get_user_model()
        org, new = Organization.objects.get_or_create(slug="demo", defaults={"name": "Demo Trading"})
        created += new

        operators, new = Group.objects.get_or_create(name="Operators")
        created += new
        if new:
            operators.permissions.set(Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS))

        for username, password, role in DEMO_USERS:
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model(
                    username=username,
                    email=f"{username}@demo.invalid",
                    is_staff=role is None,
                    is_superuser=role is None,
                )
                user.set_password(password)
                user.save()
                created += 1
            if role is not None:
                _, new = Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
                created += new

        accounts = {}
        for label in ("Paper A", "Paper B"):
            accounts[label], new = ExchangeAccount.objects.get_or_create(
                organization=org,
                label=label,
                defaults={"exchange": PAPER_EXCHANGE, "status": ExchangeAccountStatus.ACTIVE},
            )
            created += new
            for asset, amount in (("USDT", Decimal("10000")), ("BTC", Decimal("0.1"))):
                _, new = PaperBalance.objects.get_or_create(
                    account=accounts[label], asset=asset, defaults={"free": amount}
                )
                created += new

        _, new = RiskLimits.objects.get_or_create(
            organization=org,
            exchange_account=None,
            bot=None,
            defaults={
                "max_order_notional": Decimal("1000"),
                "max_position_notional": Decimal("5000"),
                "max_open_orders": 20,
                "max_daily_loss": Decimal("500"),
                "max_daily_trades": 500,
                "max_drawdown_pct": Decimal("20"),
                # Wide enough for the demo grid, whose levels span 10% either side of the price.
                "price_band_pct": Decimal("12"),
            },
        )
        created += new

        for name, strategy, symbol, interval in DEMO_BOTS:
            spec = get_strategy(strategy)
            _, new = Bot.objects.get_or_create(
                organization=org,
                name=name,
                defaults={
                    "strategy": strategy,
                    "params": params_to_json(spec.defaults()),
                    "exchange_account": accounts["Paper A"],
                    "secondary_exchange_account": accounts["Paper B"] if spec.needs_second_account else None,
                    "symbol": symbol,
                    "mode": BotMode.PAPER,
                    "tick_interval": interval,
                },
            )
            created += new
        created += self._seed_perp(org)
        created += self._seed_signals(org)
        return created

    def _seed_signals(self, org: Organization) -> int:
        """A factor-engine source watching BTC and ETH hourly, its signals backfilled over the
        last 200 stored candles (so the evaluation has a record), and a webhook source for
        TradingView alerts whose URL is made from the dashboard."""
        created = 0
        engine, new = SignalSource.objects.get_or_create(
            organization=org,
            name="Technical engine",
            defaults={"kind": SourceKind.ENGINE, "alert_min_confidence": Decimal("0.8")},
        )
        created += new
        _, new = SignalSource.objects.get_or_create(
            organization=org, name="TradingView", defaults={"kind": SourceKind.WEBHOOK, "weight": Decimal("0.5")}
        )
        created += new
        for symbol in ("BTC/USDT", "ETH/USDT"):
            market, new = WatchedMarket.objects.get_or_create(
                organization=org,
                source=engine,
                exchange=settings.PAPER_DATA_EXCHANGE,
                symbol=symbol,
                timeframe="1h",
            )
            created += new
            if Candle.objects.filter(exchange=market.exchange, symbol=symbol, timeframe="1h").exists():
                created += signals_backfill(watched_market=market, bars=200).recorded
        return created

    def _seed_perp(self, org: Organization) -> int:
        """The MACD bot on perpetuals, both sides at 3x, on a paper account with Hyperliquid's
        terms (hourly funding, 50x markets), its stops resting on the exchange."""
        created = 0
        account, new = ExchangeAccount.objects.get_or_create(
            organization=org,
            label="Paper perps",
            defaults={
                "exchange": PAPER_EXCHANGE,
                "status": ExchangeAccountStatus.ACTIVE,
                "paper_funding_interval_hours": 1,
                "paper_funding_rate": Decimal("0.0000125"),  # 0.01% per 8 h, paid hourly
                "paper_max_leverage": 50,
            },
        )
        created += new
        _, new = PaperBalance.objects.get_or_create(account=account, asset="USDT", defaults={"free": Decimal("10000")})
        created += new
        spec = get_strategy("macd_trend")
        bot, new = Bot.objects.get_or_create(
            organization=org,
            name="BTC perp MACD (3x, both sides)",
            defaults={
                "strategy": "macd_trend",
                "params": params_to_json(spec.defaults() | {"direction": "both"}),
                "exchange_account": account,
                "symbol": "BTC/USDT:USDT",
                "market_type": MarketType.PERP,
                "leverage": Decimal("3"),
                "margin_mode": MarginMode.ISOLATED,
                "mode": BotMode.PAPER,
                "tick_interval": 60,
            },
        )
        created += new
        _, new = RiskLimits.objects.get_or_create(
            organization=org,
            exchange_account=None,
            bot=bot,
            defaults={
                "max_leverage": Decimal("5"),
                "min_liquidation_distance_pct": Decimal("10"),
                "default_stop_loss_pct": Decimal("2"),
                "default_take_profit_pct": Decimal("4"),
            },
        )
        return created + new
