"""Grid: resting limit orders at fixed price levels; each pair of neighbouring levels buys low
and sells one level higher, over and over.

Levels. At the first decision (and again when `lower_price`, `upper_price`, `levels` or
`spacing` change) the strategy fixes `levels` prices between the bounds, lowest first, to 8
decimals. A bound of 0 means 10% under (lower) or over (upper) the last price at that decision.
Spacing:
- `linear`: level i is `lower + (upper - lower) x i / (levels - 1)`;
- `fibonacci`: level i is `lower + (upper - lower) x r(i / (levels - 1))`, where r is the
  piecewise-linear curve through the retracement ratios 0, 0.236, 0.382, 0.5, 0.618, 0.786, 1
  placed at 0, 1/6, 2/6, ..., 1. With 7 levels that gives exactly those ratios; other counts
  sample the same curve, so levels are densest around the middle of the range.
A changed grid cancels the bot's open grid orders and starts again from the current price; when
upper is not above lower (or the levels cannot be told apart at 8 decimals) those orders are
still cancelled and nothing is placed.

Pairs. Levels i and i + 1 form pair i, which carries at most one order at a time: a limit buy of
`order_amount` at level i (tag `grid-<i>-buy`) or a limit sell of `order_amount` at level i + 1
(tag `grid-<i+1>-sell`). At each decision:
1. Fills: a pair's order that is no longer among the open orders is taken as filled. A filled
   buy at level i asks for a sell at level i + 1; a filled sell at level i + 1 asks for a buy at
   level i (the re-arm).
2. Idle pairs (no order, nothing asked) whose lower level is strictly below the last price ask
   for a buy at that level. Idle pairs above the price ask for a sell at their upper level,
   nearest the price first, only while uncommitted inventory covers it (see below); otherwise
   they stay idle.
3. An asked-for order is placed unless its level already carries an open grid order (a level
   never holds two), and a sell only when the position minus the remaining amount of the bot's
   open sells covers `order_amount` (spot: the bot sells only base it holds; a fresh bot holds
   nothing, so it starts with buys only and its sells come from filled buys). Re-arm sells come
   before inventory sells. What cannot be placed stays asked for and is retried next decision.
The grid is fixed: when the price leaves the range, the orders on one side simply wait.

State: `{"key": "<lower>|<upper>|<levels>|<spacing>", "levels": [str, ...], "pairs": [str, ...]}`
where each pair is `idle`, `buy` / `sell` (its order is working) or `want-buy` / `want-sell`.
"""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable
from typing import Any

from strategies.base import AMOUNT_QUANTUM, Context, Decision, OrderIntent, quantize_amount
from strategies.registry import Param, StrategySpec, register

FIB_RATIOS = (D("0"), D("0.236"), D("0.382"), D("0.5"), D("0.618"), D("0.786"), D("1"))
DEFAULT_BAND = D("0.1")


def tag(index: int, side: str) -> str:
    return f"grid-{index}-{side}"


def _ratio(x: D) -> D:
    """The Fibonacci retracement curve at x in [0, 1] (linear between the standard ratios)."""
    segments = len(FIB_RATIOS) - 1
    pos = x * segments
    k = min(int(pos), segments - 1)
    return FIB_RATIOS[k] + (FIB_RATIOS[k + 1] - FIB_RATIOS[k]) * (pos - k)


def grid_levels(lower: D, upper: D, count: int, spacing: str) -> list[D]:
    """`count` prices from `lower` to `upper` inclusive, 8 decimals."""
    span = upper - lower
    out = []
    for i in range(count):
        x = D(i) / D(count - 1)
        r = _ratio(x) if spacing == "fibonacci" else x
        out.append((lower + span * r).quantize(AMOUNT_QUANTUM))
    return out


def _key(p: dict[str, Any]) -> str:
    return f"{p['lower_price']}|{p['upper_price']}|{p['levels']}|{p['spacing']}"


def _parse_tag(value: str) -> tuple[int, str] | None:
    parts = value.split("-")
    if len(parts) != 3 or parts[0] != "grid" or not parts[1].isdigit() or parts[2] not in ("buy", "sell"):
        return None
    return int(parts[1]), parts[2]


def _order(pair: int, side: str) -> tuple[int, str]:
    """(level, side) of a pair's order."""
    return (pair, "buy") if side == "buy" else (pair + 1, "sell")


def decide(ctx: Context) -> Decision:
    """Keep one order per pair of levels: buy the lower level, then sell the upper one."""
    p = ctx.params
    price = ctx.quote.last
    key = _key(dict(p))
    state = ctx.state
    cancel: tuple[str, ...] = ()
    open_orders = ctx.open_orders
    if state.get("key") != key or "levels" not in state:
        # A new or changed grid: the old grid's orders go first, whatever follows.
        cancel = tuple(o.client_order_id for o in open_orders if _parse_tag(o.tag))
        open_orders = tuple(o for o in open_orders if not _parse_tag(o.tag))
        if price <= 0:
            return Decision(cancel=cancel, note="no price yet")
        lower = p["lower_price"] or price * (1 - DEFAULT_BAND)
        upper = p["upper_price"] or price * (1 + DEFAULT_BAND)
        if upper <= lower:
            return Decision(cancel=cancel, note=f"invalid grid: upper {upper} is not above lower {lower}")
        levels = grid_levels(lower, upper, p["levels"], p["spacing"])
        if len(set(levels)) != len(levels):
            return Decision(cancel=cancel, note="invalid grid: levels too close for 8 decimals")
        pairs = ["idle"] * (len(levels) - 1)
    else:
        levels = [D(v) for v in state["levels"]]
        pairs = list(state["pairs"])

    working = {o.tag for o in open_orders}
    for j, status in enumerate(pairs):
        if status in ("buy", "sell") and tag(*_order(j, status)) not in working:
            pairs[j] = "want-sell" if status == "buy" else "want-buy"
        elif status == "idle" and levels[j] < price:
            pairs[j] = "want-buy"

    amount = quantize_amount(p["order_amount"])
    taken = {parsed[0] for o in open_orders if (parsed := _parse_tag(o.tag))}
    free = ctx.position.quantity - sum((o.remaining for o in open_orders if o.side == "sell"), D(0))
    idle_above = [j for j, status in enumerate(pairs) if status == "idle" and levels[j] >= price]
    queue = [(j, "sell") for j, s in enumerate(pairs) if s == "want-sell"]
    queue += [(j, "sell") for j in idle_above]
    queue += [(j, "buy") for j, s in enumerate(pairs) if s == "want-buy"]
    intents: list[OrderIntent] = []
    for j, side in queue:
        level, _ = _order(j, side)
        if level in taken or amount <= 0 or (side == "sell" and free < amount):
            continue
        taken.add(level)
        if side == "sell":
            free -= amount
        pairs[j] = side
        intents.append(OrderIntent(side, amount, type="limit", price=levels[level], tag=tag(level, side)))

    new_state = {"key": key, "levels": [str(v) for v in levels], "pairs": pairs}
    return Decision(
        intents=tuple(intents),
        cancel=cancel,
        state=new_state if new_state != dict(state) else None,
        note=f"{len(intents)} grid orders" if intents else "",
    )


SPEC = register(
    StrategySpec(
        key="grid",
        label="Grid",
        summary="Rests buy and sell orders at levels between a lower and an upper bound, evenly or at "
        "Fibonacci ratios, and re-arms a level when it fills.",
        decide=decide,
        params=(
            Param("lower_price", "decimal", D("0"), "Lowest level (0: 10% under the price at start).", D("0"), None),
            Param("upper_price", "decimal", D("0"), "Highest level (0: 10% over the price at start).", D("0"), None),
            Param("levels", "int", 10, "Number of grid levels.", 2, 200),
            Param("spacing", "str", "linear", "How levels are spread.", choices=("linear", "fibonacci")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per level.", D("0.00000001"), None),
        ),
    )
)
