"""Signal follower: trades the organization's stored signals (the factor engine, the AI factor,
sentiment, webhooks, people) for the bot's symbol, through the same risk check as every tick.

The runtime gives the decision the valid signals (`Context.market_signals`, newest first: valid
until after now, their source enabled, this organization's only). A signal counts when its kind
is directional, entry or exit, its source is among `sources` (`all`: every source), its
timeframe is `timeframe` (`any`: any), it has not expired at `ctx.now_ms` and, with
`max_signal_age_bars` above 0, it is at most that many bars of its own timeframe old.

Blend, over the signals that count (entries read directional and entry signals, exits
directional and exit signals):

- `latest`: the newest signal decides; its side and its confidence.
- `weighted`: the score `sum(s * confidence * weight) / sum(weight)` with `s` = +1 for buy, -1
  for sell and 0 for neutral, `weight` the source's weight; the side is the score's sign and the
  strength its absolute value. Buy 0.9 (weight 2), sell 0.6 (weight 1) and buy 0.5 (weight 1)
  score (1.8 - 0.6 + 0.5) / 4 = 0.425: a buy of strength 0.425.

Flat: a buy (or, with `allow_short`, a sell) of strength at least `min_confidence` is a market
entry of `order_quote` quote currency (or `capital_pct` % of the bot's capital) at the last
price, tagged `sig-<id of the newest signal behind it>`, unless every signal behind it was
already entered on, or an order on that side is working. It carries `stop_loss` /
`take_profit` prices `stop_loss_pct` / `take_profit_pct` % from the last price when those are
set (resting on the exchange for a perpetual; watched here at each tick otherwise).

Long (short): with `exit_on_opposite`, a blended sell (buy) of strength at least
`min_confidence`, from signals not already exited on, closes the whole position (`exit=True`),
tagged `sig-<id>-x`. A reversal is that exit first and, at the next decision that finds the bot
flat, the short (long) entry on the same signal, as macd_trend does: the bot never turns a
position around with one order.

Each signal acts once per use: the ids entered and exited on are kept in the state, so the same
signal never enters again after its order (filled or refused by the risk check), while a new
signal does. A decision that does nothing says why in its note (expired, below the threshold,
already acted on, short not allowed...).

State: `{"entered": [signal ids], "exited": [signal ids], "levels": {"sl": price, "tp": price}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

from strategies.base import AMOUNT_QUANTUM, Context, Decision, OrderIntent, SignalView, quantize_amount
from strategies.builtin.common import has_open, sell_all
from strategies.registry import Param, StrategySpec, register

BLENDS = ("latest", "weighted")
TIMEFRAMES = ("any", "1m", "5m", "15m", "1h", "4h", "1d")
ENTRY_KINDS = frozenset({"directional", "entry"})
EXIT_KINDS = frozenset({"directional", "exit"})
SIDE_SIGN = {"buy": 1, "sell": -1}
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
REMEMBERED = 100  # signal ids kept per list in the state
HUNDRED = D(100)


def timeframe_ms(timeframe: str) -> int:
    """`5m` -> 300000; 0 for anything that is not a number and a unit (m, h, d, w)."""
    if len(timeframe) < 2 or not timeframe[:-1].isdigit() or timeframe[-1] not in _UNIT_MS:
        return 0
    return int(timeframe[:-1]) * _UNIT_MS[timeframe[-1]]


def source_ids(text: str) -> frozenset[int]:
    """The `sources` parameter (`"3,7"`) as ids; empty for every source (`all`)."""
    if text == "all":
        return frozenset()
    return frozenset(int(part) for part in text.replace(" ", "").split(",") if part)


def eligible(ctx: Context) -> tuple[list[SignalView], list[str]]:
    """The signals that count, newest first, and why each other one does not."""
    p = ctx.params
    wanted = source_ids(p["sources"])
    kept, skipped = [], []
    for s in ctx.market_signals:
        if s.kind not in ENTRY_KINDS | EXIT_KINDS:
            skipped.append(f"signal {s.signal_id} is a {s.kind} signal")
        elif wanted and s.source_id not in wanted:
            skipped.append(f"signal {s.signal_id} is from source {s.source_id}, not followed")
        elif p["timeframe"] != "any" and s.timeframe != p["timeframe"]:
            skipped.append(f"signal {s.signal_id} is on {s.timeframe}, not {p['timeframe']}")
        elif s.valid_until_ms <= ctx.now_ms:
            skipped.append(f"signal {s.signal_id} expired")
        elif p["max_signal_age_bars"] and _age_bars(ctx, s) > p["max_signal_age_bars"]:
            skipped.append(f"signal {s.signal_id} is {_age_bars(ctx, s)} bars old")
        else:
            kept.append(s)
    return kept, skipped


def _age_bars(ctx: Context, s: SignalView) -> int:
    step = timeframe_ms(s.timeframe)
    # A replayed paper clock can stand before the signal was made: such a signal is new.
    return max(0, ctx.now_ms - s.created_ms) // step if step else 0


def blend(signals: Sequence[SignalView], how: str) -> tuple[str, D, tuple[SignalView, ...]]:
    """The side the signals call for, its strength (0..1) and the signals behind that side."""
    if not signals:
        return "neutral", D(0), ()
    if how == "latest":
        newest = signals[0]
        return newest.side, newest.confidence, (newest,)
    total = sum((s.source_weight for s in signals), D(0))
    if total <= 0:
        return "neutral", D(0), ()
    score = sum((SIDE_SIGN.get(s.side, 0) * s.confidence * s.source_weight for s in signals), D(0)) / total
    side = "buy" if score > 0 else "sell" if score < 0 else "neutral"
    return side, abs(score), tuple(s for s in signals if s.side == side)


def _remember(ids: list[int], new: Sequence[int]) -> list[int]:
    return [*ids, *(i for i in new if i not in ids)][-REMEMBERED:]


def _levels(ctx: Context, side: str) -> tuple[D | None, D | None]:
    """Stop-loss and take-profit prices of an entry on `side` at the last price (None: off)."""
    p, last = ctx.params, ctx.quote.last
    sign = 1 if side == "buy" else -1
    stop = take = None
    if p["stop_loss_pct"] > 0:
        stop = (last * (1 - sign * p["stop_loss_pct"] / HUNDRED)).quantize(AMOUNT_QUANTUM)
    if p["take_profit_pct"] > 0:
        take = (last * (1 + sign * p["take_profit_pct"] / HUNDRED)).quantize(AMOUNT_QUANTUM)
    return (stop if stop is None or stop > 0 else None), take


def _close(ctx: Context, tag: str) -> OrderIntent | None:
    if ctx.position.quantity > 0:
        return sell_all(ctx, tag=tag)
    amount = quantize_amount(-ctx.position.quantity)
    return OrderIntent("buy", amount, tag=tag, exit=True) if amount > 0 else None


def _protect(ctx: Context, state: dict[str, Any]) -> Decision | None:
    """Holding with levels remembered: close at the stop or the target (the exchange holds them
    for a perpetual; a spot position has only this watch)."""
    levels = state.get("levels") or {}
    last, long = ctx.quote.last, ctx.position.quantity > 0
    closing = "sell" if long else "buy"
    for key, name in (("sl", "stop-loss"), ("tp", "take-profit")):
        if key not in levels or has_open(ctx, closing):
            continue
        level = D(levels[key])
        hit = (last <= level) if (key == "sl") == long else (last >= level)
        if hit:
            intent = _close(ctx, f"sig-{key}")
            if intent is not None:
                return Decision(intents=(intent,), state=state, note=f"{name} {level} reached at {last}")
    return None


def _why_not(skipped: list[str], default: str) -> str:
    return "; ".join(skipped[:3]) if skipped else default


def decide(ctx: Context) -> Decision:
    """Enter on a signal above the threshold, leave on an opposite one (see the module docstring)."""
    p = ctx.params
    state: dict[str, Any] = {
        "entered": list(ctx.state.get("entered", [])),
        "exited": list(ctx.state.get("exited", [])),
    }
    if ctx.position.is_flat:
        state.pop("levels", None)
    elif ctx.state.get("levels"):
        state["levels"] = dict(ctx.state["levels"])
        protected = _protect(ctx, state)
        if protected is not None:
            return protected
    kept, skipped = eligible(ctx)
    threshold = p["min_confidence"]

    if not ctx.position.is_flat:
        long = ctx.position.quantity > 0
        opposite = "sell" if long else "buy"
        if not p["exit_on_opposite"]:
            return Decision(state=state, note="holding; exits on an opposite signal are off")
        side, strength, behind = blend([s for s in kept if s.kind in EXIT_KINDS], p["blend"])
        if side != opposite:
            return Decision(state=state, note=_why_not(skipped, "holding; no opposite signal"))
        if strength < threshold:
            return Decision(state=state, note=f"{opposite} signal at {strength:.4f}, below {threshold}")
        ids = [s.signal_id for s in behind]
        if all(i in state["exited"] for i in ids):
            return Decision(state=state, note=f"already exited on signal {ids[0]}")
        if has_open(ctx, opposite):
            return Decision(state=state, note=f"an order on the {opposite} side is working")
        intent = _close(ctx, f"sig-{ids[0]}-x")
        if intent is None:
            return Decision(state=state)
        state["exited"] = _remember(state["exited"], ids)
        state.pop("levels", None)
        return Decision(
            intents=(intent,),
            state=state,
            note=f"exit on {opposite} signal {', '.join(map(str, ids))} at {strength:.4f}",
        )

    side, strength, behind = blend([s for s in kept if s.kind in ENTRY_KINDS], p["blend"])
    if side == "neutral":
        return Decision(state=state, note=_why_not(skipped, "no signal to follow"))
    if strength < threshold:
        return Decision(state=state, note=f"{side} signal at {strength:.4f}, below {threshold}")
    if side == "sell" and not p["allow_short"]:
        return Decision(state=state, note="sell signal; short entries are off")
    ids = [s.signal_id for s in behind]
    if all(i in state["entered"] for i in ids):
        return Decision(state=state, note=f"already entered on signal {ids[0]}")
    if has_open(ctx, side):
        return Decision(state=state, note=f"an order on the {side} side is working")
    price = ctx.quote.last
    spend = ctx.capital * p["capital_pct"] / HUNDRED if p["capital_pct"] > 0 else p["order_quote"]
    amount = quantize_amount(spend / price) if price > 0 else D(0)
    if amount <= 0:
        return Decision(state=state, note="the entry rounds to nothing")
    stop, take = _levels(ctx, side)
    state["entered"] = _remember(state["entered"], ids)
    levels = {k: str(v) for k, v in (("sl", stop), ("tp", take)) if v is not None}
    if levels:
        state["levels"] = levels
    intent = OrderIntent(side, amount, tag=f"sig-{ids[0]}", stop_loss=stop, take_profit=take)
    return Decision(
        intents=(intent,),
        state=state,
        note=f"{side} on signal {', '.join(map(str, ids))} at {strength:.4f}",
    )


SPEC = register(
    StrategySpec(
        key="signal_follower",
        label="Signal follower",
        summary="Trades the organization's stored signals above a confidence threshold, the newest or a "
        "weighted blend of its sources, with optional stop-loss and take-profit.",
        uses_signals=True,
        decide=decide,
        params=(
            Param(
                "min_confidence",
                "decimal",
                D("0.6"),
                "Confidence (or blended strength) a signal needs to act.",
                D("0"),
                D("1"),
            ),
            Param(
                "sources",
                "str",
                "all",
                "Comma-separated ids of the signal sources to follow, or all.",
                pattern=r"all|\s*\d+\s*(,\s*\d+\s*)*",
            ),
            Param("blend", "str", "latest", "latest: the newest signal; weighted: the weighted mean.", choices=BLENDS),
            Param("order_quote", "decimal", D("100"), "Quote currency per entry.", D("0.00000001"), None),
            Param(
                "capital_pct",
                "decimal",
                D("0"),
                "Capital % per entry, instead of order_quote (0: off).",
                D("0"),
                D("100"),
            ),
            Param("timeframe", "str", "any", "Only signals of this timeframe, or any.", choices=TIMEFRAMES),
            Param("exit_on_opposite", "bool", True, "Close the position on an opposite signal."),
            Param("allow_short", "bool", False, "Enter short on sell signals (perpetuals)."),
            Param(
                "max_signal_age_bars",
                "int",
                0,
                "Ignore signals older than this many bars of their timeframe (0: any age while valid).",
                0,
                10_000,
            ),
            Param(
                "take_profit_pct",
                "decimal",
                D("0"),
                "Take-profit % from the entry price (0: off).",
                D("0"),
                D("1000"),
            ),
            Param(
                "stop_loss_pct",
                "decimal",
                D("0"),
                "Stop-loss % from the entry price (0: off).",
                D("0"),
                D("100"),
            ),
        ),
    )
)
