"""How right the signals were: hit rate and average forward return at N bars, per source and factor.

A pure core over plain data (no ORM, no I/O); `signals.selectors.signal_evaluation` reads the
stored signals and candles and calls it.

- A signal sits on its bar: the candle that opened at `bar_ts` (engine signals, computed at that
  candle's close) or, without one, the candle that contains `created_at` (a webhook alert). The
  base price is that candle's close, the first price a follower could act on.
- Its forward return at N bars is `close[N bars later] / base close - 1`, in percent, multiplied
  by the signal's sign: +1 for buy, -1 for sell, so a sell is right when the price falls.
  Neutral signals have no sign and are counted apart, never as hits or misses.
- A hit is a directional signal with a positive sign-adjusted return (zero is not a hit).
- A signal whose candle N bars later is not stored yet is *pending*: counted, neither hit nor
  miss. One whose bar or target candle falls in a gap of the stored candles (or that names no
  exchange, so no candles can be matched) is *missing*, for the same reason: no invented prices.
- A factor *voted* for a signal when its score in `Signal.factors` has the signal's sign (a
  positive score for a buy, negative for a sell); each factor reports the signals it voted for.

Figures are floats: `hit_rate_pct` rounded to 2 decimals, `avg_return_pct` to 4; both are None
when no signal was evaluated at that horizon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ApplicationError

DEFAULT_HORIZONS = (1, 5, 20)
MAX_HORIZON = 500
MAX_HORIZONS = 10

EVALUATED, PENDING, MISSING = 0, 1, 2
SIGNS = {"buy": 1, "sell": -1}

Market = tuple[str, str, str]  # exchange, symbol, timeframe


def horizons_check(value: Any) -> tuple[int, ...]:
    """The horizons asked for, sorted and unique: an int, "1,5,20", or a list of either."""
    if value is None or value == "" or value == []:
        return DEFAULT_HORIZONS
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, int):
        items = [value]
    else:
        items = [part for item in value for part in (item.split(",") if isinstance(item, str) else [item])]
    out = set()
    for item in items:
        try:
            n = int(str(item).strip())
        except ValueError:
            raise ApplicationError("Horizons are whole numbers of bars, e.g. 1,5,20.", field="horizon") from None
        if n < 1 or n > MAX_HORIZON:
            raise ApplicationError(f"A horizon is 1 to {MAX_HORIZON} bars.", field="horizon")
        out.add(n)
    if len(out) > MAX_HORIZONS:
        raise ApplicationError(f"Ask for at most {MAX_HORIZONS} horizons at once.", field="horizon")
    return tuple(sorted(out))


@dataclass(frozen=True)
class SignalPoint:
    """One stored signal, as the evaluation needs it. `at_ms` is `bar_ts` or `created_at`, in ms."""

    id: int
    source_id: int
    side: str
    market: Market
    at_ms: int
    factors: Mapping[str, Any]


@dataclass(frozen=True)
class CloseSeries:
    """A market's stored candles, oldest first: open times (ms) and closes."""

    ts: np.ndarray
    close: np.ndarray
    step_ms: int


def forward_returns(
    points: Sequence[SignalPoint], series: Mapping[Market, CloseSeries], horizons: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(returns, status), each of shape (signals, horizons): the sign-adjusted forward return in
    percent (NaN unless evaluated) and EVALUATED, PENDING or MISSING. A neutral signal's return is
    the unsigned one; callers leave neutral signals out of hit rates."""
    n, h = len(points), len(horizons)
    returns = np.full((n, h), np.nan)
    status = np.full((n, h), MISSING, dtype=np.int8)
    steps = np.asarray(horizons, dtype=np.int64)
    by_market: dict[Market, list[int]] = {}
    for i, p in enumerate(points):
        by_market.setdefault(p.market, []).append(i)
    for market, rows in by_market.items():
        s = series.get(market)
        if s is None:
            continue  # no candles can match (no exchange named): missing
        rows_a = np.asarray(rows)
        at = np.fromiter((points[i].at_ms for i in rows), dtype=np.int64, count=len(rows))
        if len(s.ts) == 0:
            status[rows_a] = PENDING
            continue
        # The candle that contains the signal's time: the last one opened at or before it.
        base = np.searchsorted(s.ts, at, side="right") - 1
        safe_base = np.clip(base, 0, len(s.ts) - 1)
        contained = (base >= 0) & (s.ts[safe_base] + s.step_ms > at)
        after_last = at >= s.ts[-1] + s.step_ms
        target = s.ts[safe_base][:, None] + steps[None, :] * s.step_ms
        j = np.searchsorted(s.ts, target, side="left")
        safe_j = np.clip(j, 0, len(s.ts) - 1)
        found = contained[:, None] & (j < len(s.ts)) & (s.ts[safe_j] == target)
        pending = (contained[:, None] & (target > s.ts[-1])) | (~contained & after_last)[:, None]
        sign = np.fromiter((SIGNS.get(points[i].side, 1) for i in rows), dtype=np.float64, count=len(rows))
        change = (s.close[safe_j] / s.close[safe_base][:, None] - 1.0) * 100.0 * sign[:, None]
        returns[rows_a] = np.where(found, change, np.nan)
        status[rows_a] = np.where(found, EVALUATED, np.where(pending, PENDING, MISSING))
    return returns, status


def _stats(returns: np.ndarray, status: np.ndarray, horizons: Sequence[int]) -> list[dict[str, Any]]:
    """Per horizon, over the rows given (directional signals only)."""
    out = []
    for k, horizon in enumerate(horizons):
        done = status[:, k] == EVALUATED
        values = returns[done, k]
        evaluated = int(done.sum())
        hits = int((values > 0).sum())
        out.append(
            {
                "horizon": int(horizon),
                "evaluated": evaluated,
                "pending": int((status[:, k] == PENDING).sum()),
                "missing": int((status[:, k] == MISSING).sum()),
                "hits": hits,
                "hit_rate_pct": round(100.0 * hits / evaluated, 2) if evaluated else None,
                "avg_return_pct": round(float(values.mean()), 4) if evaluated else None,
            }
        )
    return out


def _score(value: Any) -> float:
    """A factor's score from its stored JSON (`{"score": s, ...}`, or a bare number)."""
    raw = value.get("score") if isinstance(value, Mapping) else value
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return 0.0
    return float(raw) if raw == raw else 0.0


def evaluate_signals(
    points: Sequence[SignalPoint], series: Mapping[Market, CloseSeries], horizons: Sequence[int]
) -> dict[str, Any]:
    """The evaluation report: overall, per source and per factor, at each horizon (module doc)."""
    horizons = tuple(horizons)
    returns, status = forward_returns(points, series, horizons)
    directional = np.fromiter((p.side in SIGNS for p in points), dtype=bool, count=len(points))
    sources: dict[int, list[int]] = {}
    votes: dict[str, list[int]] = {}
    for i, p in enumerate(points):
        sources.setdefault(p.source_id, []).append(i)
        sign = SIGNS.get(p.side)
        if sign is None or not isinstance(p.factors, Mapping):
            continue
        for name, value in p.factors.items():
            score = _score(value)
            if score * sign > 0:
                votes.setdefault(str(name), []).append(i)

    def part(rows: list[int] | np.ndarray) -> list[dict[str, Any]]:
        rows_a = np.asarray(rows, dtype=np.int64)
        rows_a = rows_a[directional[rows_a]] if len(rows_a) else rows_a
        return _stats(returns[rows_a].reshape(-1, len(horizons)), status[rows_a].reshape(-1, len(horizons)), horizons)

    return {
        "horizons": list(horizons),
        "signals": len(points),
        "directional": int(directional.sum()),
        "neutral": int(len(points) - directional.sum()),
        "overall": part(np.arange(len(points))),
        "sources": [
            {
                "source_id": source_id,
                "signals": len(rows),
                "directional": int(directional[rows].sum()),
                "horizons": part(rows),
            }
            for source_id, rows in sorted(sources.items())
        ],
        "factors": [
            {"factor": name, "votes": len(rows), "horizons": part(rows)} for name, rows in sorted(votes.items())
        ],
    }
