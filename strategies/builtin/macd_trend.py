"""MACD trend: a long-only trend follower on 5-minute candles.

All indicators are computed with TA-Lib on the last `warmup` closed bars (see `warmup`), so a
decision depends only on that window: the 1h EMA starts from the mean of the first
`trend_ema_period` 1h closes of the window and runs over the 30 after them. With `h` the MACD
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

from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

import talib

from strategies.base import Context, Decision
from strategies.builtin.common import buy_for_quote, has_open, is_finite, last_ts, sell_all, volume_ratio
from strategies.registry import Param, StrategySpec, register

HTF_FACTOR = 12  # 12 x 5m = 1h
ATR_PERIOD = 14
ADX_PERIOD = 14
BB_PERIOD = 20
BB_STDDEV = 2.0
TREND_SLACK = 30  # 1h bars the trend EMA runs past its seed


def warmup(params: dict[str, Any]) -> int:
    """Bars needed: `trend_ema_period` 1h bars to seed the trend EMA plus TREND_SLACK more for it
    to run, and enough 5m bars for the MACD, ADX and volume mean to settle. With the defaults
    that is 961 bars, which one exchange request (1,000 candles on Binance) still covers."""
    htf = HTF_FACTOR * (params["trend_ema_period"] + TREND_SLACK)
    macd = 4 * (max(params["fast_period"], params["slow_period"]) + params["signal_period"])
    return max(htf, macd, 10 * ADX_PERIOD, BB_PERIOD, params["volume_period"] + 1) + 1


def decide(ctx: Context) -> Decision:
    """Enter on a confirmed MACD up-crossover, leave on the down-crossover or a trend flip."""
    p = ctx.params
    need = warmup(dict(p))
    bars = ctx.bars.tail(need)
    if len(bars) < need:
        return Decision(note=f"warming up: {len(bars)}/{need} bars")

    close = bars.close
    _, _, hist = talib.MACD(close, p["fast_period"], p["slow_period"], p["signal_period"])
    htf_close = bars.resampled_close(HTF_FACTOR)
    ema = talib.EMA(htf_close, p["trend_ema_period"])
    if not is_finite(hist[-1], hist[-2], ema[-1]):
        return Decision(note="indicators not ready")
    crossed_up = hist[-2] <= 0 < hist[-1]
    crossed_down = hist[-2] >= 0 > hist[-1]
    trend_up = htf_close[-1] > ema[-1]

    if not ctx.position.is_flat:
        wants_out = crossed_down or not trend_up
        if not wants_out or has_open(ctx, "sell"):
            return Decision()
        intent = sell_all(ctx, tag="exit")
        reason = "MACD crossed down" if crossed_down else "1h trend turned down"
        return Decision(intents=(intent,), note=reason) if intent else Decision()

    bar = last_ts(bars)
    if has_open(ctx, "buy") or ctx.state.get("last_entry_bar") == bar or not (crossed_up and trend_up):
        return Decision()
    if volume_ratio(bars.volume, p["volume_period"]) < float(p["volume_surge"]):
        return Decision()
    atr = talib.ATR(bars.high, bars.low, close, ATR_PERIOD)[-1]
    upper, middle, lower = (a[-1] for a in talib.BBANDS(close, BB_PERIOD, BB_STDDEV, BB_STDDEV))
    adx = talib.ADX(bars.high, bars.low, close, ADX_PERIOD)[-1]
    if not is_finite(atr, upper, middle, lower, adx) or middle <= 0:
        return Decision()
    if p["atr_max_pct"] > 0 and atr / close[-1] * 100 > float(p["atr_max_pct"]):
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
        note=f"MACD crossed up, ADX {adx:.1f}, ATR {atr / close[-1] * 100:.2f}%",
    )


SPEC = register(
    StrategySpec(
        key="macd_trend",
        label="MACD trend",
        summary="MACD crossover confirmed by the higher-timeframe trend, a volume surge, an ATR/Bollinger "
        "volatility filter and an ADX regime filter.",
        warmup=warmup,
        decide=decide,
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
