"""An Elliott-wave impulse count on the zigzag pivots.

`impulse_count` looks at consecutive confirmed pivots for points 0..5 of a five-wave impulse, up
(0 a low, 1 a high, 2 a low, ...) or down (the mirror). Waves: 1 = 0->1, 2 = 1->2, ... 5 = 4->5.
A count must keep the three hard rules, all strict (touching counts as breaking):
- wave 2 never retraces beyond wave 1's start: up, point 2 > point 0;
- wave 3 is never the shortest of waves 1, 3, 5 (by price length; a tie for shortest breaks it);
- wave 4 never enters wave 1's price territory: up, point 4 > point 1.

Confidence, from how well the count fits the guidelines, each fit in 0..1 (`fit(x, t, w)` is
`1 - |x - t| / w`, floored at 0):
- wave 3 about 1.618 x wave 1, fit(w3 / w1, 1.618, 1.0), weight 0.3;
- wave 2 retraces 0.5-0.618 of wave 1, 1 inside that band, fading to 0 at 0.25 beyond it, 0.2;
- wave 4 retraces about 0.382 of wave 3, fit(r4, 0.382, 0.25), 0.2;
- alternation, waves 2 and 4 of different depth, min(1, |r2 - r4| / 0.25), 0.15;
- wave 5 about as long as wave 1, fit(w5 / w1, 1.0, 1.0), 0.15.
A count in progress is scored on the guidelines it already has (weights renormalised) and scaled
down for what is not known yet: x 0.8 for 0..4, x 0.6 for 0..3.

Counts, in order of preference: a complete impulse whose point 5 is the last pivot; 0..4 ending at
the last pivot (wave 5 is under way: anticipate the trend); 0..3 ending at the last pivot (wave 4
is under way: a pull-back against the trend); a complete impulse whose point 5 is one or two
pivots back (its correction is under way). Among equals the higher confidence wins.

A count in progress is also checked against the last close (`last_price`): a close inside wave
1's territory, or a wave 5 already longer than a wave 3 that is shorter than wave 1, breaks it and
the next candidate is taken.

`elliott_factor` score, with d = +1 for an up impulse and -1 for a down one and c the confidence:
complete and fresh -0.5 * d * c (a correction follows the fifth wave), complete one or two pivots
back -0.3 * d * c, 0..4 +0.8 * d * c, 0..3 -0.4 * d * c. No count: score 0, `valid` false.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.factors.base import FactorResult, clamp
from signals.factors.pivots import Pivot, validate_zigzag_pct, zigzag_state
from strategies.base import Bars

MIN_BARS = 20
STALE_PIVOTS = 2  # a complete impulse whose wave 5 is at most this many pivots back still counts
SCALE_IN_PROGRESS = {5: 0.8, 4: 0.6}
SCORE_WEIGHTS = {"fresh": -0.5, "stale": -0.3, 5: 0.8, 4: -0.4}


@dataclass(frozen=True)
class WaveCount:
    """Points 0..n of an impulse (n = 5 complete, 3 or 4 in progress)."""

    points: list[Pivot]
    direction: int  # +1 up, -1 down
    confidence: float
    pivots_after: int  # confirmed pivots after the last point

    @property
    def complete(self) -> bool:
        return len(self.points) == 6

    @property
    def next_direction(self) -> int:
        """The direction of the wave after the last point: with the trend for wave 5 (after 0..4),
        against it for wave 4 (after 0..3) and for the correction after a complete impulse."""
        return self.direction if len(self.points) == 5 else -self.direction


def _fit(x: float, target: float, width: float) -> float:
    return max(0.0, 1.0 - abs(x - target) / width)


def _band(x: float, low: float, high: float, width: float) -> float:
    if low <= x <= high:
        return 1.0
    return max(0.0, 1.0 - min(abs(x - low), abs(x - high)) / width)


def rules_hold(prices: list[float], direction: int) -> bool:
    """Do points 0..n (n 3..5) keep the impulse's shape and every hard rule they can already be
    checked against?"""
    p = [direction * x for x in prices]  # a down impulse mirrored into an up one
    if any((p[k + 1] - p[k]) * (1 if k % 2 == 0 else -1) <= 0 for k in range(len(p) - 1)):
        return False
    if p[2] <= p[0]:  # wave 2 beyond wave 1's start
        return False
    if p[3] <= p[1]:  # wave 3 must carry past wave 1 (implied by rule 3 once wave 4 exists)
        return False
    if len(p) >= 5 and p[4] <= p[1]:  # wave 4 into wave 1's territory
        return False
    if len(p) == 6:
        w1, w3, w5 = p[1] - p[0], p[3] - p[2], p[5] - p[4]
        if w3 <= min(w1, w5):  # wave 3 the shortest
            return False
    return True


def count_confidence(prices: list[float], direction: int) -> float:
    """Guideline fit of points 0..n in 0..1 (module doc)."""
    p = [direction * x for x in prices]
    w1, w2, w3 = p[1] - p[0], p[1] - p[2], p[3] - p[2]
    r2 = w2 / w1
    fits = [(0.3, _fit(w3 / w1, 1.618, 1.0)), (0.2, _band(r2, 0.5, 0.618, 0.25))]
    if len(p) >= 5:
        r4 = (p[3] - p[4]) / w3
        fits += [(0.2, _fit(r4, 0.382, 0.25)), (0.15, min(1.0, abs(r2 - r4) / 0.25))]
    if len(p) == 6:
        fits.append((0.15, _fit((p[5] - p[4]) / w1, 1.0, 1.0)))
    value = sum(w * f for w, f in fits) / sum(w for w, _ in fits)
    return value * SCALE_IN_PROGRESS.get(len(p), 1.0)


def still_valid(count: WaveCount, price: float) -> bool:
    """Does a count in progress survive the latest price? A price inside wave 1's territory
    breaks it, and so does a wave 5 already longer than a wave 3 that is shorter than wave 1."""
    if count.complete:
        return True
    d = count.direction
    p = [d * pt.price for pt in count.points]
    c = d * price
    if c <= p[1]:
        return False
    if len(p) == 5:
        w1, w3 = p[1] - p[0], p[3] - p[2]
        if w3 < w1 and c - p[4] >= w3:
            return False
    return True


def impulse_count(pivots: list[Pivot], *, last_price: float | None = None) -> WaveCount | None:
    """The most recent impulse count (complete or in progress) on the pivots, or None (module doc).
    With `last_price`, a count in progress that this price already breaks is passed over."""
    n = len(pivots)
    candidates: list[tuple[int, WaveCount]] = []  # (preference rank, count); lower rank first

    def consider(size: int, after: int, rank: int) -> None:
        end = n - after
        if end - size < 0:
            return
        points = pivots[end - size : end]
        direction = 1 if points[0].kind == "low" else -1
        prices = [pt.price for pt in points]
        if not rules_hold(prices, direction):
            return
        count = WaveCount(points, direction, count_confidence(prices, direction), after)
        if last_price is None or still_valid(count, last_price):
            candidates.append((rank, count))

    consider(6, 0, 0)
    consider(5, 0, 1)
    consider(4, 0, 2)
    for after in range(1, STALE_PIVOTS + 1):
        consider(6, after, 2 + after)
    if not candidates:
        return None
    best_rank = min(rank for rank, _ in candidates)
    return max((c for rank, c in candidates if rank == best_rank), key=lambda c: c.confidence)


def elliott_factor(bars: Bars, *, zigzag_pct: float = 3.0) -> FactorResult:
    """The recent impulse count on the zigzag pivots, its confidence and a score (module doc)."""
    pct = validate_zigzag_pct(zigzag_pct)
    empty = {"waves": [], "valid": False, "confidence": 0.0, "direction": None, "next_direction": None}
    if len(bars) < MIN_BARS:
        return FactorResult("elliott", 0.0, f"Too few candles for a wave count ({len(bars)} < {MIN_BARS}).", empty)
    pivots = zigzag_state(bars.high, bars.low, bars.ts, pct).pivots
    if len(pivots) < 4:
        return FactorResult("elliott", 0.0, f"Too few {pct:g}% pivots for a wave count ({len(pivots)}).", empty)
    count = impulse_count(pivots, last_price=float(bars.close[-1]))
    if count is None:
        return FactorResult("elliott", 0.0, "No impulse obeying the wave rules in the recent pivots.", empty)
    confidence = round(float(count.confidence), 4)
    detail = {
        "waves": [{"label": str(k), "ts": pt.ts, "price": pt.price} for k, pt in enumerate(count.points)],
        "valid": True,
        "confidence": confidence,
        "direction": "up" if count.direction == 1 else "down",
        "next_direction": "up" if count.next_direction == 1 else "down",
    }
    trend = "up" if count.direction == 1 else "down"
    if count.complete:
        key: object = "fresh" if count.pivots_after == 0 else "stale"
        words = f"A complete {trend} impulse: a correction is expected"
    else:
        key = len(count.points)
        wave = len(count.points)  # the wave under way: 4 after points 0..3, 5 after 0..4
        words = f"{'An up' if count.direction == 1 else 'A down'} impulse in progress: wave {wave} under way"
    score = SCORE_WEIGHTS[key] * count.direction * count.confidence
    return FactorResult("elliott", clamp(score), f"{words} (confidence {confidence:.2f}).", detail)
