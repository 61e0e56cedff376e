"""Indicator formulas written out in plain numpy/pandas, independent of TA-Lib, to check the
strategies' signals against. They follow the textbook definitions TA-Lib implements (EMA seeded
with the SMA of its first values, Wilder smoothing for RSI/ATR/ADX, population standard deviation
for Bollinger bands); test_reference.py shows they agree with TA-Lib once the seeds are forgotten."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """EMA with alpha 2/(n+1), starting at index n-1 from the mean of the first n values."""
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    out[n - 1] = float(np.mean(x[:n]))
    alpha = 2.0 / (n + 1)
    for i in range(n, len(x)):
        out[i] = out[i - 1] + alpha * (x[i] - out[i - 1])
    return out


def macd_hist(close: np.ndarray, fast: int, slow: int, signal: int) -> np.ndarray:
    """MACD line (fast EMA - slow EMA) minus its signal EMA."""
    line = ema(close, fast) - ema(close, slow)
    start = max(fast, slow) - 1
    sig = np.full(len(close), np.nan)
    sig[start:] = ema(line[start:], signal)
    return line - sig


def rsi(close: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RSI: average gain and loss seeded with their n-bar means, then smoothed by 1/n."""
    out = np.full(len(close), np.nan)
    d = np.diff(close)
    gains, losses = np.clip(d, 0, None), np.clip(-d, 0, None)
    if len(d) < n:
        return out
    avg_gain, avg_loss = gains[:n].mean(), losses[:n].mean()

    def value(g: float, loss: float) -> float:
        return 100.0 * g / (g + loss) if g + loss > 0 else 0.0

    out[n] = value(avg_gain, avg_loss)
    for i in range(n, len(d)):
        avg_gain = (avg_gain * (n - 1) + gains[i]) / n
        avg_loss = (avg_loss * (n - 1) + losses[i]) / n
        out[i + 1] = value(avg_gain, avg_loss)
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = np.concatenate(([np.nan], close[:-1]))
    return np.nanmax(np.vstack([high - low, np.abs(high - prev), np.abs(low - prev)]), axis=0)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Wilder's ATR: the mean of the first n true ranges (from the second bar), then smoothed."""
    tr = true_range(high, low, close)
    out = np.full(len(close), np.nan)
    if len(close) <= n:
        return out
    out[n] = tr[1 : n + 1].mean()
    for i in range(n + 1, len(close)):
        out[i] = (out[i - 1] * (n - 1) + tr[i]) / n
    return out


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Wilder's ADX from directional movement, all sums smoothed by `s - s/n + x`."""
    size = len(close)
    out = np.full(size, np.nan)
    if size < 2 * n + 1:
        return out
    up = np.concatenate(([0.0], high[1:] - high[:-1]))
    down = np.concatenate(([0.0], low[:-1] - low[1:]))
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    tr = true_range(high, low, close)
    s_tr, s_plus, s_minus = tr[1 : n + 1].sum(), plus_dm[1 : n + 1].sum(), minus_dm[1 : n + 1].sum()
    dx = np.full(size, np.nan)
    for i in range(n, size):
        if i > n:
            s_tr = s_tr - s_tr / n + tr[i]
            s_plus = s_plus - s_plus / n + plus_dm[i]
            s_minus = s_minus - s_minus / n + minus_dm[i]
        plus_di, minus_di = 100 * s_plus / s_tr, 100 * s_minus / s_tr
        total = plus_di + minus_di
        dx[i] = 100 * abs(plus_di - minus_di) / total if total > 0 else 0.0
    out[2 * n - 1] = dx[n : 2 * n].mean()
    for i in range(2 * n, size):
        out[i] = (out[i - 1] * (n - 1) + dx[i]) / n
    return out


def bollinger(close: np.ndarray, n: int, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): n-bar mean plus/minus k population standard deviations."""
    s = pd.Series(close)
    mid = s.rolling(n).mean()
    sd = s.rolling(n).std(ddof=0)
    return (mid + k * sd).to_numpy(), mid.to_numpy(), (mid - k * sd).to_numpy()


def volume_ratio(volume: np.ndarray, n: int) -> np.ndarray:
    """Each bar's volume over the mean of the n bars before it."""
    prior = pd.Series(volume).rolling(n).mean().shift(1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prior > 0, volume / prior, 0.0)


def hourly_trend(close: np.ndarray, end: int, size: int, period: int, factor: int = 12) -> tuple[float, float]:
    """(last 1h close, its EMA) for the `size` bars ending at `end`, grouped by `factor` so the
    last group ends on the last bar."""
    win = close[max(0, end + 1 - size) : end + 1]
    groups = len(win) // factor
    hourly = win[len(win) - groups * factor :].reshape(groups, factor)[:, -1]
    return float(hourly[-1]), float(ema(hourly, period)[-1])
