"""Fibonacci levels of the last swing, on hand-built paths and on the bundled real candles."""

from __future__ import annotations

import pytest

from core.errors import ApplicationError
from signals.factors.fibonacci import extension_levels, fibonacci_factor, retracement_levels
from signals.factors.pivots import zigzag
from tests.signals.test_pivots import STEP, T0, path_bars, real_bars, window


def test_the_levels_of_a_100_to_200_swing():
    assert retracement_levels(100.0, 200.0) == pytest.approx(
        {"0.236": 176.4, "0.382": 161.8, "0.5": 150.0, "0.618": 138.2, "0.786": 121.4}
    )
    assert extension_levels(100.0, 200.0) == pytest.approx({"1.272": 227.2, "1.618": 261.8, "2.618": 361.8})
    # a down-swing 200 -> 100 retraces upwards and extends below 100
    assert retracement_levels(200.0, 100.0)["0.618"] == pytest.approx(161.8)
    assert extension_levels(200.0, 100.0)["1.618"] == pytest.approx(38.2)


def test_a_bounce_at_0618_in_an_up_swing_is_bullish():
    # 10% zigzag: 100 and 200 are confirmed, the pull-back to 140 (0.6) is not (150 < 154)
    result = fibonacci_factor(path_bars([100, 200, 140, 150], steps=7), zigzag_pct=10)
    assert result.name == "fibonacci"
    assert result.detail["swing"] == {"from_ts": T0, "from_price": 100.0, "to_ts": T0 + 7 * STEP, "to_price": 200.0}
    assert result.detail["levels"] == pytest.approx(retracement_levels(100.0, 200.0))
    assert result.detail["extensions"]["1.618"] == pytest.approx(261.8)
    assert result.score == pytest.approx(0.7)
    assert "0.618" in result.reason


def test_a_bounce_at_0618_in_a_down_swing_is_bearish():
    result = fibonacci_factor(path_bars([200, 100, 160, 150], steps=7), zigzag_pct=10)
    assert result.detail["swing"]["from_price"] == 200.0 and result.detail["swing"]["to_price"] == 100.0
    assert result.detail["levels"]["0.618"] == pytest.approx(161.8)
    assert result.score == pytest.approx(-0.7)


@pytest.mark.parametrize(
    ("path", "pct", "score"),
    [
        ([100, 200, 140], 10, 0.15),  # still falling at 0.6: no bounce yet, within the usual levels
        ([100, 200, 185], 5, 0.3),  # 0.15: shallow
        ([100, 200, 120], 10, -0.3),  # 0.8: deep
        ([100, 200, 95], 10, -0.6),  # beyond the swing's start
        ([200, 100, 160], 10, -0.15),  # the mirror of the first
    ],
)
def test_the_score_follows_where_the_price_sits_in_the_swing(path, pct, score):
    assert fibonacci_factor(path_bars(path, steps=10), zigzag_pct=pct).score == pytest.approx(score)


def test_too_few_candles_or_swings_give_no_view():
    short = fibonacci_factor(path_bars([100, 200], steps=5))
    assert short.score == 0.0 and "Too few candles" in short.reason
    one_pivot = fibonacci_factor(path_bars([100, 200], steps=30))
    assert one_pivot.score == 0.0 and "No completed" in one_pivot.reason
    assert one_pivot.detail == {"levels": {}, "extensions": {}, "swing": None}


def test_a_bad_zigzag_pct_is_refused():
    with pytest.raises(ApplicationError) as e:
        fibonacci_factor(path_bars([100, 200, 140], steps=10), zigzag_pct=55)
    assert e.value.field == "zigzag_pct"


@pytest.mark.parametrize("name", ["BTC_USDT-5m", "ADA_USDT-5m", "BTC_USDT-1h"])
def test_real_levels_belong_to_the_last_two_pivots(name):
    bars = real_bars(name)
    for end in range(1000, len(bars), 800):
        sub = window(bars, end - 1000, end)
        result = fibonacci_factor(sub, zigzag_pct=2.0)
        pivots = zigzag(sub.high, sub.low, sub.ts, 2.0)
        a, b = pivots[-2], pivots[-1]
        assert result.detail["swing"] == {"from_ts": a.ts, "from_price": a.price, "to_ts": b.ts, "to_price": b.price}
        levels = list(result.detail["levels"].values())
        # from the swing's end back towards its start, strictly in between
        inside = sorted(levels, reverse=a.price < b.price)
        assert levels == inside
        assert all(min(a.price, b.price) < p < max(a.price, b.price) for p in levels)
        ext = list(result.detail["extensions"].values())
        assert all((p > b.price) == (b.price > a.price) for p in ext)
        assert abs(result.score) in {0.15, 0.3, 0.4, 0.5, 0.6, 0.7}
