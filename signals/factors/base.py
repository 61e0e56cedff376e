"""What a factor answers, and the JSON shape it is stored in.

A factor is a pure function `name_factor(bars: Bars, **params) -> FactorResult`: no ORM, no I/O,
the same in the beat, the evaluation and the benchmark. `score` runs from -1 (as bearish as the
factor gets) through 0 (no view) to +1 (as bullish as it gets); `detail` holds JSON-able figures
(floats, ints, strings, lists, dicts: never numpy types or Decimal) and `reason` one short
plain-language sentence for the signal's reasoning.

In `Signal.factors` each factor is stored under its name as `{"score": s, "reason": r, **detail}`.
The chart of the signals page reads these detail keys, so a factor that draws keeps them:
- `structure`: `pivots` [{"ts": ms, "price": p, "kind": "high"|"low"}], `support` [p, ...],
  `resistance` [p, ...], `pattern` "double_top" | "double_bottom" | None
- `fibonacci`: `levels` {"0.236": p, "0.382": p, ...} (retracements), `extensions` {"1.272": p, ...},
  `swing` {"from_ts", "from_price", "to_ts", "to_price"}
- `elliott`: `waves` [{"label": "0".."5", "ts": ms, "price": p}], `valid` bool
- `patterns`: `markers` [{"ts": ms, "name": "CDLENGULFING", "direction": 1 | -1}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FactorResult:
    name: str
    score: float
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"score": round(float(self.score), 4), "reason": self.reason, **self.detail}


def clamp(value: float, low: float = -1.0, high: float = 1.0) -> float:
    """The score range; NaN (too few candles) reads as no view."""
    if value != value:  # NaN
        return 0.0
    return max(low, min(high, float(value)))
