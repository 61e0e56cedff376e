"""Indicator factors on constructed series (hand-worked figures) and on the bundled real candles."""

import json
import math

import numpy as np
import pytest

from core.errors import ApplicationError
from signals.factors.indicators import (
    adx_factor,
    atr_damping,
    atr_factor,
    bollinger_factor,
    ema_cross_factor,
    macd_factor,
    multi_timeframe_factor,
    rsi_factor,
    rsi_score,
)
from strategies.base import Bars
from tests.strategies.replay import load_bars

PAIRS = ["BTC_USDT", "ETH_USDT", "ADA_USDT", "DOT_USDT", "LINK_USDT", "LTC_USDT", "SOL_USDT", "XRP_USDT"]
FACTORS = [
    rsi_factor,
    macd_factor,
    bollinger_factor,
    adx_factor,
    atr_factor,
    ema_cross_factor,
    multi_timeframe_factor,
]


def series(closes, *, spread: float = 1.0, opens=None) -> Bars:
    """Candles that open at the previous close (or `opens`), with `spread` of shadow each side."""
    close = np.asarray(closes, dtype=np.float64)
    if opens is None:
        opens = np.r_[close[0], close[:-1]]
    opens = np.asarray(opens, dtype=np.float64)
    spread = np.broadcast_to(np.asarray(spread, dtype=np.float64), close.shape)
    high = np.maximum(opens, close) + spread
    low = np.minimum(opens, close) - spread
    ts = np.arange(len(close), dtype=np.int64) * 300_000
    return Bars(ts, opens, high, low, close, np.ones(len(close)))


def rising(n: int = 100) -> Bars:
    return series(100.0 + np.arange(n))


def falling(n: int = 100) -> Bars:
    return series(1000.0 - np.arange(n))


def flat(n: int = 100) -> Bars:
    return series(np.full(n, 100.0))


# -- RSI --------------------------------------------------------------------------------------------
def test_rsi_of_a_rising_series_is_100_and_reads_fully_bearish():
    result = rsi_factor(rising())
    assert result.detail["rsi"] == 100.0
    assert result.detail["zone"] == "overbought"
    assert result.score == -1.0


def test_rsi_of_a_falling_series_is_0_and_reads_fully_bullish():
    result = rsi_factor(falling())
    assert result.detail["rsi"] == 0.0
    assert result.score == 1.0


def test_rsi_score_is_linear_inside_each_zone():
    assert rsi_score(30, 30, 70) == 0.5
    assert rsi_score(15, 30, 70) == 0.75
    assert rsi_score(40, 30, 70) == 0.25
    assert rsi_score(50, 30, 70) == 0.0
    assert rsi_score(60, 30, 70) == -0.25
    assert rsi_score(85, 30, 70) == -0.75


def test_rsi_of_flat_closes_has_no_view():
    result = rsi_factor(flat())
    assert result.score == 0.0 and result.detail["rsi"] is None


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"period": 1}, "period"),
        ({"period": "x"}, "period"),
        ({"oversold": 80}, "oversold"),
        ({"overbought": 100}, "overbought"),
    ],
)
def test_rsi_refuses_bad_parameters(kwargs, field):
    with pytest.raises(ApplicationError) as e:
        rsi_factor(rising(), **kwargs)
    assert e.value.field == field


# -- MACD -------------------------------------------------------------------------------------------
def test_macd_sees_a_fresh_up_cross_after_flat_closes():
    # Flat closes hold the histogram at exactly 0; two rising bars turn it positive, the first of them
    # being the cross.
    result = macd_factor(series(np.r_[np.full(60, 100.0), 101.0, 102.0]))
    assert result.detail["cross"] == "up" and result.detail["cross_bars_ago"] == 1
    assert result.detail["hist"] > 0
    assert 0.5 < result.score <= 1.0


def test_macd_sees_a_down_cross_on_the_last_bar():
    result = macd_factor(series(np.r_[np.full(60, 100.0), 99.0]))
    assert result.detail["cross"] == "down" and result.detail["cross_bars_ago"] == 0
    assert -1.0 <= result.score < -0.5


def test_macd_refuses_a_fast_period_not_below_the_slow_one():
    with pytest.raises(ApplicationError) as e:
        macd_factor(rising(), fast=26, slow=26)
    assert e.value.field == "fast"


# -- Bollinger --------------------------------------------------------------------------------------
def alternating(n: int, low: float, high: float) -> np.ndarray:
    return np.where(np.arange(n) % 2 == 0, low, high)


def test_bollinger_percent_b_from_hand_worked_bands():
    # The last 20 closes alternate 99/101: mean 100, population sd 1, bands 98 and 102. The last close
    # is 101: %B = 3/4 and the score 1 - 2 * 0.75 = -0.5. The narrow closes before make the current
    # width the widest, so no squeeze.
    closes = np.r_[alternating(120, 99.9, 100.1), alternating(20, 99.0, 101.0)]
    result = bollinger_factor(series(closes))
    assert result.detail["upper"] == pytest.approx(102.0)
    assert result.detail["lower"] == pytest.approx(98.0)
    assert result.detail["percent_b"] == pytest.approx(0.75)
    assert result.detail["squeeze"] is False
    assert result.score == pytest.approx(-0.5)


def test_bollinger_halves_the_score_in_a_squeeze():
    closes = np.r_[alternating(120, 90.0, 110.0), alternating(20, 99.0, 101.0)]
    result = bollinger_factor(series(closes))
    assert result.detail["squeeze"] is True
    assert result.score == pytest.approx(-0.25)


def test_bollinger_of_flat_closes_has_no_view():
    assert bollinger_factor(flat()).score == 0.0


# -- ADX --------------------------------------------------------------------------------------------
def test_adx_of_a_steady_rise_is_a_full_up_trend():
    # Every bar: +DM 1, -DM 0, so -DI is 0, DX 100 and ADX 100; above `full` the strength is 1.
    result = adx_factor(rising())
    assert result.detail["adx"] == pytest.approx(100.0)
    assert result.detail["minus_di"] == pytest.approx(0.0)
    assert result.score == 1.0


def test_adx_of_a_steady_fall_is_a_full_down_trend():
    assert adx_factor(falling()).score == -1.0


def test_adx_strength_is_linear_between_threshold_and_full():
    # The last 1,000 BTC candles end on ADX 22.20 with +DI 22.04 over -DI 15.84: (22.20 - 20) / 30.
    result = adx_factor(load_bars("BTC_USDT").tail(1000))
    assert result.detail["adx"] == pytest.approx(22.1976, abs=1e-4)
    assert result.detail["plus_di"] > result.detail["minus_di"]
    assert result.score == pytest.approx((22.1976 - 20) / 30, abs=1e-5)
    assert adx_factor(load_bars("BTC_USDT").tail(1000), threshold=10, full=40).score == pytest.approx(
        (22.1976 - 10) / 30, abs=1e-5
    )


def test_adx_without_directional_movement_has_no_view():
    assert adx_factor(flat()).score == 0.0


def test_adx_refuses_full_not_above_threshold():
    with pytest.raises(ApplicationError) as e:
        adx_factor(rising(), threshold=30, full=30)
    assert e.value.field == "full"


# -- ATR --------------------------------------------------------------------------------------------
def test_atr_of_even_candles_is_their_range_and_a_normal_regime():
    # Every candle 99..101 on a close of 100: true range 2, ATR 2, 2% of the price; all 200 equal
    # values rank at the middle.
    result = atr_factor(flat(300))
    assert result.score == 0.0
    assert result.detail["atr"] == pytest.approx(2.0)
    assert result.detail["atr_pct"] == pytest.approx(2.0)
    assert result.detail["percentile"] == 0.5
    assert result.detail["regime"] == "normal" and result.detail["damping"] == 1.0


def test_atr_of_a_wide_last_candle_is_a_high_regime_that_damps_confidence():
    # The last candle spans 95..105 (true range 10): ATR = (13 * 2 + 10) / 14. It ranks above the 199
    # others of the window: (199 + 0.5) / 200 = 0.9975, damping 1 - 0.5 * (0.9975 - 0.8) / 0.2.
    spread = np.r_[np.full(299, 1.0), 5.0]
    result = atr_factor(series(np.full(300, 100.0), spread=spread))
    assert result.detail["atr"] == pytest.approx(36 / 14)
    assert result.detail["percentile"] == pytest.approx(0.9975)
    assert result.detail["regime"] == "high"
    assert result.detail["damping"] == pytest.approx(0.50625)
    assert result.score == 0.0


def test_atr_damping_falls_linearly_from_the_high_rank_to_the_floor():
    assert atr_damping(0.5, 0.8, 0.5) == 1.0
    assert atr_damping(0.9, 0.8, 0.5) == pytest.approx(0.75)
    assert atr_damping(1.0, 0.8, 0.5) == pytest.approx(0.5)


# -- EMA cross --------------------------------------------------------------------------------------
def test_ema_gap_of_a_linear_rise_is_the_lag_difference_in_atrs():
    # On a line of slope 1 an EMA(n) lags (n - 1) / 2: EMA(9) by 4, EMA(21) by 10, a gap of 6. Each
    # candle opens at the previous close: range 3 (open - 1 - 1 .. close + 1), ATR 3; gap 2 ATR.
    result = ema_cross_factor(rising())
    assert result.detail["fast_ema"] - result.detail["slow_ema"] == pytest.approx(6.0)
    assert result.detail["gap_atr"] == pytest.approx(2.0)
    assert result.detail["cross"] is None
    assert result.score == pytest.approx(math.tanh(2.0), abs=1e-4)


def test_ema_cross_down_on_the_last_bar_pulls_the_score_below_minus_a_half():
    result = ema_cross_factor(series(np.r_[np.full(60, 100.0), 98.0]))
    assert result.detail["cross"] == "down" and result.detail["cross_bars_ago"] == 0
    assert result.score == pytest.approx(math.tanh(result.detail["gap_atr"]) - 0.5, abs=1e-4)
    assert result.score < -0.5


# -- higher timeframe -------------------------------------------------------------------------------
def test_the_resampled_trend_of_a_linear_rise_is_hand_worked():
    # 12 bars a group: the hourly close steps 12; each hourly candle spans first close - 2 to last
    # close + 1 (14), so ATR 14. EMA gap (10 - 4) * 12 = 72 (5.14 ATR), slow EMA slope 12 (0.857 ATR).
    result = multi_timeframe_factor(rising(12 * 40))
    assert result.detail["source"] == "12x resample" and result.detail["bars"] == 40
    assert result.detail["gap_atr"] == pytest.approx(72 / 14, abs=1e-4)
    assert result.detail["slope_atr"] == pytest.approx(12 / 14, abs=1e-4)
    assert result.score == pytest.approx(0.5 * math.tanh(72 / 14) + 0.5 * math.tanh(12 / 14), abs=1e-4)
    assert result.detail["trend"] == "up"


def test_a_given_higher_timeframe_is_used_instead_of_resampling():
    result = multi_timeframe_factor(rising(480), higher=falling(100))
    assert result.detail["source"] == "given"
    assert result.score < -0.5


def test_too_few_higher_bars_give_no_view():
    result = multi_timeframe_factor(rising(100))
    assert result.score == 0.0
    assert "Too few candles" in result.reason and result.detail["candles"] == 8


# -- every factor -----------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", FACTORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [0, 1, 5])
def test_too_few_candles_give_score_0_and_say_so(factor, n):
    result = factor(rising(n) if n else Bars.empty())
    assert result.score == 0.0
    assert result.reason.startswith("Too few candles")
    json.dumps(result.as_json(), allow_nan=False)


@pytest.mark.parametrize("factor", FACTORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("pair", PAIRS)
def test_on_real_candles_scores_are_bounded_json_safe_and_deterministic(factor, pair):
    bars = load_bars(pair)
    for end in (1000, 5000, len(bars)):
        window = Bars(
            *(a[end - 1000 : end] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume))
        )
        first = factor(window).as_json()
        assert -1.0 <= first["score"] <= 1.0
        assert "Too few" not in first["reason"]
        text = json.dumps(first, allow_nan=False)
        assert json.dumps(factor(window).as_json(), allow_nan=False) == text


def test_rsi_on_real_btc_candles_matches_wilders_definition():
    # Wilder's RSI(14) worked out step by step: an average of the first 14 moves, then smoothing by 1/14.
    bars = load_bars("BTC_USDT")
    result = rsi_factor(bars)
    close = bars.close
    delta = np.diff(close)
    gain, loss = np.clip(delta, 0, None), np.clip(-delta, 0, None)
    avg_gain, avg_loss = gain[:14].mean(), loss[:14].mean()
    for g, lo in zip(gain[14:], loss[14:], strict=True):
        avg_gain = (avg_gain * 13 + g) / 14
        avg_loss = (avg_loss * 13 + lo) / 14
    assert result.detail["rsi"] == pytest.approx(100 - 100 / (1 + avg_gain / avg_loss), abs=1e-3)
