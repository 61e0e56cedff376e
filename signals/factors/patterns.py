"""Candlestick patterns, found with TA-Lib's CDL functions.

`PATTERNS` is the set looked for. TA-Lib marks a pattern on the candle that completes it, +100 (or
+200 when confirmed) bullish and -100/-200 bearish; a marker carries that candle's open time and the
sign. Plain doji (CDLDOJI) is left out because TA-Lib gives it no direction; the doji star
(CDLDOJISTAR), which it signs by the candle before the star, stands in for it. docs/signals.md
("Candlestick patterns") says how the score is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import talib

from signals.factors.base import FactorResult, clamp
from signals.factors.indicators import check_int
from strategies.base import Bars

PATTERNS: dict[str, str] = {
    "CDLENGULFING": "engulfing",
    "CDLHAMMER": "hammer",
    "CDLINVERTEDHAMMER": "inverted hammer",
    "CDLSHOOTINGSTAR": "shooting star",
    "CDLHANGINGMAN": "hanging man",
    "CDLMORNINGSTAR": "morning star",
    "CDLEVENINGSTAR": "evening star",
    "CDLMORNINGDOJISTAR": "morning doji star",
    "CDLEVENINGDOJISTAR": "evening doji star",
    "CDLDOJISTAR": "doji star",
    "CDL3WHITESOLDIERS": "three white soldiers",
    "CDL3BLACKCROWS": "three black crows",
    "CDLHARAMI": "harami",
    "CDLPIERCING": "piercing line",
    "CDLDARKCLOUDCOVER": "dark cloud cover",
}
_FUNCTIONS = {name: getattr(talib, name) for name in PATTERNS}
# TA-Lib's candle settings average the bodies and shadows of the ten candles before a pattern, and the
# longest pattern here spans three: fewer candles than this find nothing.
MIN_CANDLES = 13


def pattern_hits(bars: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pattern of `PATTERNS` in `bars`: (bar index, pattern index into PATTERNS, direction),
    ordered by bar, then by the order of PATTERNS."""
    names = list(_FUNCTIONS.values())
    grid = np.vstack([fn(bars.open, bars.high, bars.low, bars.close) for fn in names])
    pattern, index = np.nonzero(grid)
    order = np.lexsort((pattern, index))
    index, pattern = index[order], pattern[order]
    return index, pattern, np.sign(grid[pattern, index]).astype(np.int64)


def patterns_factor(bars: Bars, *, lookback: int = 5, history: int = 200) -> FactorResult:
    """The patterns completed in the last `lookback` candles, each +1 or -1 by direction and weighted
    by recency (1 on the last candle, falling by 1/lookback per candle before it), summed and clamped
    to [-1, 1]. `markers` lists every pattern of the last `history` candles, for the chart."""
    lookback = check_int("lookback", lookback, minimum=1, maximum=100)
    history = check_int("history", history, minimum=1, maximum=10000)
    if len(bars) < MIN_CANDLES:
        return FactorResult(
            "patterns",
            0.0,
            f"Too few candles for candlestick patterns: {MIN_CANDLES} needed, {len(bars)} available.",
            {"insufficient": True, "needed": MIN_CANDLES, "candles": len(bars), "markers": []},
        )
    index, pattern, direction = pattern_hits(bars)
    names = list(PATTERNS)
    last = len(bars) - 1
    keep = index > last - history
    markers: list[dict[str, Any]] = [
        {"ts": int(bars.ts[i]), "name": names[p], "direction": int(d)}
        for i, p, d in zip(index[keep], pattern[keep], direction[keep], strict=True)
    ]
    recent = index > last - lookback
    ages = last - index[recent]
    weights = 1.0 - ages / lookback
    score = clamp(float((direction[recent] * weights).sum()))
    found = [(names[p], int(d), int(a)) for p, d, a in zip(pattern[recent], direction[recent], ages, strict=True)]
    if found:
        # The most recent first: that is the one a reader looks at.
        found.sort(key=lambda f: f[2])
        parts = [
            f"{'bullish' if d > 0 else 'bearish'} {PATTERNS[n]} {'on the last candle' if a == 0 else f'{a} back'}"
            for n, d, a in found[:3]
        ]
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        reason = f"Candlestick patterns: {', '.join(parts)}{more}."
    else:
        reason = f"No candlestick pattern in the last {lookback} candles."
    return FactorResult(
        "patterns",
        score,
        reason,
        {"markers": markers, "recent": [{"name": n, "direction": d, "bars_ago": a} for n, d, a in found]},
    )
