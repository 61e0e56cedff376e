"""Zigzag pivots: the swing highs and lows that the structure, Fibonacci and Elliott factors read.

A percentage zigzag walks the candles once, oldest first. While the trend is up it follows the
highest high since the last pivot low (the candidate); when a later bar's low falls at least
`pct` percent below that candidate, the candidate is confirmed as a pivot high and the trend turns
down (the mirror for lows: a rise of at least `pct` percent above the lowest low). So pivots
alternate high, low, high, ... and each is confirmed by a bar after it.

- Before the first pivot both the highest high and the lowest low are followed; whichever is
  reversed from first (by `pct` percent) is the first pivot. If one bar confirms both, the earlier
  extreme is the first pivot and the later one the second.
- A bar that makes a new extreme cannot also confirm it: the order of high and low inside a bar is
  unknown, so the reversal is only read from the following bars.
- Ties keep the earliest bar (a pivot sits where the extreme was first reached).
- The last leg, from the last confirmed pivot to the end of the array, is unconfirmed: `zigzag`
  leaves it out, `zigzag_state` reports its extreme as `tentative`. Confirmation depends only on
  the bars up to the confirming one, so the pivots of a prefix of the candles are a prefix of the
  pivots of the whole array (no look-ahead: a backtest sees what a live run saw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ApplicationError


@dataclass(frozen=True)
class Pivot:
    index: int
    ts: int
    price: float
    kind: str  # "high" | "low"

    def as_json(self) -> dict[str, object]:
        return {"ts": self.ts, "price": self.price, "kind": self.kind}


@dataclass(frozen=True)
class ZigZag:
    """Confirmed pivots, the bar index that confirmed each, and the extreme of the open last leg."""

    pivots: list[Pivot]
    confirmed_at: list[int]
    tentative: Pivot | None


def validate_zigzag_pct(pct: float) -> float:
    """The reversal size in percent: above 0 (every tick a pivot) and below 50 (hardly ever one)."""
    try:
        value = float(pct)
    except (TypeError, ValueError):
        raise ApplicationError("The zigzag reversal must be a number of percent.", field="zigzag_pct") from None
    if not (0 < value < 50):
        raise ApplicationError("The zigzag reversal must be above 0% and below 50%.", field="zigzag_pct")
    return value


def zigzag_state(high: np.ndarray, low: np.ndarray, ts: np.ndarray, pct: float) -> ZigZag:
    """The zigzag of the candles with the confirmation bar of each pivot and the open last leg."""
    pct = validate_zigzag_pct(pct)
    # Plain lists: a scalar loop over them is several times faster than indexing numpy arrays.
    hs = np.asarray(high, dtype=np.float64).tolist()
    ls = np.asarray(low, dtype=np.float64).tolist()
    n = min(len(hs), len(ls), len(ts))
    if n == 0:
        return ZigZag([], [], None)
    up, down = 1.0 + pct / 100.0, 1.0 - pct / 100.0
    found: list[tuple[int, str]] = []
    confirmed_at: list[int] = []

    # Before the first pivot: follow both extremes.
    hi_i = lo_i = 0
    trend = 0
    cand = 0
    cand_price = 0.0
    i = 1
    while i < n and trend == 0:
        h, lo = hs[i], ls[i]
        if h > hs[hi_i]:
            hi_i = i
        if lo < ls[lo_i]:
            lo_i = i
        rise = lo_i < i and h >= ls[lo_i] * up
        fall = hi_i < i and lo <= hs[hi_i] * down
        if rise and fall:
            first, second = (hi_i, lo_i) if hi_i < lo_i else (lo_i, hi_i)
            found.append((first, "high" if first == hi_i else "low"))
            found.append((second, "high" if second == hi_i else "low"))
            confirmed_at += [i, i]
            trend = 1 if second == lo_i else -1
        elif rise:
            found.append((lo_i, "low"))
            confirmed_at.append(i)
            trend = 1
        elif fall:
            found.append((hi_i, "high"))
            confirmed_at.append(i)
            trend = -1
        if trend:
            start = found[-1][0] + 1
            span = hs[start : i + 1] if trend == 1 else ls[start : i + 1]
            best = max(span) if trend == 1 else min(span)
            cand = start + span.index(best)
            cand_price = best
        i += 1

    while i < n:
        if trend == 1:
            h = hs[i]
            if h > cand_price:
                cand, cand_price = i, h
            elif ls[i] <= cand_price * down:
                found.append((cand, "high"))
                confirmed_at.append(i)
                trend, cand, cand_price = -1, i, ls[i]
        else:
            lo = ls[i]
            if lo < cand_price:
                cand, cand_price = i, lo
            elif hs[i] >= cand_price * up:
                found.append((cand, "low"))
                confirmed_at.append(i)
                trend, cand, cand_price = 1, i, hs[i]
        i += 1

    def make(index: int, kind: str) -> Pivot:
        return Pivot(index=index, ts=int(ts[index]), price=float(hs[index] if kind == "high" else ls[index]), kind=kind)

    pivots = [make(k, kind) for k, kind in found]
    tentative = make(cand, "high" if trend == 1 else "low") if trend else None
    return ZigZag(pivots, confirmed_at, tentative)


def zigzag(high: np.ndarray, low: np.ndarray, ts: np.ndarray, pct: float) -> list[Pivot]:
    """The confirmed zigzag pivots (alternating highs and lows, `pct` percent reversals); the open
    last leg is left out (see `zigzag_state` for it)."""
    return zigzag_state(high, low, ts, pct).pivots
