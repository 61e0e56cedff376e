"""MACD trend: a long-only trend follower on 5-minute candles.

Indicators come from `prepare` (TA-Lib, and the same sums for the Bollinger bands and volume
mean), and a decision depends only on the last `warmup` closed bars (see `warmup`): the 1h EMA
starts from the mean of the first `trend_ema_period` 1h closes of that window and runs over the
30 after them. With `h` the MACD
histogram (MACD line minus its signal line) of the closes:

Entry (market buy of `order_quote / last price` base), when the bot holds nothing, has no buy
order working and has not already entered on this bar, and all of these hold on the last bar:

1. crossover: `h[-2] <= 0 < h[-1]` (the MACD line crossed above its signal line);
2. trend: the 5m bars are grouped by 12 into 1h bars (`Bars.resample(12)`, the last group ending
   on the last bar) and the last 1h close is above the `trend_ema_period` EMA of the 1h closes;
3. volume surge: the last bar's volume divided by the mean volume of the `volume_period` bars
   before it is at least `volume_surge`;
4. volatility: ATR(14) as a % of the close is at most `atr_max_pct` (0 turns this off), and the
   Bollinger width (20 bars, 2 standard deviations, `(upper - lower) / middle` in %) is at most
   `bb_width_max_pct` (0 turns this off);
5. regime: ADX(14) is at least `adx_min`.

Exit (market sell of the whole position, `exit=True`), when the bot holds a position and has no
sell order working, on the opposite crossover `h[-2] >= 0 > h[-1]` or when the trend flips
(the last 1h close is at or below its EMA).

State: `{"last_entry_bar": <open time in ms of the bar that triggered the last entry>}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

import numpy as np
import talib

from strategies.base import Bars, Context, Decision, Signals
from strategies.builtin.common import (
    bollinger,
    buy_for_quote,
    has_open,
    is_finite,
    sell_all,
    strided_ema,
    volume_ratios,
)
from strategies.registry import Param, StrategySpec, register

HTF_FACTOR = 12  # 12 x 5m = 1h
ATR_PERIOD = 14
ADX_PERIOD = 14
BB_PERIOD = 20
BB_STDDEV = 2.0
TREND_SLACK = 30  # 1h bars the trend EMA runs past its seed


def warmup(params: dict[str, Any]) -> int:
    """Bars needed: `trend_ema_period` 1h bars to seed the trend EMA plus TREND_SLACK more for it
    to run, and enough 5m bars for the MACD's EMAs and Wilder's ADX/ATR smoothing to forget their
    seed to the last bit (so the window gives the values of the whole history) and for the volume
    mean. With the defaults that is 961 bars, which one exchange request (1,000 candles on
    Binance) still covers."""
    htf = HTF_FACTOR * (params["trend_ema_period"] + TREND_SLACK)
    macd = 32 * max(params["fast_period"], params["slow_period"]) + 10 * params["signal_period"]
    return max(htf, macd, 60 * ADX_PERIOD, BB_PERIOD, params["volume_period"] + 1) + 1


def prepare(bars: Bars, p: Mapping[str, Any], last: int | None = None) -> dict[str, np.ndarray]:
    """Every indicator the rules read, for every bar (see strategies.base). The 5m MACD, ATR and
    ADX run over all the candles given; TA-Lib's recursions have forgotten their seed well within
    the warm-up, so a bar's value is the same from a whole history as from its warm-up window. The
    1h trend EMA is the exception (it runs only TREND_SLACK hours past its seed), so it is computed
    over exactly the hourly closes of the warm-up window that ends on each bar."""
    need = warmup(dict(p))
    close, high, low = bars.close, bars.high, bars.low
    _, _, hist = talib.MACD(close, p["fast_period"], p["slow_period"], p["signal_period"])
    trend_ema = strided_ema(close, HTF_FACTOR, p["trend_ema_period"], need // HTF_FACTOR, last=last)
    upper, middle, lower = bollinger(close, BB_PERIOD, BB_STDDEV, last=last)
    before = np.roll(hist, 1)
    before[:1] = np.nan
    with np.errstate(invalid="ignore"):
        ready = np.isfinite(hist) & np.isfinite(before) & np.isfinite(trend_ema)
        trend_up = close > trend_ema
        crossed_up = (before <= 0) & (hist > 0)
        crossed_down = (before >= 0) & (hist < 0)
    return {
        "ts": bars.ts,
        "close": close,
        "hist": hist,
        "trend_ema": trend_ema,
        "volume_ratio": volume_ratios(bars.volume, p["volume_period"], last=last),
        "atr": talib.ATR(high, low, close, ATR_PERIOD),
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "adx": talib.ADX(high, low, close, ADX_PERIOD),
        # Flat, only an up-crossover in an uptrend can lead to an entry; holding, only a
        # down-crossover or the trend turning can lead to an exit. Bars not ready wake it too.
        "wake_flat": ~ready | (crossed_up & trend_up),
        "wake_holding": ~ready | crossed_down | ~trend_up,
    }


def decide(ctx: Context) -> Decision:
    """Enter on a confirmed MACD up-crossover, leave on the down-crossover or a trend flip."""
    p = ctx.params
    sig = ctx.signals
    if sig is None:
        need = warmup(dict(p))
        window = ctx.bars.tail(need)
        if len(window) < need:
            return Decision(note=f"warming up: {len(window)}/{need} bars")
        sig = Signals.last(prepare(window, p, last=2))

    hist, hist_before, ema, close = sig["hist"], sig.back("hist"), sig["trend_ema"], sig["close"]
    if not is_finite(hist, hist_before, ema):
        return Decision(note="indicators not ready")
    crossed_up = hist_before <= 0 < hist
    crossed_down = hist_before >= 0 > hist
    trend_up = close > ema

    if not ctx.position.is_flat:
        wants_out = crossed_down or not trend_up
        if not wants_out or has_open(ctx, "sell"):
            return Decision()
        intent = sell_all(ctx, tag="exit")
        reason = "MACD crossed down" if crossed_down else "1h trend turned down"
        return Decision(intents=(intent,), note=reason) if intent else Decision()

    bar = int(sig["ts"])
    if has_open(ctx, "buy") or ctx.state.get("last_entry_bar") == bar or not (crossed_up and trend_up):
        return Decision()
    if sig["volume_ratio"] < float(p["volume_surge"]):
        return Decision()
    atr, upper, middle, lower, adx = sig["atr"], sig["bb_upper"], sig["bb_middle"], sig["bb_lower"], sig["adx"]
    if not is_finite(atr, upper, middle, lower, adx) or middle <= 0:
        return Decision()
    if p["atr_max_pct"] > 0 and atr / close * 100 > float(p["atr_max_pct"]):
        return Decision()
    if p["bb_width_max_pct"] > 0 and (upper - lower) / middle * 100 > float(p["bb_width_max_pct"]):
        return Decision()
    if adx < float(p["adx_min"]):
        return Decision()
    intent = buy_for_quote(ctx, p["order_quote"], tag="entry")
    if intent is None:
        return Decision()
    return Decision(
        intents=(intent,),
        state={**ctx.state, "last_entry_bar": bar},
        note=f"MACD crossed up, ADX {adx:.1f}, ATR {atr / close * 100:.2f}%",
    )


SPEC = register(
    StrategySpec(
        key="macd_trend",
        label="MACD trend",
        summary="MACD crossover confirmed by the higher-timeframe trend, a volume surge, an ATR/Bollinger "
        "volatility filter and an ADX regime filter.",
        warmup=warmup,
        decide=decide,
        prepare=prepare,
        params=(
            Param("fast_period", "int", 12, "MACD fast EMA length.", 2, 100),
            Param("slow_period", "int", 26, "MACD slow EMA length.", 3, 200),
            Param("signal_period", "int", 9, "MACD signal EMA length.", 2, 100),
            Param("trend_ema_period", "int", 50, "1h EMA length the last 1h close must be above.", 5, 400),
            Param("volume_surge", "decimal", D("1.5"), "Volume over its mean needed to enter.", D("0"), D("20")),
            Param("volume_period", "int", 20, "Bars averaged for the volume mean.", 2, 500),
            Param("adx_min", "decimal", D("20"), "Minimum ADX: below it the market is ranging.", D("0"), D("100")),
            Param(
                "atr_max_pct",
                "decimal",
                D("5"),
                "Skip entries when ATR exceeds this % of price (0: off).",
                D("0"),
                D("100"),
            ),
            Param(
                "bb_width_max_pct",
                "decimal",
                D("0"),
                "Skip entries when the Bollinger width exceeds this % of the middle band (0: off).",
                D("0"),
                D("100"),
            ),
            Param("order_quote", "decimal", D("100"), "Quote currency spent per entry.", D("0.00000001"), None),
        ),
    )
)
