"""Two-account arbitrage: buy where the symbol is cheap and sell where it is dear, at once.

Account A is the bot's own account (`ctx.quote`, `ctx.position`, leg `primary`); account B is
the second account (`ctx.second.quote`, `ctx.second.position`, leg `secondary`). With the fees
and the threshold as fractions, `hurdle = 1 + fee_pct_a/100 + fee_pct_b/100 + min_profit_pct/100`:

- when B's bid > A's ask x hurdle: market buy on A (tag `arb-buy-a`) and market sell on B (tag
  `arb-sell-b`, `exit=True`);
- otherwise, when A's bid > B's ask x hurdle: market buy on B (tag `arb-buy-b`) and market sell
  on A (tag `arb-sell-a`, `exit=True`).

Both legs trade the same amount: `order_amount`, cut to the base the bot holds on the selling
account (spot: it never sells what it does not hold there, so each account needs some base to
start with, and repeated trades in one direction stop once the selling account is empty).
Nothing is done while any order of the bot is still working, while the second account is
missing, when a quote is not positive, or when the amount rounds to 0. No state.
"""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable

from strategies.base import Context, Decision, OrderIntent, quantize_amount
from strategies.registry import Param, StrategySpec, register


def hurdle(params: dict) -> D:
    """The price ratio between the two books that pays both fees and the minimum profit."""
    return 1 + (params["fee_pct_a"] + params["fee_pct_b"] + params["min_profit_pct"]) / 100


def decide(ctx: Context) -> Decision:
    """Trade both legs when one book's bid beats the other's ask by more than the hurdle."""
    if ctx.second is None:
        return Decision(note="no second account")
    if ctx.open_orders:
        return Decision()
    a, b = ctx.quote, ctx.second.quote
    if min(a.bid, a.ask, b.bid, b.ask) <= 0:
        return Decision(note="no price yet")
    p = ctx.params
    h = hurdle(dict(p))
    if b.bid > a.ask * h:
        buy_leg, sell_leg, held = "a", "b", ctx.second.position.quantity
        edge = b.bid / a.ask - 1
    elif a.bid > b.ask * h:
        buy_leg, sell_leg, held = "b", "a", ctx.position.quantity
        edge = a.bid / b.ask - 1
    else:
        return Decision()
    amount = quantize_amount(min(p["order_amount"], max(held, D(0))))
    if amount <= 0:
        return Decision(note=f"spread on {sell_leg.upper()} but no base held there")
    legs = {"a": "primary", "b": "secondary"}
    return Decision(
        intents=(
            OrderIntent("buy", amount, tag=f"arb-buy-{buy_leg}", leg=legs[buy_leg]),
            OrderIntent("sell", amount, tag=f"arb-sell-{sell_leg}", exit=True, leg=legs[sell_leg]),
        ),
        note=f"buy {buy_leg.upper()}, sell {sell_leg.upper()}: gross edge {edge * 100:.3f}%",
    )


SPEC = register(
    StrategySpec(
        key="arbitrage",
        label="Two-exchange arbitrage",
        summary="Buys on one account and sells on the other when the spread beats both fees plus a threshold.",
        timeframe="1m",
        needs_second_account=True,
        decide=decide,
        params=(
            Param("min_profit_pct", "decimal", D("0.3"), "Spread over fees needed to act, in %.", D("0"), D("50")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per leg.", D("0.00000001"), None),
            Param("fee_pct_a", "decimal", D("0.1"), "Taker fee on the first account, in %.", D("0"), D("5")),
            Param("fee_pct_b", "decimal", D("0.1"), "Taker fee on the second account, in %.", D("0"), D("5")),
        ),
    )
)
