"""Small helpers the built-in strategies share: order intents for long-only spot trading,
open-order checks and the volume ratio."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from strategies.base import Bars, Context, OrderIntent, quantize_amount


def buy_for_quote(ctx: Context, order_quote: Decimal, *, tag: str) -> OrderIntent | None:
    """A market buy spending `order_quote` at the last price, or None when it rounds to nothing."""
    price = ctx.quote.last
    if price <= 0:
        return None
    amount = quantize_amount(order_quote / price)
    return OrderIntent("buy", amount, tag=tag) if amount > 0 else None


def sell_all(ctx: Context, *, tag: str) -> OrderIntent | None:
    """A market sell of the whole long position (an exit), or None when nothing is held."""
    amount = quantize_amount(ctx.position.quantity)
    return OrderIntent("sell", amount, tag=tag, exit=True) if amount > 0 else None


def has_open(ctx: Context, side: str) -> bool:
    """Whether one of the bot's orders on `side` is still working."""
    return any(o.side == side for o in ctx.open_orders)


def volume_ratio(volume: np.ndarray, period: int) -> float:
    """The last bar's volume over the mean volume of the `period` bars before it (0 when unknown)."""
    if len(volume) < period + 1:
        return 0.0
    mean = float(np.mean(volume[-period - 1 : -1]))
    return float(volume[-1]) / mean if mean > 0 else 0.0


def last_ts(bars: Bars) -> int:
    """Open time of the last closed bar, in ms (-1 when there is none)."""
    return int(bars.ts[-1]) if len(bars) else -1


def is_finite(*values: float) -> bool:
    return all(np.isfinite(v) for v in values)


# -- indicators prepared for every bar at once ----------------------------------------------------
# Each value below depends only on the candles of its own trailing window, summed in a fixed
# order, so a bar gets the same bits whether the column is computed over a whole candle history
# (a backtest) or over the warm-up window that ends on that bar (a live tick).


def trailing_sum(values: np.ndarray, period: int, *, lag: int = 0, last: int | None = None) -> np.ndarray:
    """At each bar, the sum of the `period` values ending `lag` bars before it, added oldest
    first (NaN where the history is shorter). `last` computes only the last that many bars (a
    live tick reads one or two); the others are NaN."""
    n = len(values)
    out = np.full(n, np.nan)
    start = period - 1 + lag
    if last is not None:
        start = max(start, n - last)
    count = n - start
    if period < 1 or count <= 0:
        return out
    lo = start - lag - period + 1
    total = values[lo : lo + count].copy()
    for k in range(1, period):
        total += values[lo + k : lo + k + count]
    out[start:] = total
    return out


def volume_ratios(volume: np.ndarray, period: int, *, last: int | None = None) -> np.ndarray:
    """`volume_ratio` at every bar: the bar's volume over the mean of the `period` before it
    (0 where unknown or where that mean is not positive)."""
    mean = trailing_sum(volume, period, lag=1, last=last) / period
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = volume / mean
    return np.where(mean > 0, ratio, 0.0)


def bollinger(
    close: np.ndarray, period: int, deviations: float, *, last: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper, middle and lower Bollinger bands: the `period` mean of the closes plus and minus
    `deviations` population standard deviations (as TA-Lib's BBANDS with a simple average)."""
    middle = trailing_sum(close, period, last=last) / period
    variance = trailing_sum(close * close, period, last=last) / period - middle * middle
    spread = deviations * np.sqrt(np.where(variance > 0, variance, 0.0))
    return middle + spread, middle, middle - spread


def strided_ema(close: np.ndarray, factor: int, period: int, count: int, *, last: int | None = None) -> np.ndarray:
    """At each bar, the `period` EMA over the last `count` higher-timeframe closes ending on that
    bar (every `factor`-th close counted back from it, as `Bars.resampled_close` groups them),
    seeded as TA-Lib's EMA is, with the mean of the first `period` of them, then
    `ema = (close - ema) * 2 / (period + 1) + ema` over the rest. NaN where fewer than `count`
    such closes exist, and before the last `last` bars when that is given. Always this arithmetic
    (it agrees with `talib.EMA` to a unit or two in the last place, and a window and a whole
    history then give the same bits)."""
    n = len(close)
    out = np.full(n, np.nan)
    first = factor * (count - 1)
    if last is not None:
        first = max(first, n - last)
    if count < period or first >= n:
        return out
    m = n - first
    lo = first - factor * (count - 1)

    k = 2.0 / (period + 1)
    if m <= 4:
        # A live tick's one or two bars: the same operations on Python floats (IEEE doubles,
        # one rounding per operation, as numpy's), without numpy's per-call cost.
        for i in range(first, n):
            closes = close[i - factor * (count - 1) : i + 1 : factor].tolist()
            value = 0.0
            for c in closes[:period]:
                value += c
            value /= period
            for c in closes[period:]:
                value = (c - value) * k + value
            out[i] = value
        return out

    def column(j: int) -> np.ndarray:  # the j-th (oldest first) of the `count` closes of each bar
        return close[lo + factor * j : lo + factor * j + m]

    ema = column(0).copy()
    for j in range(1, period):
        ema += column(j)
    ema /= period
    step = np.empty(m)
    for j in range(period, count):
        np.subtract(column(j), ema, out=step)
        step *= k
        ema += step
    out[first:] = ema
    return out
