"""The beat's signal computation: at each candle close a watched market gets one signal, recorded
through signal_record with the close it was computed at, and never twice for the same candle."""

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent
from exchanges.models import Candle
from signals.models import Signal, WatchedMarket
from signals.tasks import due_market_ids, signals_compute, signals_compute_due
from tests.factories import SignalSourceFactory

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """The beat job as a worker runs it: tasks enqueued on commit run at once, in this process."""
    from config.celery import app

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return signals_compute_due()

    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield run
    app.conf.task_always_eager, app.conf.task_eager_propagates = False, False


def store_candles(symbol: str, *, count: int = 300, last_open: dt.datetime) -> list[Candle]:
    """`count` 1h candles of a swinging series whose last one opens at `last_open`."""
    rows = []
    for i in range(count):
        close = Decimal(str(round(100 + 10 * math.sin(i / 12) + i * 0.05, 2)))
        rows.append(
            Candle(
                exchange="binance",
                symbol=symbol,
                timeframe="1h",
                ts=last_open - (count - 1 - i) * HOUR,
                open=close - Decimal("0.5"),
                high=close + Decimal("1"),
                low=close - Decimal("1"),
                close=close,
                volume=Decimal("10"),
            )
        )
    return Candle.objects.bulk_create(rows)


@pytest.fixture
def closed_hour():
    """Open time of the newest closed 1h candle (the one before the current hour)."""
    return timezone.now().replace(minute=0, second=0, microsecond=0) - HOUR


def watch(org, symbol="BTC/USDT", **source):
    src = SignalSourceFactory(organization=org, **source)
    return WatchedMarket.objects.create(organization=org, source=src, exchange="binance", symbol=symbol, timeframe="1h")


def test_it_records_the_signal_at_the_newest_closed_candle(org_a, closed_hour, eager):
    candles = store_candles("BTC/USDT", last_open=closed_hour)
    market = watch(org_a)

    assert eager() == 1

    signal = Signal.objects.get()
    market.refresh_from_db()
    assert signal.organization_id == org_a.pk and signal.source_id == market.source_id
    assert (signal.exchange, signal.symbol, signal.timeframe) == ("binance", "BTC/USDT", "1h")
    assert signal.bar_ts == closed_hour
    assert signal.price == candles[-1].close
    assert signal.side in {"buy", "sell", "neutral"}
    assert Decimal("0") <= signal.confidence <= Decimal("1")
    assert {"rsi", "fibonacci", "elliott", "patterns", "structure"} <= set(signal.factors)
    assert signal.reasoning
    assert market.last_bar_ts == closed_hour


def test_an_unclosed_candle_is_ignored(org_a, closed_hour, eager):
    store_candles("BTC/USDT", last_open=closed_hour)
    market = watch(org_a)
    signals_compute(market.pk)
    # The current hour's candle is stored while it is still open: not yet a close to compute on.
    store_candles("BTC/USDT", count=1, last_open=closed_hour + HOUR)

    assert due_market_ids() == []
    assert signals_compute(market.pk) is None
    assert list(Signal.objects.values_list("bar_ts", flat=True)) == [closed_hour]


def test_a_second_run_for_the_same_candle_does_nothing(org_a, closed_hour, eager):
    store_candles("BTC/USDT", last_open=closed_hour)
    market = watch(org_a)
    first = signals_compute(market.pk)

    assert signals_compute(market.pk) is None
    # Even with last_bar_ts reset (a restore, a manual fix), the unique candle refuses a second row.
    WatchedMarket.objects.filter(pk=market.pk).update(last_bar_ts=None)
    assert signals_compute(market.pk) is None
    assert list(Signal.objects.values_list("pk", flat=True)) == [first]
    assert eager() == 0


def test_a_refused_market_is_logged_and_the_others_go_on(org_a, org_b, closed_hour, eager):
    store_candles("BTC/USDT", last_open=closed_hour)
    store_candles("ETH/USDT", last_open=closed_hour)
    bad = watch(org_a, "BTC/USDT", name="broken", config={"engine": {"weights": {"nonsense": 1}}})
    good = watch(org_a, "ETH/USDT", name="fine")
    other = watch(org_b, "ETH/USDT", name="theirs", enabled=False)

    assert eager() == 2

    assert list(Signal.objects.values_list("source_id", "symbol")) == [(good.source_id, "ETH/USDT")]
    event = BotEvent.objects.get(kind="signal.compute_failed")
    assert event.organization_id == org_a.pk and event.level == "warning"
    assert "'broken'" in event.message and "Unknown factor 'nonsense'" in event.message
    bad.refresh_from_db()
    assert bad.last_bar_ts == closed_hour  # reported once for this candle, not every minute
    assert eager() == 0
    # The disabled source of the other organization was left alone.
    other.refresh_from_db()
    assert other.last_bar_ts is None
    assert not BotEvent.objects.filter(organization=org_b, kind__startswith="signal.compute").exists()


def test_a_disabled_market_is_not_due(org_a, closed_hour):
    store_candles("BTC/USDT", last_open=closed_hour)
    market = watch(org_a)
    WatchedMarket.objects.filter(pk=market.pk).update(enabled=False)
    assert due_market_ids() == []
    assert signals_compute(market.pk) is None
    assert not Signal.objects.exists()


def test_an_ai_source_without_a_key_is_logged_not_crashed(org_a, closed_hour, eager, settings):
    settings.SIGNALS_AI_API_KEY = ""
    store_candles("BTC/USDT", last_open=closed_hour)
    market = watch(org_a, kind="ai", name="model")

    assert eager() == 1

    assert not Signal.objects.exists()
    event = BotEvent.objects.get(kind="signal.compute_failed")
    assert event.organization_id == org_a.pk and "'model'" in event.message
    market.refresh_from_db()
    assert market.last_bar_ts == closed_hour
