"""Small strategies the backtest tests run. Built as StrategySpec objects but not registered, so
the shared registry (and the strategy docs kept in step with it) stays as it is; the tests that
need a registered strategy use the built-ins."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from strategies.base import Context, Decision, OrderIntent, quantize_amount
from strategies.builtin.common import buy_for_quote, has_open, sell_all
from strategies.registry import Param, StrategySpec


def sma_warmup(params: dict[str, Any]) -> int:
    return params["slow"] + 1


def sma_cross(ctx: Context) -> Decision:
    """Long-only SMA cross: buy `order_quote` worth at market when the fast SMA of the closes
    crosses above the slow one, sell everything when it crosses back below."""
    p = ctx.params
    need = sma_warmup(dict(p))
    close = ctx.bars.close
    if len(close) < need:
        return Decision(note="warming up")
    fast, slow = p["fast"], p["slow"]
    fast_now, slow_now = np.mean(close[-fast:]), np.mean(close[-slow:])
    fast_before, slow_before = np.mean(close[-fast - 1 : -1]), np.mean(close[-slow - 1 : -1])
    if ctx.position.is_flat:
        if fast_before <= slow_before and fast_now > slow_now and not has_open(ctx, "buy"):
            intent = buy_for_quote(ctx, p["order_quote"], tag="entry")
            return Decision(intents=(intent,) if intent else ())
        return Decision()
    if fast_before >= slow_before and fast_now < slow_now and not has_open(ctx, "sell"):
        intent = sell_all(ctx, tag="exit")
        return Decision(intents=(intent,) if intent else ())
    return Decision()


SMA_CROSS = StrategySpec(
    key="sma_cross",
    label="SMA cross",
    summary="Fast SMA over slow SMA: long; back under: flat.",
    warmup=sma_warmup,
    decide=sma_cross,
    params=(
        Param("fast", "int", 10, "Fast SMA length.", 1, 500),
        Param("slow", "int", 30, "Slow SMA length.", 2, 1000),
        Param("order_quote", "decimal", Decimal("100"), "Quote spent per entry.", Decimal("0.00000001"), None),
    ),
)


def one_limit_then_market(ctx: Context) -> Decision:
    """At the first decision: a resting limit buy below the price; at the 20th decision after it:
    a market buy. Used to compare the backtester's fills with the paper exchange's."""
    step = ctx.state.get("step", 0)
    intents: tuple[OrderIntent, ...] = ()
    if step == 0:
        price = (ctx.quote.last * Decimal("0.997")).quantize(Decimal("0.01"))
        intents = (OrderIntent("buy", Decimal("5"), type="limit", price=price, tag="dip"),)
    elif step == 20:
        intents = (OrderIntent("buy", quantize_amount(Decimal("0.01")), tag="market"),)
    return Decision(intents=intents, state={"step": step + 1})


LIMIT_THEN_MARKET = StrategySpec(
    key="limit_then_market", label="test", summary="test", params=(), decide=one_limit_then_market
)


def scripted(ctx: Context) -> Decision:
    """Places the orders `params["script"]` lists for the candle just closed (by index, from
    `t0` and `step`: `{index: [(side, amount, exit), ...]}`, or `(side, amount, exit, price)` for
    a limit order), and notes the position each decision saw in its state."""
    p = ctx.params
    index = (ctx.now_ms - p["t0"]) // p["step"] - 1
    intents = tuple(
        OrderIntent(
            order[0],
            Decimal(order[1]),
            type="limit" if len(order) > 3 else "market",
            price=Decimal(order[3]) if len(order) > 3 else None,
            tag="exit" if order[2] else "entry",
            exit=order[2],
        )
        for order in p["script"].get(index, ())
    )
    seen = [*ctx.state.get("seen", []), [index, str(ctx.position.quantity)]]
    return Decision(intents=intents, state={"seen": seen})


def scripted_wake(bars, params, last=None) -> dict[str, np.ndarray]:
    """Wakes the scripted strategy only on the candles its script acts on, so the backtester
    jumps over the others (flat or holding)."""
    awake = np.zeros(len(bars), dtype=bool)
    awake[[i for i in params["script"] if i < len(bars)]] = True
    return {"wake_flat": awake, "wake_holding": awake}


SCRIPTED = StrategySpec(key="scripted", label="test", summary="test", params=(), decide=scripted)
SCRIPTED_SKIPPING = StrategySpec(
    key="scripted_skipping", label="test", summary="test", params=(), decide=scripted, prepare=scripted_wake
)
