"""Indicator factors: RSI, MACD, Bollinger Bands, ADX, ATR, EMA crosses and a higher timeframe's trend.

Each is a pure function of closed candles computed with TA-Lib and read at the last bar. Parameters
are checked before anything else (so `engine_config_check` can validate a source's parameters on
empty bars); too few candles for the indicator answer a score of 0 with a reason saying so. How
each score is made is documented in docs/signals.md ("Indicator factors").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import talib

from core.errors import ApplicationError
from signals.factors.base import FactorResult, clamp
from strategies.base import Bars

# A fresh cross (within `cross_bars`) moves the MACD and EMA scores this far toward its direction.
CROSS_BONUS = 0.5


# -- shared helpers ---------------------------------------------------------------------------------
def check_int(field: str, value: Any, *, minimum: int = 2, maximum: int = 1000) -> int:
    """An integer parameter in [minimum, maximum], or an ApplicationError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ApplicationError(f"{field} must be a whole number.", field=field)
    if not minimum <= value <= maximum:
        raise ApplicationError(f"{field} must be between {minimum} and {maximum}.", field=field)
    return int(value)


def check_number(field: str, value: Any, *, low: float, high: float, inclusive: bool = True) -> float:
    """A finite number in [low, high] (or (low, high) when not inclusive), or an ApplicationError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApplicationError(f"{field} must be a number.", field=field)
    inside = low <= value <= high if inclusive else low < value < high
    if not inside:
        bounds = f"[{low}, {high}]" if inclusive else f"({low}, {high})"
        raise ApplicationError(f"{field} must be in {bounds}.", field=field)
    return float(value)


def num(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float (NaN and infinities read as None)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits)


def too_few(name: str, label: str, needed: int, have: int) -> FactorResult:
    return FactorResult(
        name,
        0.0,
        f"Too few candles for {label}: {needed} needed, {have} available.",
        {"insufficient": True, "needed": needed, "candles": have},
    )


def recent_cross(diff: np.ndarray, within: int) -> tuple[int, int | None]:
    """The direction (+1 up, -1 down, 0 none) of the latest sign change of `diff` within the last
    `within` bars, and how many bars ago it happened (0: on the last bar)."""
    tail = diff[-(within + 1) :]
    for ago in range(len(tail) - 1):
        now, before = tail[-1 - ago], tail[-2 - ago]
        if not (math.isfinite(now) and math.isfinite(before)):
            break
        if before <= 0 < now:
            return 1, ago
        if before >= 0 > now:
            return -1, ago
    return 0, None


def gap_in_atr(gap: float, atr: float) -> float:
    """`gap` measured in ATRs; a flat market (ATR 0) reads any nonzero gap as a full one."""
    if atr > 0:
        return gap / atr
    return 0.0 if gap == 0 else math.copysign(10.0, gap)


# -- RSI --------------------------------------------------------------------------------------------
def rsi_score(rsi: float, oversold: float, overbought: float) -> float:
    """Contrarian: +0.5 at `oversold` rising linearly to +1 at 0, -0.5 at `overbought` falling to -1 at
    100, and between the two a line through 0 at their midpoint."""
    mid = (oversold + overbought) / 2
    if rsi <= oversold:
        return 0.5 + 0.5 * (oversold - rsi) / oversold
    if rsi >= overbought:
        return -0.5 - 0.5 * (rsi - overbought) / (100 - overbought)
    if rsi <= mid:
        return 0.5 * (mid - rsi) / (mid - oversold)
    return -0.5 * (rsi - mid) / (overbought - mid)


def rsi_factor(bars: Bars, *, period: int = 14, oversold: float = 30, overbought: float = 70) -> FactorResult:
    """RSI read against its oversold/overbought zones: oversold is bullish, overbought bearish."""
    period = check_int("period", period)
    oversold = check_number("oversold", oversold, low=0, high=100, inclusive=False)
    overbought = check_number("overbought", overbought, low=0, high=100, inclusive=False)
    if oversold >= overbought:
        raise ApplicationError("oversold must be below overbought.", field="oversold")
    needed = period + 1
    if len(bars) < needed:
        return too_few("rsi", f"RSI({period})", needed, len(bars))
    close = bars.close
    if float(close.max()) == float(close.min()):
        # No gain and no loss: TA-Lib answers 0 there, which would read as deeply oversold.
        return FactorResult("rsi", 0.0, "The closes are flat: RSI has no reading.", {"rsi": None, "zone": "flat"})
    rsi = float(talib.RSI(close, timeperiod=period)[-1])
    score = clamp(rsi_score(rsi, oversold, overbought))
    if rsi >= overbought:
        zone, reason = "overbought", f"RSI({period}) is {rsi:.1f}, overbought (>= {overbought:g})."
    elif rsi <= oversold:
        zone, reason = "oversold", f"RSI({period}) is {rsi:.1f}, oversold (<= {oversold:g})."
    else:
        zone, reason = "neutral", f"RSI({period}) is {rsi:.1f}, between {oversold:g} and {overbought:g}."
    return FactorResult("rsi", score, reason, {"rsi": num(rsi, 4), "zone": zone, "period": period})


# -- MACD -------------------------------------------------------------------------------------------
def macd_factor(
    bars: Bars,
    *,
    fast: int = 12,
    slow: int = 26,
    signal: int = 9,
    cross_bars: int = 3,
    scale_bars: int = 100,
) -> FactorResult:
    """The MACD histogram's sign and size (in standard deviations of the histogram over the last
    `scale_bars`), moved toward a cross of the signal line seen in the last `cross_bars` bars."""
    fast = check_int("fast", fast)
    slow = check_int("slow", slow)
    signal = check_int("signal", signal)
    cross_bars = check_int("cross_bars", cross_bars, minimum=1, maximum=100)
    scale_bars = check_int("scale_bars", scale_bars, minimum=10)
    if fast >= slow:
        raise ApplicationError("fast must be shorter than slow.", field="fast")
    needed = slow + signal
    if len(bars) < needed:
        return too_few("macd", f"MACD({fast},{slow},{signal})", needed, len(bars))
    macd, line, hist = talib.MACD(bars.close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    recent = hist[-scale_bars:]
    recent = recent[np.isfinite(recent)]
    sigma = float(recent.std())
    last = float(hist[-1])
    size = math.tanh(last / sigma) if sigma > 0 else float(np.sign(last))
    direction, ago = recent_cross(hist, cross_bars)
    score = clamp(size + CROSS_BONUS * direction)
    if direction:
        when = "on the last bar" if ago == 0 else f"{ago} bar{'s' if ago > 1 else ''} ago"
        reason = f"MACD crossed {'above' if direction > 0 else 'below'} its signal line {when}."
    elif last > 0:
        reason = "MACD is above its signal line (histogram positive)."
    elif last < 0:
        reason = "MACD is below its signal line (histogram negative)."
    else:
        reason = "MACD sits on its signal line."
    return FactorResult(
        "macd",
        score,
        reason,
        {
            "macd": num(macd[-1]),
            "signal": num(line[-1]),
            "hist": num(last),
            "hist_sigma": num(sigma),
            "cross": {1: "up", -1: "down", 0: None}[direction],
            "cross_bars_ago": ago,
        },
    )


# -- Bollinger Bands --------------------------------------------------------------------------------
def bollinger_factor(
    bars: Bars,
    *,
    period: int = 20,
    stddev: float = 2.0,
    squeeze_bars: int = 120,
    squeeze_quantile: float = 0.2,
) -> FactorResult:
    """%B, the close's place between the bands: 1 - 2 * %B, so the lower band is +1 and the upper -1.
    In a squeeze (bandwidth at or below its `squeeze_quantile` over the last `squeeze_bars`) a close
    at a band is more often a breakout than an extreme, so the score is halved."""
    period = check_int("period", period)
    stddev = check_number("stddev", stddev, low=0.1, high=10)
    squeeze_bars = check_int("squeeze_bars", squeeze_bars, minimum=10)
    squeeze_quantile = check_number("squeeze_quantile", squeeze_quantile, low=0, high=1, inclusive=False)
    needed = period
    if len(bars) < needed:
        return too_few("bollinger", f"Bollinger({period})", needed, len(bars))
    upper, middle, lower = talib.BBANDS(bars.close, timeperiod=period, nbdevup=stddev, nbdevdn=stddev, matype=0)
    up, mid, low, close = float(upper[-1]), float(middle[-1]), float(lower[-1]), float(bars.close[-1])
    detail: dict[str, Any] = {"upper": num(up), "middle": num(mid), "lower": num(low)}
    if up - low <= 0 or mid == 0:
        return FactorResult(
            "bollinger", 0.0, "The bands have no width (flat closes).", detail | {"percent_b": None, "squeeze": False}
        )
    percent_b = (close - low) / (up - low)
    width = (upper - lower) / middle
    history = width[-squeeze_bars:]
    history = history[np.isfinite(history)]
    squeeze = bool(len(history) >= 10 and width[-1] <= np.quantile(history, squeeze_quantile))
    score = clamp(1 - 2 * percent_b) * (0.5 if squeeze else 1.0)
    if percent_b >= 1:
        where = "at or above the upper band"
    elif percent_b <= 0:
        where = "at or below the lower band"
    else:
        where = f"{percent_b:.0%} of the way from the lower band to the upper"
    reason = f"The close is {where}{' in a squeeze' if squeeze else ''}."
    return FactorResult(
        "bollinger",
        score,
        reason,
        detail | {"percent_b": num(percent_b, 4), "bandwidth": num(width[-1]), "squeeze": squeeze},
    )


# -- ADX --------------------------------------------------------------------------------------------
def adx_factor(bars: Bars, *, period: int = 14, threshold: float = 20, full: float = 50) -> FactorResult:
    """Trend strength times direction: 0 below ADX `threshold`, rising linearly to 1 at `full`, signed
    by which directional index (+DI or -DI) leads."""
    period = check_int("period", period)
    threshold = check_number("threshold", threshold, low=0, high=100, inclusive=False)
    full = check_number("full", full, low=0, high=100)
    if full <= threshold:
        raise ApplicationError("full must be above threshold.", field="full")
    needed = 2 * period
    if len(bars) < needed:
        return too_few("adx", f"ADX({period})", needed, len(bars))
    adx = float(talib.ADX(bars.high, bars.low, bars.close, timeperiod=period)[-1])
    plus = float(talib.PLUS_DI(bars.high, bars.low, bars.close, timeperiod=period)[-1])
    minus = float(talib.MINUS_DI(bars.high, bars.low, bars.close, timeperiod=period)[-1])
    direction = 1 if plus > minus else -1 if minus > plus else 0
    strength = min(1.0, max(0.0, (adx - threshold) / (full - threshold))) if math.isfinite(adx) else 0.0
    score = clamp(direction * strength)
    if not strength:
        reason = f"ADX({period}) is {adx:.1f}: no trend worth following (below {threshold:g})."
    else:
        lead, trend = ("+DI", "rising") if direction > 0 else ("-DI", "falling")
        reason = f"ADX({period}) is {adx:.1f} with {lead} leading: a {trend} trend."
    return FactorResult(
        "adx",
        score,
        reason,
        {"adx": num(adx, 4), "plus_di": num(plus, 4), "minus_di": num(minus, 4), "strength": num(strength, 4)},
    )


# -- ATR --------------------------------------------------------------------------------------------
def atr_damping(percentile: float, high: float, floor: float) -> float:
    """The confidence multiplier: 1 up to the `high` percentile, falling linearly to `floor` at the
    100th."""
    if percentile <= high:
        return 1.0
    return 1.0 - (1.0 - floor) * (percentile - high) / (1.0 - high)


def atr_factor(
    bars: Bars,
    *,
    period: int = 14,
    regime_bars: int = 200,
    high: float = 0.8,
    low: float = 0.2,
    floor: float = 0.5,
) -> FactorResult:
    """Volatility regime, direction-neutral (score 0): ATR as a share of the close, ranked against
    its last `regime_bars` values. `detail["damping"]` is the multiplier the engine applies to its
    confidence: 1 unless the rank is above `high`, falling to `floor` at the highest ATR seen."""
    period = check_int("period", period)
    regime_bars = check_int("regime_bars", regime_bars, minimum=10, maximum=10000)
    high = check_number("high", high, low=0, high=1, inclusive=False)
    low = check_number("low", low, low=0, high=1, inclusive=False)
    floor = check_number("floor", floor, low=0, high=1)
    if low >= high:
        raise ApplicationError("low must be below high.", field="low")
    needed = period + 1
    if len(bars) < needed:
        return too_few("atr", f"ATR({period})", needed, len(bars))
    atr = talib.ATR(bars.high, bars.low, bars.close, timeperiod=period)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = atr / bars.close
    history = share[-regime_bars:]
    history = history[np.isfinite(history)]
    current = float(share[-1])
    # Mid-rank, so a run of equal values sits at the middle rather than at the top.
    if len(history) and math.isfinite(current):
        percentile = float(((history < current).sum() + 0.5 * (history == current).sum()) / len(history))
    else:
        percentile = 0.5
    regime = "high" if percentile > high else "low" if percentile <= low else "normal"
    damping = atr_damping(percentile, high, floor)
    reason = f"ATR({period}) is {current:.2%} of the price, {regime} for the last {len(history)} bars."
    return FactorResult(
        "atr",
        0.0,
        reason,
        {
            "atr": num(atr[-1]),
            "atr_pct": num(current * 100, 4),
            "percentile": num(percentile, 4),
            "regime": regime,
            "damping": num(damping, 6),
        },
    )


# -- EMA cross --------------------------------------------------------------------------------------
def ema_cross_factor(
    bars: Bars, *, fast: int = 9, slow: int = 21, cross_bars: int = 3, atr_period: int = 14
) -> FactorResult:
    """The gap between a fast and a slow EMA in ATRs, through tanh, moved toward a cross of the two
    seen in the last `cross_bars` bars."""
    fast = check_int("fast", fast)
    slow = check_int("slow", slow)
    cross_bars = check_int("cross_bars", cross_bars, minimum=1, maximum=100)
    atr_period = check_int("atr_period", atr_period)
    if fast >= slow:
        raise ApplicationError("fast must be shorter than slow.", field="fast")
    needed = max(slow, atr_period) + 1
    if len(bars) < needed:
        return too_few("ema_cross", f"EMA({fast}/{slow})", needed, len(bars))
    fast_ema = talib.EMA(bars.close, timeperiod=fast)
    slow_ema = talib.EMA(bars.close, timeperiod=slow)
    atr = float(talib.ATR(bars.high, bars.low, bars.close, timeperiod=atr_period)[-1])
    gap = float(fast_ema[-1] - slow_ema[-1])
    gap_atr = gap_in_atr(gap, atr)
    direction, ago = recent_cross(fast_ema - slow_ema, cross_bars)
    score = clamp(math.tanh(gap_atr) + CROSS_BONUS * direction)
    if direction:
        when = "on the last bar" if ago == 0 else f"{ago} bar{'s' if ago > 1 else ''} ago"
        reason = f"EMA({fast}) crossed {'above' if direction > 0 else 'below'} EMA({slow}) {when}."
    else:
        side = "above" if gap > 0 else "below" if gap < 0 else "on"
        reason = f"EMA({fast}) is {abs(gap_atr):.2f} ATR {side} EMA({slow})."
    return FactorResult(
        "ema_cross",
        score,
        reason,
        {
            "fast_ema": num(fast_ema[-1]),
            "slow_ema": num(slow_ema[-1]),
            "gap_atr": num(gap_atr, 4),
            "cross": {1: "up", -1: "down", 0: None}[direction],
            "cross_bars_ago": ago,
        },
    )


# -- higher timeframe -------------------------------------------------------------------------------
def multi_timeframe_factor(
    bars: Bars,
    *,
    higher: Bars | None = None,
    factor: int = 12,
    fast: int = 9,
    slow: int = 21,
    atr_period: int = 14,
) -> FactorResult:
    """The trend of a higher timeframe (`higher`, or `bars.resample(factor)`: 12 x 5m = 1h): half
    from the fast/slow EMA gap, half from the slow EMA's slope over its last bar, both in the higher
    timeframe's ATRs through tanh."""
    factor = check_int("factor", factor, minimum=2, maximum=1000)
    fast = check_int("fast", fast)
    slow = check_int("slow", slow)
    atr_period = check_int("atr_period", atr_period)
    if fast >= slow:
        raise ApplicationError("fast must be shorter than slow.", field="fast")
    source = "given" if higher is not None else f"{factor}x resample"
    htf = higher if higher is not None else bars.resample(factor)
    needed = max(slow, atr_period) + 1
    if len(htf) < needed:
        result = too_few("multi_timeframe", f"the higher timeframe's EMA({slow})", needed, len(htf))
        return FactorResult(result.name, 0.0, result.reason, result.detail | {"source": source})
    fast_ema = talib.EMA(htf.close, timeperiod=fast)
    slow_ema = talib.EMA(htf.close, timeperiod=slow)
    atr = float(talib.ATR(htf.high, htf.low, htf.close, timeperiod=atr_period)[-1])
    gap_atr = gap_in_atr(float(fast_ema[-1] - slow_ema[-1]), atr)
    slope_atr = gap_in_atr(float(slow_ema[-1] - slow_ema[-2]), atr)
    score = clamp(0.5 * math.tanh(gap_atr) + 0.5 * math.tanh(slope_atr))
    trend = "up" if score > 0.1 else "down" if score < -0.1 else "flat"
    reason = f"The higher timeframe ({source}) trends {trend}: EMA({fast}) {gap_atr:+.2f} ATR from EMA({slow})."
    return FactorResult(
        "multi_timeframe",
        score,
        reason,
        {
            "source": source,
            "bars": len(htf),
            "gap_atr": num(gap_atr, 4),
            "slope_atr": num(slope_atr, 4),
            "trend": trend,
        },
    )
