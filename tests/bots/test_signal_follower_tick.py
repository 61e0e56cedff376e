"""A paper bot running signal_follower: the tick reads the organization's stored signals (one
query, for this strategy only), places one order per signal through the risk check, and ignores
other organizations' signals, expired ones and disabled sources."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots.models import Bot, BotEvent, Order
from bots.runtime import bot_tick
from bots.services import bot_start
from exchanges.gateway import paper_source
from exchanges.paper import paper_balance_set
from risk.models import RiskLimits
from tests.bots.test_runtime import market  # noqa: F401 - candles in the store and a fixed paper clock
from tests.factories import BotFactory, ExchangeAccountFactory, SignalFactory, SignalSourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(market):  # noqa: F811 - the imported fixture, by its name
    return market


def follower(org, **params):
    account = ExchangeAccountFactory(organization=org, exchange="paper")
    paper_balance_set(account=account, asset="USDT", free=Decimal("100000"))
    bot = BotFactory(
        organization=org,
        exchange_account=account,
        strategy="signal_follower",
        params={"order_quote": "500", **params},
        symbol="BTC/USDT",
        tick_interval=5,
    )
    bot_start(bot=bot)
    return Bot.objects.select_related("exchange_account").get(pk=bot.pk)


def tick_again(bot):
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    return bot_tick(bot_id=bot.pk)


def test_a_stored_signal_places_one_order_and_only_once(org_a, clock):
    bot = follower(org_a)
    signal = SignalFactory(source=SignalSourceFactory(organization=org_a), side="buy", confidence=Decimal("0.8"))
    result = bot_tick(bot_id=bot.pk)
    assert (result.outcome, result.placed, result.rejected) == ("ticked", 1, 0)
    order = Order.objects.get(bot=bot)
    assert (order.side, order.tag, order.status) == ("buy", f"sig-{signal.pk}", "filled")
    last = paper_source().last_price(bot.symbol, clock.now_ms())
    assert order.amount == (Decimal("500") / last).quantize(Decimal("0.00000001"), rounding="ROUND_DOWN")
    assert Bot.objects.get(pk=bot.pk).state["strategy"]["entered"] == [signal.pk]
    # The next tick sees the same signal: no second order.
    again = tick_again(bot)
    assert (again.outcome, again.placed) == ("ticked", 0)
    assert Order.objects.filter(bot=bot).count() == 1


def test_other_organizations_expired_and_disabled_signals_are_ignored(org_a, org_b, clock):
    bot = follower(org_a)
    SignalFactory(source=SignalSourceFactory(organization=org_b), side="buy", confidence=Decimal("0.99"))
    expired = SignalFactory(source=SignalSourceFactory(organization=org_a), confidence=Decimal("0.99"))
    type(expired).objects.filter(pk=expired.pk).update(valid_until=timezone.now() - dt.timedelta(seconds=1))
    SignalFactory(source=SignalSourceFactory(organization=org_a, enabled=False), confidence=Decimal("0.99"))
    SignalFactory(source=SignalSourceFactory(organization=org_a), symbol="ETH/USDT", confidence=Decimal("0.99"))
    result = bot_tick(bot_id=bot.pk)
    assert (result.outcome, result.placed) == ("ticked", 0)
    assert result.note == "no signal to follow"
    assert not Order.objects.filter(bot=bot).exists()


def test_a_signal_below_the_threshold_places_nothing_and_says_why(org_a, clock):
    bot = follower(org_a, min_confidence="0.9")
    SignalFactory(source=SignalSourceFactory(organization=org_a), confidence=Decimal("0.8"))
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 0 and result.note == "buy signal at 0.8000, below 0.9"


def test_the_follower_order_goes_through_the_risk_check(org_a, clock):
    bot = follower(org_a)
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("100"))
    signal = SignalFactory(source=SignalSourceFactory(organization=org_a), confidence=Decimal("0.8"))
    result = bot_tick(bot_id=bot.pk)
    assert (result.placed, result.rejected) == (0, 1)
    assert not Order.objects.filter(bot=bot).exists()
    event = BotEvent.objects.get(bot=bot, kind="risk.rejected")
    assert event.data == {"code": "max_order_notional", "tag": f"sig-{signal.pk}"}


def test_reading_signals_costs_the_follower_one_query_and_the_timeframe_filters(org_a, clock):
    bot = follower(org_a, timeframe="5m")
    bot_tick(bot_id=bot.pk)  # the process's first tick loads the candle series into memory once
    SignalFactory(source=SignalSourceFactory(organization=org_a), timeframe="1h", confidence=Decimal("0.9"))
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        result = bot_tick(bot_id=bot.pk)
    # Take the bot, read everything in one statement, read the signals, write heartbeat and schedule.
    assert len(queries) == 4, "\n".join(q["sql"][:80] for q in queries.captured_queries)
    assert result.placed == 0  # the 1h signal is not the bot's timeframe
