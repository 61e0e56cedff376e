"""Support/resistance levels and double tops/bottoms, read from the zigzag pivots.

Levels: the confirmed pivot prices (highs and lows together: a broken resistance becomes support)
sorted and grouped greedily: a price joins the current group while it is within `tolerance_pct`
percent of the group's mean (default a third of `zigzag_pct`, so 1% for a 3% zigzag). Each group
is one level at its mean price, as strong as its number of touches. Levels below the last close are
support (nearest first), levels above it resistance (nearest first), at most `max_levels` each.

Double top: three pivots high, low, high (the last three of the confirmed pivots plus the open
leg's extreme, or the three before the last one) whose two highs are within `tolerance_pct` of
each other; the low between them is the neckline. It counts once a close after the second top is
below the neckline, and stops counting when a later close is back above the higher top or the
measured target (neckline minus the pattern's height) has been reached. Double bottom mirrored.

Score: position between the nearest support s and resistance r, `0.4 * (1 - 2 * (close - s) / (r - s))`
(+0.4 on support, -0.4 on resistance); +0.2 above every level (a breakout), -0.2 below every level;
plus -0.6 for a confirmed double top and +0.6 for a confirmed double bottom; clamped to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ApplicationError
from signals.factors.base import FactorResult, clamp
from signals.factors.pivots import Pivot, validate_zigzag_pct, zigzag_state
from strategies.base import Bars

MIN_BARS = 20
MAX_PIVOTS_SHOWN = 50
LEVEL_WEIGHT = 0.4
BREAKOUT_WEIGHT = 0.2
PATTERN_WEIGHT = 0.6


@dataclass(frozen=True)
class Level:
    price: float
    touches: int


@dataclass(frozen=True)
class DoublePattern:
    kind: str  # "double_top" | "double_bottom"
    first: Pivot
    middle: Pivot
    second: Pivot
    neckline: float
    confirmed_index: int
    target: float


def cluster_levels(prices: list[float], tolerance_pct: float) -> list[Level]:
    """Group prices within `tolerance_pct` percent of their group's running mean, lowest first."""
    levels: list[Level] = []
    group: list[float] = []
    tol = tolerance_pct / 100.0
    for price in sorted(prices):
        if group:
            mean = sum(group) / len(group)
            if price <= mean * (1.0 + tol):
                group.append(price)
                continue
            levels.append(Level(mean, len(group)))
        group = [price]
    if group:
        levels.append(Level(sum(group) / len(group), len(group)))
    return levels


def find_double(seq: list[Pivot], close: list[float], tolerance_pct: float) -> DoublePattern | None:
    """The confirmed, still-live double top or bottom among the last pivots of `seq` (see module doc)."""
    tol = tolerance_pct / 100.0
    last = len(close) - 1
    for end in (len(seq), len(seq) - 1):
        if end < 3:
            continue
        a, b, c = seq[end - 3 : end]
        if a.kind == b.kind or a.kind != c.kind:
            continue
        if abs(c.price - a.price) > max(a.price, c.price) * tol:
            continue
        neck = b.price
        if a.kind == "high":
            top = max(a.price, c.price)
            target = neck - (top - neck)
            broke = next((k for k in range(c.index + 1, last + 1) if close[k] < neck), None)
            if broke is None:
                continue
            after = close[broke : last + 1]
            if max(after) > top or min(after) <= target:
                continue
            return DoublePattern("double_top", a, b, c, neck, broke, target)
        bottom = min(a.price, c.price)
        target = neck + (neck - bottom)
        broke = next((k for k in range(c.index + 1, last + 1) if close[k] > neck), None)
        if broke is None:
            continue
        after = close[broke : last + 1]
        if min(after) < bottom or max(after) >= target:
            continue
        return DoublePattern("double_bottom", a, b, c, neck, broke, target)
    return None


def structure_factor(
    bars: Bars,
    *,
    zigzag_pct: float = 3.0,
    tolerance_pct: float | None = None,
    max_levels: int = 5,
) -> FactorResult:
    """Support/resistance from clustered pivots and double top/bottom, scored as in the module doc."""
    pct = validate_zigzag_pct(zigzag_pct)
    tol = pct / 3.0 if tolerance_pct is None else float(tolerance_pct)
    if not (0 < tol < 50):
        raise ApplicationError("The level tolerance must be above 0% and below 50%.", field="tolerance_pct")
    empty = {"pivots": [], "support": [], "resistance": [], "pattern": None}
    if len(bars) < MIN_BARS:
        return FactorResult("structure", 0.0, f"Too few candles for pivots ({len(bars)} < {MIN_BARS}).", empty)
    zz = zigzag_state(bars.high, bars.low, bars.ts, pct)
    if not zz.pivots:
        return FactorResult("structure", 0.0, f"No {pct:g}% swing in these candles yet.", empty)

    close = bars.close.tolist()
    last_close = close[-1]
    levels = cluster_levels([p.price for p in zz.pivots], tol)
    support = sorted((lv for lv in levels if lv.price < last_close), key=lambda lv: -lv.price)[:max_levels]
    resistance = sorted((lv for lv in levels if lv.price >= last_close), key=lambda lv: lv.price)[:max_levels]

    if support and resistance:
        s, r = support[0].price, resistance[0].price
        position = (last_close - s) / (r - s) if r > s else 0.5
        level_score = LEVEL_WEIGHT * (1.0 - 2.0 * position)
        where = f"between support {s:.6g} and resistance {r:.6g}"
    elif support:
        level_score = BREAKOUT_WEIGHT
        where = f"above every level (nearest support {support[0].price:.6g})"
    else:
        level_score = -BREAKOUT_WEIGHT
        where = f"below every level (nearest resistance {resistance[0].price:.6g})"

    seq = zz.pivots + ([zz.tentative] if zz.tentative is not None else [])
    pattern = find_double(seq, close, tol)
    pattern_score = 0.0
    said = ""
    if pattern is not None:
        pattern_score = -PATTERN_WEIGHT if pattern.kind == "double_top" else PATTERN_WEIGHT
        said = f"; {pattern.kind.replace('_', ' ')} confirmed through the neckline {pattern.neckline:.6g}"

    detail = {
        "pivots": [p.as_json() for p in zz.pivots[-MAX_PIVOTS_SHOWN:]],
        "support": [float(lv.price) for lv in support],
        "resistance": [float(lv.price) for lv in resistance],
        "pattern": pattern.kind if pattern is not None else None,
    }
    return FactorResult("structure", clamp(level_score + pattern_score), f"Price {where}{said}.", detail)
