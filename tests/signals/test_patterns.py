"""Candlestick patterns on built candles and on the bundled real candles."""

import json

import numpy as np
import pytest

from core.errors import ApplicationError
from signals.factors.patterns import PATTERNS, patterns_factor
from strategies.base import Bars
from tests.strategies.replay import load_bars

PAIRS = ["BTC_USDT", "ETH_USDT", "ADA_USDT", "DOT_USDT", "LINK_USDT", "LTC_USDT", "SOL_USDT", "XRP_USDT"]


def candles(rows) -> Bars:
    """Bars from (open, high, low, close) rows, five minutes apart from ts 0."""
    a = np.asarray(rows, dtype=np.float64)
    ts = np.arange(len(a), dtype=np.int64) * 300_000
    return Bars(ts, a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy(), np.ones(len(a)))


def quiet(n: int = 21) -> list[tuple[float, float, float, float]]:
    """Small candles alternating up and down (the even ones up), for TA-Lib's body averages; none of
    them makes a pattern of the set."""
    rows = []
    for i in range(n):
        o, c = (100.0, 100.4) if i % 2 == 0 else (100.4, 100.0)
        rows.append((o, max(o, c) + 0.2, min(o, c) - 0.2, c))
    return rows


def test_quiet_candles_make_no_pattern():
    result = patterns_factor(candles(quiet()))
    assert result.detail["markers"] == []
    assert result.score == 0.0
    assert result.reason == "No candlestick pattern in the last 5 candles."


def test_a_bullish_engulfing_pair_is_marked_on_its_second_candle():
    # A down candle 101 -> 100, then an up candle 99.5 -> 101.5 whose body covers it.
    bars = candles([*quiet(20), (101, 101.1, 99.9, 100), (99.5, 101.6, 99.4, 101.5)])
    result = patterns_factor(bars)
    assert result.detail["markers"] == [{"ts": 21 * 300_000, "name": "CDLENGULFING", "direction": 1}]
    assert result.score == 1.0
    assert result.reason == "Candlestick patterns: bullish engulfing on the last candle."


def test_a_bearish_engulfing_pair_scores_minus_one():
    bars = candles([*quiet(21), (100, 101.1, 99.9, 101), (101.5, 101.6, 99.4, 99.5)])
    result = patterns_factor(bars)
    assert result.detail["markers"] == [{"ts": 22 * 300_000, "name": "CDLENGULFING", "direction": -1}]
    assert result.score == -1.0


def test_a_pattern_counts_less_the_older_it_is():
    # The engulfing pair, then two quiet candles: two bars ago weighs 1 - 2/5 = 0.6; with lookback 2
    # it has left the window, but stays on the chart.
    rows = [*quiet(20), (101, 101.1, 99.9, 100), (99.5, 101.6, 99.4, 101.5)]
    rows += [(101.5, 101.8, 101.2, 101.6), (101.6, 101.9, 101.3, 101.5)]
    bars = candles(rows)
    result = patterns_factor(bars)
    assert result.detail["markers"] == [{"ts": 21 * 300_000, "name": "CDLENGULFING", "direction": 1}]
    assert result.detail["recent"] == [{"name": "CDLENGULFING", "direction": 1, "bars_ago": 2}]
    assert result.score == pytest.approx(0.6)
    later = patterns_factor(bars, lookback=2)
    assert later.score == 0.0 and len(later.detail["markers"]) == 1
    assert patterns_factor(bars, history=2).detail["markers"] == []


def test_too_few_candles_give_score_0_and_no_markers():
    result = patterns_factor(candles(quiet(5)))
    assert result.score == 0.0 and result.detail["markers"] == []
    assert result.reason.startswith("Too few candles")
    assert patterns_factor(Bars.empty()).score == 0.0


def test_bad_parameters_are_refused_with_their_field():
    with pytest.raises(ApplicationError) as e:
        patterns_factor(candles(quiet()), lookback=0)
    assert e.value.field == "lookback"
    with pytest.raises(ApplicationError) as e:
        patterns_factor(candles(quiet()), history=2.5)
    assert e.value.field == "history"


def test_the_real_btc_candles_hold_a_bullish_engulfing_checked_by_hand():
    bars = load_bars("BTC_USDT").tail(1000)
    markers = patterns_factor(bars, history=1000).detail["markers"]
    assert {"ts": 1621602900000, "name": "CDLENGULFING", "direction": 1} in markers
    i = int(np.searchsorted(bars.ts, 1621602900000))
    # 2021-05-21 13:10 UTC: a down candle 40762.51 -> 40729.01, then up 40729.01 -> 40928.56; the up
    # body (40729.01..40928.56) covers the down one (40729.01..40762.51).
    assert (bars.open[i - 1], bars.close[i - 1]) == (40762.51, 40729.01)
    assert (bars.open[i], bars.close[i]) == (40729.01, 40928.56)


def test_every_real_engulfing_marker_is_an_engulfing_pair():
    bars = load_bars("BTC_USDT").tail(1000)
    markers = [m for m in patterns_factor(bars, history=1000).detail["markers"] if m["name"] == "CDLENGULFING"]
    assert len(markers) > 50
    for m in markers:
        i = int(np.searchsorted(bars.ts, m["ts"]))
        o0, c0, o1, c1 = bars.open[i - 1], bars.close[i - 1], bars.open[i], bars.close[i]
        assert np.sign(c1 - o1) == m["direction"] == -np.sign(c0 - o0)
        assert max(o1, c1) >= max(o0, c0) and min(o1, c1) <= min(o0, c0)


@pytest.mark.parametrize("pair", PAIRS)
def test_on_real_candles_the_score_is_bounded_json_safe_and_deterministic(pair):
    bars = load_bars(pair)
    for end in (1000, 6000, len(bars)):
        window = Bars(
            *(a[end - 1000 : end] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume))
        )
        result = patterns_factor(window).as_json()
        assert -1.0 <= result["score"] <= 1.0
        text = json.dumps(result, allow_nan=False)
        assert json.dumps(patterns_factor(window).as_json(), allow_nan=False) == text
        markers = result["markers"]
        assert [m["ts"] for m in markers] == sorted(m["ts"] for m in markers)
        assert all(m["ts"] >= window.ts[-200] and m["name"] in PATTERNS and m["direction"] in (1, -1) for m in markers)
