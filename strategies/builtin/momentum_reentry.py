"""Momentum with re-entry: buy a breakout on a volume spike, trail a stop, buy the trend again
after a pullback that turns back up.

Definitions on the last closed bar: the breakout level is the highest high of the
`breakout_period` bars before it; the volume ratio is its volume over the mean volume of the
`volume_period` bars before it. All entries are market buys of `order_quote / last price` base,
at most one per bar, and only when the bot is flat with no buy order working.

1. Fresh breakout (tag `entry`): the close is above the breakout level and the volume ratio is
   at least `volume_spike`. It starts a new trend: the trend's base is that breakout level, its
   high the last price, and its re-entry count 0.
2. Trailing stop (tag `trailing-stop`, market sell of the whole position, `exit=True`): the peak
   is the highest price since the entry: it starts at the last price of the entry decision (for
   a position found without one, the higher of its average entry and the last price) and takes
   in every later bar's high and the last price. The stop is
   `peak x (1 - trailing_stop_pct / 100)`. The position is sold when the last price is at or
   below the stop, or when a bar closed after the entry had its low at or below the stop as it
   stood before that bar's high was counted. The trend's high becomes the
   higher of itself and the peak.
3. Re-entry (tag `reentry`), while flat after a trailing stop of the current trend, judged on
   the bars that closed after the stop-out decision:
   - the trend ends (no more re-entries) as soon as one of them closes below the trend's base;
   - a pullback is seen once the price that triggered the stop (the stop level when a bar's low
     reached it, else the last price) or one of their lows is at or below
     `trend high x (1 - reentry_pullback_pct / 100)`;
   - after the pullback, a bar whose close is above the previous bar's high re-enters, if fewer
     than `max_reentries` re-entries were made in this trend. Its peak starts again from the
     re-entry price (the last price at that decision).
   A fresh breakout takes precedence over a re-entry and resets the count.

State: `{"last_entry_bar": ms, "peak": str, "peak_bar": ms}` while holding, and
`"trend": {"base": str, "high": str, "reentries": int, "stopped_bar": ms | None,
"pulled_back": bool}` for the current trend.
"""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

import numpy as np

from strategies.base import Bars, Context, Decision, to_decimal
from strategies.builtin.common import buy_for_quote, has_open, last_ts, sell_all, volume_ratio
from strategies.registry import Param, StrategySpec, register

HOLDING_KEYS = ("peak", "peak_bar")


def warmup(params: dict[str, Any]) -> int:
    """The breakout window and the volume window, plus the bar being judged."""
    return max(params["breakout_period"], params["volume_period"]) + 2


def breakout_level(bars: Bars, period: int) -> float:
    """Highest high of the `period` bars before the last one."""
    return float(np.max(bars.high[-period - 1 : -1]))


def _trail(ctx: Context, bars: Bars) -> Decision:
    """Holding: move the peak up and sell when the price falls to the trailing stop."""
    p = ctx.params
    state = dict(ctx.state)
    keep = D(1) - p["trailing_stop_pct"] / 100
    last = ctx.quote.last
    avg = ctx.position.average_entry_price
    peak = D(state["peak"]) if "peak" in state else max(avg, last)
    peak_bar = int(state.get("peak_bar", state.get("last_entry_bar", -1)))
    trigger = None
    for i in np.nonzero(bars.ts > peak_bar)[0]:
        low = to_decimal(bars.low[i])
        if trigger is None and low <= peak * keep:
            trigger = peak * keep
        peak = max(peak, to_decimal(bars.high[i]))
        peak_bar = int(bars.ts[i])
    peak = max(peak, last)
    if trigger is None and last <= peak * keep:
        trigger = last
    state.update(peak=str(peak), peak_bar=peak_bar)
    if trigger is None or has_open(ctx, "sell"):
        return Decision(state=state if state != ctx.state else None)
    intent = sell_all(ctx, tag="trailing-stop")
    if intent is None:
        return Decision(state=state)
    trend = state.get("trend")
    if trend is not None:
        high = max(D(trend["high"]), peak)
        pulled = trigger <= high * (1 - p["reentry_pullback_pct"] / 100)
        state["trend"] = {**trend, "high": str(high), "stopped_bar": last_ts(bars), "pulled_back": pulled}
    return Decision(intents=(intent,), state=state, note=f"trailing stop {(peak * keep).normalize()} hit")


def decide(ctx: Context) -> Decision:
    """Breakout entry, trailing stop, bounded re-entries after pullbacks."""
    p = ctx.params
    need = warmup(dict(p))
    bars = ctx.bars.tail(need)
    if not ctx.position.is_flat:
        return _trail(ctx, bars)
    if has_open(ctx, "buy"):
        return Decision()
    state = {k: v for k, v in ctx.state.items() if k not in HOLDING_KEYS}
    if len(bars) < need:
        return Decision(state=state if state != ctx.state else None, note=f"warming up: {len(bars)}/{need} bars")
    bar = last_ts(bars)
    close = float(bars.close[-1])
    trend = state.get("trend")
    if trend is not None and trend.get("stopped_bar") is not None:
        since = bars.ts > trend["stopped_bar"]
        floor = D(trend["high"]) * (1 - p["reentry_pullback_pct"] / 100)
        if since.any() and float(np.min(bars.close[since])) < float(trend["base"]):
            state.pop("trend")
            trend = None
        elif not trend["pulled_back"] and since.any() and to_decimal(np.min(bars.low[since])) <= floor:
            trend = state["trend"] = {**trend, "pulled_back": True}
    unchanged = Decision(state=state if state != ctx.state else None)
    if state.get("last_entry_bar") == bar:
        return unchanged

    level = breakout_level(bars, p["breakout_period"])
    if close > level and volume_ratio(bars.volume, p["volume_period"]) >= float(p["volume_spike"]):
        intent = buy_for_quote(ctx, p["order_quote"], tag="entry")
        if intent is None:
            return unchanged
        last = str(ctx.quote.last)
        new_trend = {
            "base": str(to_decimal(level)),
            "high": last,
            "reentries": 0,
            "stopped_bar": None,
            "pulled_back": False,
        }
        return Decision(
            intents=(intent,),
            state={**state, "last_entry_bar": bar, "peak": last, "peak_bar": bar, "trend": new_trend},
            note=f"breakout above {to_decimal(level).normalize()}",
        )

    if (
        trend is None
        or trend.get("stopped_bar") is None
        or not trend["pulled_back"]
        or bar <= trend["stopped_bar"]
        or trend["reentries"] >= p["max_reentries"]
        or not close > float(bars.high[-2])
    ):
        return unchanged
    intent = buy_for_quote(ctx, p["order_quote"], tag="reentry")
    if intent is None:
        return unchanged
    last = str(ctx.quote.last)
    again = {**trend, "reentries": trend["reentries"] + 1, "stopped_bar": None, "pulled_back": False}
    return Decision(
        intents=(intent,),
        state={**state, "last_entry_bar": bar, "peak": last, "peak_bar": bar, "trend": again},
        note=f"re-entry {again['reentries']} of {p['max_reentries']}",
    )


SPEC = register(
    StrategySpec(
        key="momentum_reentry",
        label="Momentum with re-entry",
        summary="Enters a breakout on a volume spike, rides it with a trailing stop and re-enters after a "
        "pullback that holds.",
        warmup=warmup,
        decide=decide,
        params=(
            Param("breakout_period", "int", 20, "Bars whose high must be broken.", 2, 500),
            Param("volume_spike", "decimal", D("2"), "Volume over its mean needed to enter.", D("0"), D("50")),
            Param("volume_period", "int", 20, "Bars averaged for the volume mean.", 2, 500),
            Param("trailing_stop_pct", "decimal", D("2"), "Trailing stop distance, in %.", D("0.1"), D("50")),
            Param(
                "reentry_pullback_pct",
                "decimal",
                D("1"),
                "Pullback from the trend's high that allows re-entry, in %.",
                D("0.1"),
                D("50"),
            ),
            Param("max_reentries", "int", 2, "Re-entries allowed per trend.", 0, 20),
            Param("order_quote", "decimal", D("100"), "Quote currency spent per entry.", D("0.00000001"), None),
        ),
    )
)
