"""The independent indicator formulas the signal checks use agree with TA-Lib on real candles
(after the first few hundred bars, where seeding choices still show)."""

import numpy as np
import pytest
import talib

from tests.strategies import reference
from tests.strategies.replay import load_bars

SETTLED = 500


@pytest.fixture(scope="module")
def bars():
    return load_bars().tail(3000)


def close_enough(ours, theirs):
    np.testing.assert_allclose(ours[SETTLED:], theirs[SETTLED:], rtol=1e-7, atol=1e-7)


def test_ema_matches_talib(bars):
    close_enough(reference.ema(bars.close, 50), talib.EMA(bars.close, 50))


def test_macd_histogram_matches_talib(bars):
    close_enough(reference.macd_hist(bars.close, 12, 26, 9), talib.MACD(bars.close, 12, 26, 9)[2])


def test_rsi_matches_talib(bars):
    close_enough(reference.rsi(bars.close, 14), talib.RSI(bars.close, 14))


def test_rsi_matches_talib_exactly_from_the_start(bars):
    """Same seed as TA-Lib: equal from its first value, which is what a short window relies on."""
    w = bars.close[:141]
    np.testing.assert_allclose(reference.rsi(w, 14)[14:], talib.RSI(w, 14)[14:], rtol=1e-9)


def test_atr_matches_talib_exactly_from_the_start(bars):
    h, lo, c = bars.high[:141], bars.low[:141], bars.close[:141]
    np.testing.assert_allclose(reference.atr(h, lo, c, 14)[14:], talib.ATR(h, lo, c, 14)[14:], rtol=1e-9)


def test_adx_matches_talib(bars):
    close_enough(reference.adx(bars.high, bars.low, bars.close, 14), talib.ADX(bars.high, bars.low, bars.close, 14))


def test_bollinger_matches_talib(bars):
    ours = reference.bollinger(bars.close, 20, 2.0)
    theirs = talib.BBANDS(bars.close, 20, 2.0, 2.0)
    for a, b in zip(ours, theirs, strict=True):
        close_enough(a, b)
