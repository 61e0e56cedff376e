"""Fibonacci retracement and extension levels of the last completed swing.

The last completed swing runs between the last two confirmed zigzag pivots, A then B. For an
up-swing (A low, B high) the retracement level of ratio k is `B - k * (B - A)` (100 -> 200 gives
0.236: 176.4, 0.382: 161.8, 0.5: 150, 0.618: 138.2, 0.786: 121.4) and the extension of ratio e is
`A + e * (B - A)` (1.272: 227.2, 1.618: 261.8, 2.618: 361.8), the targets if the trend resumes
beyond B. A down-swing is the mirror. Since B is confirmed, the price has already moved back from
it by at least `zigzag_pct` percent: the factor reads how deep that pull-back has gone.

Score for an up-swing (sign flipped for a down-swing), with `r` the retracement of the last close
and `deepest` the deepest retracement reached since B:
- a bounce: `deepest` came within 0.05 of a level and the close has recovered at least 0.05 from
  it and is above the previous close: +0.4 at 0.382, +0.5 at 0.5, +0.7 at 0.618, +0.3 at 0.786;
- otherwise by where the close sits: r < 0.236 +0.3 (a shallow pull-back in a strong move),
  up to 0.618 +0.15 (still within the usual retracements), up to 1 -0.3 (deep, the swing is
  failing), beyond 1 -0.6 (the whole swing is undone).
"""

from __future__ import annotations

from signals.factors.base import FactorResult, clamp
from signals.factors.pivots import validate_zigzag_pct, zigzag_state
from strategies.base import Bars

RETRACEMENTS = (0.236, 0.382, 0.5, 0.618, 0.786)
EXTENSIONS = (1.272, 1.618, 2.618)
BOUNCE_SCORES = {0.382: 0.4, 0.5: 0.5, 0.618: 0.7, 0.786: 0.3}
NEAR = 0.05
MIN_BARS = 20


def retracement_levels(start: float, end: float) -> dict[str, float]:
    """Retracements of the move start -> end, keyed by ratio ("0.618": price)."""
    move = end - start
    return {f"{k:g}": float(end - k * move) for k in RETRACEMENTS}


def extension_levels(start: float, end: float) -> dict[str, float]:
    """Extensions of the move start -> end beyond its end, keyed by ratio ("1.618": price)."""
    move = end - start
    return {f"{e:g}": float(start + e * move) for e in EXTENSIONS}


def retracement_score(r_now: float, r_deepest: float, rising: bool) -> tuple[float, str]:
    """The score of an up-swing's pull-back (see module doc) and the words for it."""
    for level, value in BOUNCE_SCORES.items():
        if abs(r_deepest - level) <= NEAR and r_now <= r_deepest - NEAR and rising:
            return value, f"bounced at the {level:g} retracement"
    if r_now < 0.236:
        return 0.3, "shallow pull-back (under 0.236)"
    if r_now <= 0.618:
        return 0.15, f"pull-back to {r_now:.3f}, within the usual retracements"
    if r_now <= 1.0:
        return -0.3, f"deep pull-back to {r_now:.3f}"
    return -0.6, "the whole swing is undone"


def fibonacci_factor(bars: Bars, *, zigzag_pct: float = 3.0) -> FactorResult:
    """Levels of the last completed swing and a score from where the price sits (module doc)."""
    pct = validate_zigzag_pct(zigzag_pct)
    empty = {"levels": {}, "extensions": {}, "swing": None}
    if len(bars) < MIN_BARS:
        return FactorResult("fibonacci", 0.0, f"Too few candles for a swing ({len(bars)} < {MIN_BARS}).", empty)
    pivots = zigzag_state(bars.high, bars.low, bars.ts, pct).pivots
    if len(pivots) < 2:
        return FactorResult("fibonacci", 0.0, f"No completed {pct:g}% swing in these candles yet.", empty)
    a, b = pivots[-2], pivots[-1]
    move = b.price - a.price
    detail = {
        "levels": retracement_levels(a.price, b.price),
        "extensions": extension_levels(a.price, b.price),
        "swing": {"from_ts": a.ts, "from_price": a.price, "to_ts": b.ts, "to_price": b.price},
    }
    if move == 0:
        return FactorResult("fibonacci", 0.0, "The last swing has no height.", detail)
    up = move > 0
    close = float(bars.close[-1])
    prev = float(bars.close[-2])
    after = slice(b.index + 1, None)
    if up:
        extreme = float(bars.low[after].min()) if b.index + 1 < len(bars) else close
    else:
        extreme = float(bars.high[after].max()) if b.index + 1 < len(bars) else close
    r_now = (b.price - close) / move
    r_deepest = (b.price - extreme) / move
    rising = close > prev if up else close < prev
    value, words = retracement_score(r_now, r_deepest, rising)
    score = value if up else -value
    swing = "up-swing" if up else "down-swing"
    reason = f"After the {swing} {a.price:.6g} -> {b.price:.6g}: {words}."
    return FactorResult("fibonacci", clamp(score), reason, detail)
