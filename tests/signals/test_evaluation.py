"""Signal evaluation: hand-worked forward returns over constructed candles, the pure core and the
selector over stored rows."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from core.errors import ApplicationError
from exchanges.models import Candle
from signals.evaluation import (
    EVALUATED,
    MISSING,
    PENDING,
    CloseSeries,
    SignalPoint,
    evaluate_signals,
    forward_returns,
    horizons_check,
)
from signals.models import Signal
from signals.selectors import signal_evaluation
from tests.factories import SignalFactory, SignalSourceFactory

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
MARKET = ("binance", "BTC/USDT", "1h")


def series(closes, *, skip=()) -> CloseSeries:
    ts = [T0 + i * HOUR for i in range(len(closes)) if i not in skip]
    close = [c for i, c in enumerate(closes) if i not in skip]
    return CloseSeries(ts=np.array(ts, dtype=np.int64), close=np.array(close, dtype=float), step_ms=HOUR)


def point(i, bar, side="buy", *, source=1, factors=None, market=MARKET, offset=0) -> SignalPoint:
    return SignalPoint(
        id=i, source_id=source, side=side, market=market, at_ms=T0 + bar * HOUR + offset, factors=factors or {}
    )


# Bars 0..7; signals at bars 0, 2 and 4, each judged one bar later.
CLOSES = [100, 102, 100, 104, 100, 99, 100, 100]


def test_three_buys_two_right_one_wrong_give_two_thirds_and_the_mean_return():
    points = [point(1, 0), point(2, 2), point(3, 4)]  # +2 %, +4 %, -1 %
    report = evaluate_signals(points, {MARKET: series(CLOSES)}, (1,))
    assert report["overall"] == [
        {
            "horizon": 1,
            "evaluated": 3,
            "pending": 0,
            "missing": 0,
            "hits": 2,
            "hit_rate_pct": 66.67,
            "avg_return_pct": 1.6667,
        }
    ]


def test_a_sell_is_right_when_the_price_falls():
    # Sell at bar 4 (100 -> 99): +1 %; sell at bar 0 (100 -> 102): -2 %.
    returns, status = forward_returns([point(1, 4, "sell"), point(2, 0, "sell")], {MARKET: series(CLOSES)}, (1,))
    assert status.tolist() == [[EVALUATED], [EVALUATED]]
    assert returns[:, 0].round(6).tolist() == [1.0, -2.0]
    report = evaluate_signals([point(1, 4, "sell"), point(2, 0, "sell")], {MARKET: series(CLOSES)}, (1,))
    assert report["overall"][0]["hit_rate_pct"] == 50.0
    assert report["overall"][0]["avg_return_pct"] == -0.5


def test_longer_horizons_read_the_close_n_bars_later():
    # Buy at bar 1 (102): 5 bars later is bar 6 (100): -1.9608 %.
    report = evaluate_signals([point(1, 1)], {MARKET: series(CLOSES)}, (1, 5))
    one, five = report["overall"]
    assert (one["avg_return_pct"], five["avg_return_pct"]) == (-1.9608, -1.9608)
    assert (one["hits"], five["hits"]) == (0, 0)


def test_a_signal_inside_a_bar_sits_on_the_candle_that_contains_it():
    # 20 minutes into bar 2 (close 100): one bar later is bar 3 (104).
    returns, _ = forward_returns([point(1, 2, offset=20 * 60_000)], {MARKET: series(CLOSES)}, (1,))
    assert round(returns[0, 0], 6) == 4.0


def test_horizons_beyond_the_stored_candles_are_pending_not_misses():
    points = [point(1, 6), point(2, 7), point(3, 9)]  # 9: after the last stored candle
    report = evaluate_signals(points, {MARKET: series(CLOSES)}, (1, 5))
    one, five = report["overall"]
    assert (one["evaluated"], one["pending"], one["missing"]) == (1, 2, 0)
    assert (five["evaluated"], five["pending"]) == (0, 3)
    assert five["hit_rate_pct"] is None and five["avg_return_pct"] is None


def test_gaps_in_the_candles_are_missing_and_invent_no_price():
    # Bar 3 is not stored: the signal on bar 2 has no price one bar later, nor does a signal in bar 3.
    _, status = forward_returns([point(1, 2), point(2, 3)], {MARKET: series(CLOSES, skip={3})}, (1, 2))
    assert status.tolist() == [[MISSING, EVALUATED], [MISSING, MISSING]]


def test_a_signal_without_candles_for_its_market_is_missing():
    _, status = forward_returns([point(1, 0, market=("", "BTC/USDT", "1h"))], {}, (1,))
    assert status.tolist() == [[MISSING]]
    _, status = forward_returns([point(1, 0)], {MARKET: series([])}, (1,))
    assert status.tolist() == [[PENDING]]


def test_neutral_signals_are_counted_apart_not_as_misses():
    report = evaluate_signals([point(1, 0), point(2, 2, "neutral")], {MARKET: series(CLOSES)}, (1,))
    assert (report["signals"], report["directional"], report["neutral"]) == (2, 1, 1)
    assert report["overall"][0]["evaluated"] == 1 and report["overall"][0]["hit_rate_pct"] == 100.0


def test_groups_per_source_and_factors_count_the_signals_they_voted_for():
    points = [
        point(1, 0, source=7, factors={"rsi": {"score": 0.5}, "macd": {"score": -0.2}}),  # buy +2 %
        point(2, 2, source=7, factors={"rsi": {"score": 0.1}, "macd": {"score": 0.4}}),  # buy +4 %
        point(3, 4, "sell", source=9, factors={"rsi": {"score": -0.3}, "macd": {"score": 0.0}}),  # sell +1 %
        point(4, 5, "sell", source=9, factors={"rsi": 0.6, "macd": {"score": -0.9}}),  # sell -1.0101 %
    ]
    report = evaluate_signals(points, {MARKET: series(CLOSES)}, (1,))
    by_source = {s["source_id"]: s["horizons"][0] for s in report["sources"]}
    assert by_source[7]["hit_rate_pct"] == 100.0 and by_source[7]["avg_return_pct"] == 3.0
    assert by_source[9]["hits"] == 1 and by_source[9]["avg_return_pct"] == round((1 - 100 / 99 * 100 + 100) / 2, 4)
    factors = {f["factor"]: f for f in report["factors"]}
    # rsi agreed with signals 1, 2 and 3 (+2, +4, +1); macd with 2 and 4 (+4, -1.0101).
    assert factors["rsi"]["votes"] == 3
    assert factors["rsi"]["horizons"][0]["hit_rate_pct"] == 100.0
    assert factors["rsi"]["horizons"][0]["avg_return_pct"] == round(7 / 3, 4)
    assert factors["macd"]["votes"] == 2
    assert factors["macd"]["horizons"][0]["hits"] == 1
    assert factors["macd"]["horizons"][0]["avg_return_pct"] == round((4 + (100 / 99 - 1) * -100) / 2, 4)


@pytest.mark.parametrize(
    ("given", "horizons"),
    [(None, (1, 5, 20)), ("5", (5,)), ("20,1,5,5", (1, 5, 20)), (3, (3,)), (["2", 500], (2, 500))],
)
def test_horizons_are_read_sorted_and_unique(given, horizons):
    assert horizons_check(given) == horizons


@pytest.mark.parametrize("given", ["0", "501", "x", "1,2,3,4,5,6,7,8,9,10,11", "-1"])
def test_it_refuses_horizons_out_of_range(given):
    with pytest.raises(ApplicationError) as caught:
        horizons_check(given)
    assert caught.value.field == "horizon"


# -- the selector over stored rows -------------------------------------------------------------------
def at(bar: int) -> dt.datetime:
    return dt.datetime.fromtimestamp((T0 + bar * HOUR) / 1000, tz=dt.UTC)


@pytest.fixture
def candles(db):
    Candle.objects.bulk_create(
        Candle(
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            ts=at(i),
            open=Decimal(c),
            high=Decimal(c),
            low=Decimal(c),
            close=Decimal(c),
            volume=Decimal(1),
        )
        for i, c in enumerate(CLOSES)
    )


def test_the_selector_reads_stored_signals_and_candles_in_few_queries(candles, org_a, org_b, django_assert_num_queries):
    source = SignalSourceFactory(organization=org_a, name="Engine")
    for bar in (0, 2, 4):
        SignalFactory(source=source, bar_ts=at(bar), factors={"rsi": {"score": 0.5}})
    SignalFactory(source=SignalSourceFactory(organization=org_b), bar_ts=at(1))  # org B's: -1.96 %
    with django_assert_num_queries(3):  # signals, one candle query for the one market, source names
        report = signal_evaluation(signals=Signal.objects.for_organization(org_a), horizons="1")
    assert report["signals"] == 3 and report["truncated"] is False
    assert report["overall"][0]["hit_rate_pct"] == 66.67
    assert report["overall"][0]["avg_return_pct"] == 1.6667
    assert report["sources"] == [
        {"source_id": source.pk, "name": "Engine", "signals": 3, "directional": 3, "horizons": report["overall"]}
    ]
    assert report["factors"][0]["factor"] == "rsi" and report["factors"][0]["votes"] == 3


def test_the_selector_filters_by_bar_time_and_source(candles, org_a):
    one, two = SignalSourceFactory(organization=org_a), SignalSourceFactory(organization=org_a)
    SignalFactory(source=one, bar_ts=at(0))
    SignalFactory(source=two, bar_ts=at(2))
    SignalFactory(source=two, bar_ts=at(4))
    scoped = Signal.objects.for_organization(org_a)
    assert signal_evaluation(signals=scoped, horizons=1, since=at(1))["signals"] == 2
    assert signal_evaluation(signals=scoped, horizons=1, until=at(2))["signals"] == 1
    report = signal_evaluation(signals=scoped, horizons=1, source_id=two.pk)
    assert report["overall"][0]["avg_return_pct"] == 1.5  # +4 % and -1 %
