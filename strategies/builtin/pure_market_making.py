"""Pure market making: one limit bid and one limit ask around the mid price, replaced on a timer.

Needs no candles: it reads the top of book (`mid = (bid + ask) / 2`, or the last price when the
book is empty).

Refresh. The bot's open orders are all its quotes. When none are open, or when the oldest one is
at least `order_refresh_time` seconds old (`now_ms - created_ms`), all of them are cancelled and
a new pair is placed; otherwise the decision does nothing. So after one side fills, the other
side waits for its timer and then both are quoted again.

Prices: bid = mid x (1 - `bid_spread` / 100), rounded down to 8 decimals; ask = mid x
(1 + `ask_spread` / 100), rounded up.

Sizes. Without skew both sides quote `order_amount`. With `inventory_skew_enabled`, the base
share of value is `s = position x mid / capital x 100` and `t = inventory_target_base_pct`; the
deviation is `d = (s - t) / (100 - t)` when `s >= t` and `d = (s - t) / t` otherwise, clamped to
[-1, 1] (0 when the divisor is 0). The bid quotes `order_amount x (1 - d)` and the ask
`order_amount x (1 + d)`: too much base shrinks the bid and grows the ask, too little does the
opposite, and the two always add up to twice `order_amount`.

Limits:
- `price_ceiling` (> 0): while the mid is above it only the ask is quoted (no buying dear);
- `price_floor` (> 0): while the mid is below it only the bid is quoted (no selling cheap);
- spot: the ask is cut to the position the bot holds (it never sells base it does not have), so
  a bot starting without base quotes bids only until one fills.
Amounts are rounded down to 8 decimals and a side whose amount rounds to 0 is not quoted.
Tags: `mm-bid`, `mm-ask`. No state.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP
from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable

from strategies.base import AMOUNT_QUANTUM, Context, Decision, OrderIntent, quantize_amount
from strategies.registry import Param, StrategySpec, register


def inventory_deviation(share_pct: D, target_pct: D) -> D:
    """How far the base share is from its target, from -1 (no base) to 1 (all base)."""
    if share_pct >= target_pct:
        span = D(100) - target_pct
    else:
        span = target_pct
    if span <= 0:
        return D(0)
    return max(D(-1), min(D(1), (share_pct - target_pct) / span))


def order_sizes(ctx: Context, mid: D) -> tuple[D, D]:
    """(bid amount, ask amount) before the spot and price limits."""
    p = ctx.params
    amount = p["order_amount"]
    if not p["inventory_skew_enabled"] or ctx.capital <= 0:
        return amount, amount
    share = ctx.position.quantity * mid / ctx.capital * 100
    d = inventory_deviation(share, p["inventory_target_base_pct"])
    return amount * (1 - d), amount * (1 + d)


def decide(ctx: Context) -> Decision:
    """Quote both sides around the mid; replace the quotes when they are stale or gone."""
    p = ctx.params
    q = ctx.quote
    mid = q.mid if q.bid > 0 and q.ask > 0 else q.last
    if mid <= 0:
        return Decision(note="no price yet")
    if ctx.open_orders:
        oldest = min(o.created_ms for o in ctx.open_orders)
        if ctx.now_ms - oldest < p["order_refresh_time"] * 1000:
            return Decision()
    cancel = tuple(o.client_order_id for o in ctx.open_orders)

    bid_amount, ask_amount = order_sizes(ctx, mid)
    if p["price_ceiling"] > 0 and mid > p["price_ceiling"]:
        bid_amount = D(0)
    if p["price_floor"] > 0 and mid < p["price_floor"]:
        ask_amount = D(0)
    ask_amount = min(ask_amount, max(ctx.position.quantity, D(0)))
    bid_amount, ask_amount = quantize_amount(bid_amount), quantize_amount(ask_amount)

    intents = []
    if bid_amount > 0:
        bid = (mid * (1 - p["bid_spread"] / 100)).quantize(AMOUNT_QUANTUM, rounding=ROUND_DOWN)
        intents.append(OrderIntent("buy", bid_amount, type="limit", price=bid, tag="mm-bid"))
    if ask_amount > 0:
        ask = (mid * (1 + p["ask_spread"] / 100)).quantize(AMOUNT_QUANTUM, rounding=ROUND_UP)
        intents.append(OrderIntent("sell", ask_amount, type="limit", price=ask, tag="mm-ask"))
    return Decision(intents=tuple(intents), cancel=cancel, note=f"quotes around {mid.normalize()}")


SPEC = register(
    StrategySpec(
        key="pure_market_making",
        label="Pure market making",
        summary="Quotes a bid and an ask around the mid price, refreshes them on a timer and skews sizes "
        "toward a target inventory.",
        timeframe="1m",
        decide=decide,
        params=(
            Param("bid_spread", "decimal", D("0.1"), "Bid distance from mid, in %.", D("0.001"), D("50")),
            Param("ask_spread", "decimal", D("0.1"), "Ask distance from mid, in %.", D("0.001"), D("50")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per order.", D("0.00000001"), None),
            Param("order_refresh_time", "int", 30, "Seconds before orders are replaced.", 1, 86400),
            Param("inventory_skew_enabled", "bool", True, "Size orders to pull inventory toward the target."),
            Param(
                "inventory_target_base_pct", "decimal", D("50"), "Target base share of value, in %.", D("0"), D("100")
            ),
            Param(
                "price_ceiling", "decimal", D("0"), "Above this mid price only asks are quoted (0: off).", D("0"), None
            ),
            Param(
                "price_floor", "decimal", D("0"), "Below this mid price only bids are quoted (0: off).", D("0"), None
            ),
        ),
    )
)
