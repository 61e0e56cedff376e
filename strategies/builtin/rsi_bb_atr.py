"""RSI + Bollinger + ATR: a long-only mean-reversion strategy with ATR-sized exits.

Indicators come from `prepare` (TA-Lib's RSI and ATR, trailing sums for the band and the volume
mean); a decision depends only on the last `warmup` closed bars.

Entry (market buy of `order_quote / last price` base), when the bot holds nothing, has no buy
order working and has not already entered on this bar, and on the last bar:

1. RSI(`rsi_period`) is at most `rsi_oversold`;
2. the close is at or below the lower Bollinger band (`bb_period` SMA minus `bb_stddev`
   population standard deviations);
3. the last bar's volume divided by the mean volume of the `volume_period` bars before it is at
   least `volume_ratio`.

On entry the strategy remembers the bar, ATR(`atr_period`) of that bar and two levels around the
reference price (the last price at the decision): stop = price - `stop_atr` x ATR and
take-profit = price + `take_profit_atr` x ATR. At the first decision that sees the position with
a known average entry price (the real fill), the levels move to the same distances around it;
while that price is unknown (0) they stay where they are.
A position found without levels (opened outside the strategy) gets levels from its average entry
price (the last price when that is unknown) and the current ATR.

Exit (market sell of the whole position, `exit=True`), when no sell order is working:
- tag `stop` when the last price is at or below the stop, or a bar that closed after the entry bar
  had its low at or below it;
- otherwise tag `take-profit` when the last price is at or above the take-profit, or such a bar
  had its high at or above it.
When one bar crosses both levels the stop wins (the order of the two touches is unknown).

State: `{"last_entry_bar": ms, "atr": str, "stop": str, "take_profit": str, "anchored": bool}`
(prices as decimal strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

import numpy as np
import talib

from strategies.base import Bars, Context, Decision, Signals, to_decimal
from strategies.builtin.common import bollinger, buy_for_quote, has_open, is_finite, last_ts, sell_all, volume_ratios
from strategies.registry import Param, StrategySpec, register

LEVEL_KEYS = ("atr", "stop", "take_profit", "anchored")


def warmup(params: dict[str, Any]) -> int:
    """Sixty RSI/ATR lengths, so Wilder's smoothing has forgotten its seed to the last bit (the
    warm-up window and a whole history then give the same values), and the band and volume
    windows. 841 bars with the defaults: one exchange request still covers it."""
    return (
        max(60 * max(params["rsi_period"], params["atr_period"]), params["bb_period"], params["volume_period"] + 1) + 1
    )


def _levels(price: D, atr: D, params: dict[str, Any]) -> dict[str, str]:
    return {
        "atr": str(atr),
        "stop": str(price - params["stop_atr"] * atr),
        "take_profit": str(price + params["take_profit_atr"] * atr),
    }


def _crossed(state: dict[str, Any], last: D, low: float | None, high: float | None) -> tuple[str, str] | None:
    """(tag, note) of the exit when the last price or the bar's low/high crossed a level."""
    stop, take_profit = D(state["stop"]), D(state["take_profit"])
    if last <= stop or (low is not None and to_decimal(low) <= stop):
        return "stop", f"stop-loss at {stop}"
    if last >= take_profit or (high is not None and to_decimal(high) >= take_profit):
        return "take-profit", f"take-profit at {take_profit}"
    return None


def prepare(bars: Bars, p: Mapping[str, Any], last: int | None = None) -> dict[str, np.ndarray]:
    """Every indicator the rules read, for every bar (see strategies.base). RSI and ATR are
    TA-Lib's Wilder recursions, which forget their seed well within the warm-up; the band and the
    volume mean are plain trailing windows."""
    close = bars.close
    rsi = talib.RSI(close, p["rsi_period"])
    _, _, lower = bollinger(close, p["bb_period"], float(p["bb_stddev"]), last=last)
    atr = talib.ATR(bars.high, bars.low, close, p["atr_period"])
    ratio = volume_ratios(bars.volume, p["volume_period"], last=last)
    with np.errstate(invalid="ignore"):
        ready = np.isfinite(rsi) & np.isfinite(lower) & np.isfinite(atr)
        entry = (rsi <= float(p["rsi_oversold"])) & (close <= lower) & (ratio >= float(p["volume_ratio"]))
    return {
        "ts": bars.ts,
        "close": close,
        "rsi": rsi,
        "bb_lower": lower,
        "atr": atr,
        "volume_ratio": ratio,
        # Flat, only an oversold close at the band on volume can lead to an entry (state changes
        # made on other flat bars are the dropping of old levels, which the next decision repeats).
        "wake_flat": ~ready | entry,
    }


def _signals(ctx: Context, need: int) -> Signals | None:
    """The prepared indicators at the last bar: the caller's, or computed over the warm-up window
    (None while it is short)."""
    if ctx.signals is not None:
        return ctx.signals
    window = ctx.bars.tail(need)
    return Signals.last(prepare(window, ctx.params, last=2)) if len(window) >= need else None


def _manage(ctx: Context, need: int) -> Decision:
    """Holding: make sure the levels exist and sit around the real entry, then watch them."""
    p = ctx.params
    state = dict(ctx.state)
    avg = ctx.position.average_entry_price
    # Levels set at the entry decision move once onto the real fill; without a known average
    # entry they stay where they are rather than follow the price.
    if "stop" not in state or (avg > 0 and not state.get("anchored", False)):
        if "atr" in state:
            atr = D(state["atr"])
        else:
            sig = _signals(ctx, need)
            if sig is None:
                return Decision(note=f"warming up: {len(ctx.bars)}/{need} bars")
            if not is_finite(sig["atr"]):
                return Decision(note="indicators not ready")
            atr = to_decimal(sig["atr"])
        state.update(_levels(avg if avg > 0 else ctx.quote.last, atr, p), anchored=avg > 0)
    changed = state if state != ctx.state else None
    if has_open(ctx, "sell"):
        return Decision(state=changed)
    bars = ctx.bars
    after_entry = len(bars) > 0 and last_ts(bars) > state.get("last_entry_bar", -1)
    crossed = _crossed(
        state,
        ctx.quote.last,
        float(bars.low[-1]) if after_entry else None,
        float(bars.high[-1]) if after_entry else None,
    )
    if crossed is None:
        return Decision(state=changed)
    tag, note = crossed
    intent = sell_all(ctx, tag=tag)
    return Decision(intents=(intent,) if intent else (), state=changed, note=note)


def decide(ctx: Context) -> Decision:
    """Buy an oversold dip at the lower band on volume; sell at the ATR stop or take-profit."""
    p = ctx.params
    need = warmup(dict(p))
    if not ctx.position.is_flat:
        return _manage(ctx, need)

    if has_open(ctx, "buy"):
        return Decision()
    # Flat with no entry working: levels left from a closed (or never filled) trade are dropped.
    state = {k: v for k, v in ctx.state.items() if k not in LEVEL_KEYS}
    unchanged = Decision(state=state if state != ctx.state else None)
    sig = _signals(ctx, need)
    if sig is None:
        return replace(unchanged, note=f"warming up: {min(len(ctx.bars), need)}/{need} bars")
    bar = int(sig["ts"])
    if state.get("last_entry_bar") == bar:
        return unchanged
    rsi, lower, atr, close = sig["rsi"], sig["bb_lower"], sig["atr"], sig["close"]
    if not is_finite(rsi, lower, atr):
        return replace(unchanged, note="indicators not ready")
    if rsi > float(p["rsi_oversold"]) or close > lower:
        return unchanged
    if sig["volume_ratio"] < float(p["volume_ratio"]):
        return unchanged
    intent = buy_for_quote(ctx, p["order_quote"], tag="entry")
    if intent is None:
        return unchanged
    atr_d = to_decimal(atr)
    state = {"last_entry_bar": bar, **_levels(ctx.quote.last, atr_d, p), "anchored": False}
    return Decision(intents=(intent,), state=state, note=f"RSI {rsi:.1f} at the lower band, ATR {atr_d}")


SPEC = register(
    StrategySpec(
        key="rsi_bb_atr",
        label="RSI + Bollinger + ATR",
        summary="Buys an oversold RSI at the lower Bollinger band on rising volume; exits at an ATR stop-loss "
        "or take-profit.",
        warmup=warmup,
        decide=decide,
        prepare=prepare,
        params=(
            Param("rsi_period", "int", 14, "RSI length.", 2, 100),
            Param("rsi_oversold", "decimal", D("30"), "RSI at or below which the market is oversold.", D("1"), D("50")),
            Param("bb_period", "int", 20, "Bollinger band length.", 2, 200),
            Param("bb_stddev", "decimal", D("2"), "Bollinger band width in standard deviations.", D("0.5"), D("5")),
            Param("volume_ratio", "decimal", D("1.2"), "Volume over its mean needed to enter.", D("0"), D("20")),
            Param("volume_period", "int", 20, "Bars averaged for the volume mean.", 2, 500),
            Param("atr_period", "int", 14, "ATR length.", 2, 100),
            Param("stop_atr", "decimal", D("2"), "Stop-loss distance in ATRs.", D("0.1"), D("20")),
            Param("take_profit_atr", "decimal", D("3"), "Take-profit distance in ATRs.", D("0.1"), D("50")),
            Param("order_quote", "decimal", D("100"), "Quote currency spent per entry.", D("0.00000001"), None),
        ),
    )
)
