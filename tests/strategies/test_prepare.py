"""A strategy's `prepare` gives every bar the value its own warm-up window gives it.

The backtester prepares a whole candle history once; a live tick prepares only its warm-up window.
Both must see the same numbers, bit for bit, or a backtest would trade differently from the bot it
stands for. Checked on every bar of the bundled real candles, and against the TA-Lib calls the
indicators are defined by."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from strategies.builtin.common import bollinger, strided_ema, trailing_sum, volume_ratio, volume_ratios
from strategies.registry import all_specs, get, validate_params
from tests.strategies.replay import load_bars, window

PREPARED = ["macd_trend", "rsi_bb_atr"]


def same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


def test_the_bar_strategies_prepare_their_indicators():
    assert [s.key for s in all_specs() if s.prepare is not None] == PREPARED


@pytest.mark.parametrize(
    ("key", "pair", "overrides"),
    [
        ("macd_trend", "BTC_USDT", {}),
        ("macd_trend", "ETH_USDT", {}),
        ("macd_trend", "SOL_USDT", {"trend_ema_period": 5, "fast_period": 8, "slow_period": 40}),
        ("rsi_bb_atr", "BTC_USDT", {}),
        ("rsi_bb_atr", "ETH_USDT", {}),
        ("rsi_bb_atr", "SOL_USDT", {"rsi_period": 7, "atr_period": 21, "bb_period": 50}),
    ],
)
def test_every_bar_gets_the_value_of_its_own_warm_up_window(key, pair, overrides):
    spec = get(key)
    params = validate_params(key, overrides)
    need = spec.warmup_bars(params)
    bars = load_bars(pair)
    full = spec.prepare(bars, params)
    assert set(full) >= {"ts", "close", "wake_flat"}
    assert all(len(column) == len(bars) for column in full.values())
    differing: dict[str, int] = {}
    checked = 0
    for i in range(need - 1, len(bars)):
        own = spec.prepare(window(bars, i, need), params, last=2)  # as a live tick asks
        for name, column in full.items():
            # The last bar, and the one before it (a crossover reads both).
            for back in (1, 2):
                if not same(column[i + 1 - back], own[name][-back]):
                    differing[name] = differing.get(name, 0) + 1
        checked += 1
    assert checked > 9_000
    assert differing == {}


def test_the_hourly_trend_ema_is_talib_on_the_windows_hourly_closes():
    bars = load_bars()
    need = get("macd_trend").warmup_bars(validate_params("macd_trend", {}))
    ema = strided_ema(bars.close, 12, 50, need // 12)
    k = 2.0 / 51
    for i in range(need - 1, len(bars), 5):
        hourly = window(bars, i, need).resampled_close(12)
        assert ema[i] == pytest.approx(talib.EMA(hourly, 50)[-1], rel=1e-14)
        # Exactly the textbook recursion, in the order written down in the docstring.
        value = 0.0
        for close in hourly[:50].tolist():
            value += close
        value /= 50
        for close in hourly[50:].tolist():
            value = (close - value) * k + value
        assert ema[i] == value
    assert np.isnan(ema[: 12 * (need // 12 - 1)]).all()


def test_macd_atr_adx_and_rsi_over_the_history_equal_talib_over_the_window():
    # TA-Lib's recursions forget their seed within the warm-up: the whole history and the window
    # give the same bits, so `prepare` may run them over whatever it is given.
    bars = load_bars("SOL_USDT")
    need = 961
    hist = talib.MACD(bars.close, 12, 26, 9)[2]
    atr = talib.ATR(bars.high, bars.low, bars.close, 14)
    adx = talib.ADX(bars.high, bars.low, bars.close, 14)
    rsi = talib.RSI(bars.close, 14)
    for i in range(need - 1, len(bars), 13):
        w = window(bars, i, need)
        assert hist[i] == talib.MACD(w.close, 12, 26, 9)[2][-1]
        assert atr[i] == talib.ATR(w.high, w.low, w.close, 14)[-1]
        assert adx[i] == talib.ADX(w.high, w.low, w.close, 14)[-1]
        assert rsi[i] == talib.RSI(w.close, 14)[-1]


def test_bands_and_volume_ratio_agree_with_talib_and_the_single_bar_helper():
    bars = load_bars()
    upper, middle, lower = bollinger(bars.close, 20, 2.0)
    ta_upper, ta_middle, ta_lower = talib.BBANDS(bars.close, 20, 2.0, 2.0)
    ok = ~np.isnan(ta_middle)
    assert np.array_equal(np.isnan(middle), ~ok)
    # TA-Lib keeps running sums over the whole series; ours sums each window afresh, in order.
    for ours, theirs in ((upper, ta_upper), (middle, ta_middle), (lower, ta_lower)):
        assert np.allclose(ours[ok], theirs[ok], rtol=1e-12, atol=0)
    ratios = volume_ratios(bars.volume, 20)
    for i in range(0, len(bars), 7):
        assert ratios[i] == pytest.approx(volume_ratio(bars.volume[: i + 1], 20), rel=1e-12)
    assert ratios[19] == 0.0 and ratios[20] > 0


def test_trailing_sum_edges():
    values = np.arange(1.0, 6.0)
    assert np.array_equal(trailing_sum(values, 2)[1:], [3.0, 5.0, 7.0, 9.0])
    assert np.isnan(trailing_sum(values, 2)[0])
    assert np.array_equal(trailing_sum(values, 2, lag=1)[2:], [3.0, 5.0, 7.0])
    assert np.isnan(trailing_sum(values, 6)).all()
    assert np.isnan(trailing_sum(values[:0], 3)).all() and len(trailing_sum(values[:0], 3)) == 0
    assert np.isnan(strided_ema(values, 12, 3, 4)).all()
