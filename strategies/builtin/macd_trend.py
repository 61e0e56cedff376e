"""MACD trend: a trend follower on 5-minute candles, long, short or both on a perpetual.

Indicators come from `prepare` (TA-Lib, and the same sums for the Bollinger bands and volume
mean), and a decision depends only on the last `warmup` closed bars (see `warmup`): the 1h EMA
starts from the mean of the first `trend_ema_period` 1h closes of that window and runs over the
30 after them. With `h` the MACD histogram (MACD line minus its signal line) of the closes and
the 5m bars grouped by 12 into 1h bars (`Bars.resample(12)`, the last group ending on the last
bar):

Long entry (market buy), when `direction` is long or both, if on the last bar:

1. crossover: `h[-2] <= 0 < h[-1]` (the MACD line crossed above its signal line);
2. trend: the last 1h close is above the `trend_ema_period` EMA of the 1h closes;
3. volume surge: the last bar's volume divided by the mean volume of the `volume_period` bars
   before it is at least `volume_surge`;
4. volatility: ATR(14) as a % of the close is at most `atr_max_pct` (0 turns this off), and the
   Bollinger width (20 bars, 2 standard deviations, `(upper - lower) / middle` in %) is at most
   `bb_width_max_pct` (0 turns this off);
5. regime: ADX(14) is at least `adx_min`.

Short entry (market sell), when `direction` is short or both: the mirror image, with
`h[-2] >= 0 > h[-1]` and the last 1h close below its EMA; rules 3-5 do not depend on the side.

An entry is placed only when the bot holds nothing, has not already entered on this bar and has
no order working on the entry's side (with `both`, no order working at all). Its size is
`order_quote / last price` base, or with `risk_pct` above 0 the amount whose loss at a stop
`atr_stop_mult` ATRs away from the last price is `risk_pct` % of the bot's capital (see
`entry_amount`); such an entry carries that stop as its `stop_loss`, which the runtime keeps
resting on the exchange for a perpetual position.

Exit (market order of the whole position, `exit=True`; on a perpetual it is reduce-only),
whatever `direction` says, when no order on the closing side is working: a long is sold on the
down-crossover `h[-2] >= 0 > h[-1]` or when the last 1h close is no longer above its EMA; a short
is bought back on the up-crossover `h[-2] <= 0 < h[-1]` or when the last 1h close is no longer
below its EMA. An exit and an entry never share a decision: a reversal with `both` is the exit
first, then, at a later decision that finds the bot flat while the signal bar is still the last
closed one (the runtime asks again while the next candle forms), the entry the other way. So the
bot never holds two opposite positions, and never turns one into the other with a single order.

State: `{"last_entry_bar": <open time in ms of the bar that triggered the last entry>}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR
from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

import numpy as np
import talib

from strategies.base import (
    AMOUNT_QUANTUM,
    Bars,
    Context,
    Decision,
    OrderIntent,
    Signals,
    quantize_amount,
    to_decimal,
)
from strategies.builtin.common import (
    bollinger,
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
DIRECTIONS = ("long", "short", "both")
HUNDRED = D(100)


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
        trend_down = close < trend_ema
        crossed_up = (before <= 0) & (hist > 0)
        crossed_down = (before >= 0) & (hist < 0)
    # Flat, only a crossover with the trend on a side the direction allows can lead to an entry;
    # holding, only the opposite crossover or the trend turning can lead to an exit (a backtest
    # holds only what the direction opens). Bars not ready wake it too.
    wake_flat, wake_holding = ~ready, ~ready
    if p["direction"] != "short":
        wake_flat = wake_flat | (crossed_up & trend_up)
        wake_holding = wake_holding | crossed_down | ~trend_up
    if p["direction"] != "long":
        wake_flat = wake_flat | (crossed_down & trend_down)
        wake_holding = wake_holding | crossed_up | ~trend_down
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
        "wake_flat": wake_flat,
        "wake_holding": wake_holding,
    }


def entry_amount(ctx: Context, side: str, atr: D) -> tuple[D, D] | None:
    """The base amount of an entry on `side` and its ATR stop price, or None when the amount
    rounds to nothing (or there is no price, or no ATR, to size it by).

    The stop sits `atr_stop_mult` ATRs from the last price, below it for a buy and above it for a
    sell (8 decimals, rounded toward the price, so a stop-out never loses more than sized for).
    With `risk_pct` 0 the amount is `order_quote / last price`; otherwise it is
    `capital * risk_pct / 100 / (atr * atr_stop_mult)`, so that a stop-out loses `risk_pct` % of
    the capital. The context carries no leverage or margin, so nothing here caps the notional
    (`amount * price` may be a multiple of the capital): the risk limits and the exchange's margin
    check do."""
    p = ctx.params
    price = ctx.quote.last
    distance = atr * p["atr_stop_mult"]
    if price <= 0:
        return None
    if side == "buy":
        stop = (price - distance).quantize(AMOUNT_QUANTUM, rounding=ROUND_CEILING)
    else:
        stop = (price + distance).quantize(AMOUNT_QUANTUM, rounding=ROUND_FLOOR)
    if p["risk_pct"] == 0:
        amount = p["order_quote"] / price
    elif distance > 0:
        amount = ctx.capital * p["risk_pct"] / HUNDRED / distance
    else:
        return None
    amount = quantize_amount(amount)
    return (amount, stop) if amount > 0 else None


def _exit(ctx: Context, crossed_up: bool, crossed_down: bool, trend_up: bool, trend_down: bool) -> Decision:
    """Holding: close the whole position on the opposite crossover or when the trend no longer
    agrees with it."""
    if ctx.position.quantity > 0:
        wants_out = crossed_down or not trend_up
        if not wants_out or has_open(ctx, "sell"):
            return Decision()
        intent = sell_all(ctx, tag="exit")
        reason = "MACD crossed down" if crossed_down else "1h trend turned down"
    else:
        wants_out = crossed_up or not trend_down
        if not wants_out or has_open(ctx, "buy"):
            return Decision()
        amount = quantize_amount(-ctx.position.quantity)
        intent = OrderIntent("buy", amount, tag="exit", exit=True) if amount > 0 else None
        reason = "MACD crossed up" if crossed_up else "1h trend turned up"
    return Decision(intents=(intent,), note=reason) if intent else Decision()


def decide(ctx: Context) -> Decision:
    """Enter on a confirmed MACD crossover in the allowed direction, leave on the opposite
    crossover or a trend flip."""
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
    trend_down = close < ema

    if not ctx.position.is_flat:
        return _exit(ctx, crossed_up, crossed_down, trend_up, trend_down)

    direction = p["direction"]
    if crossed_up and trend_up and direction != "short":
        side = "buy"
    elif crossed_down and trend_down and direction != "long":
        side = "sell"
    else:
        return Decision()
    bar = int(sig["ts"])
    busy = bool(ctx.open_orders) if direction == "both" else has_open(ctx, side)
    if busy or ctx.state.get("last_entry_bar") == bar:
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
    sized = entry_amount(ctx, side, to_decimal(atr))
    if sized is None:
        return Decision()
    amount, stop = sized
    note = f"MACD crossed {'up' if side == 'buy' else 'down'}, ADX {adx:.1f}, ATR {atr / close * 100:.2f}%"
    # A risk-sized entry carries the stop it is sized for (the runtime rests it on a perpetual).
    protect = p["risk_pct"] > 0 and stop > 0
    if protect:
        note += f", {p['risk_pct']}% of the capital at risk to the stop at {stop}"
    return Decision(
        intents=(OrderIntent(side, amount, tag="entry", stop_loss=stop if protect else None),),
        state={**ctx.state, "last_entry_bar": bar},
        note=note,
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
            Param(
                "trend_ema_period",
                "int",
                50,
                "1h EMA length the last 1h close must be above (below, to sell short).",
                5,
                400,
            ),
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
            Param(
                "order_quote",
                "decimal",
                D("100"),
                "Quote currency traded per entry while risk_pct is 0.",
                D("0.00000001"),
                None,
            ),
            Param(
                "direction",
                "str",
                "long",
                "Sides it enters: long, short or both (short and both need a perpetual).",
                choices=DIRECTIONS,
            ),
            Param(
                "risk_pct",
                "decimal",
                D("0"),
                "Capital % lost at the ATR stop; sizes each entry instead of order_quote (0: off).",
                D("0"),
                D("100"),
            ),
            Param(
                "atr_stop_mult",
                "decimal",
                D("2"),
                "Stop distance in ATR(14)s that risk_pct sizes the entry for.",
                D("0.1"),
                D("20"),
            ),
        ),
    )
)
