"""CEX-DEX arbitrage: buy where the pair is cheap, sell where it is dear, between a centralized
exchange (account A, the bot's own: `ctx.quote`, `ctx.position`, leg `primary`) and a DEX
account through Gateway (account B, the second: `ctx.second.quote`, `ctx.second.position`, leg
`secondary`).

The DEX's bid and ask are Gateway's quotes to sell and to buy the DEX account's quote size, so
the pool's fee and price impact are in them already; give that account a quote size of at
least `order_amount`. What the quotes leave out is the Solana transaction fee, paid per swap:
`network_fee_quote`, in the quote currency. With the percentages as fractions:

    hurdle = 1 + cex_fee_pct/100 + dex_fee_pct/100 + min_profit_pct/100
               + network_fee_quote / (order_amount x the buying leg's ask)

- when the DEX bid > the CEX ask x hurdle: market buy on the CEX (tag `arb-buy-cex`) and market
  swap-sell on the DEX (tag `arb-sell-dex`, `exit=True`);
- otherwise, when the CEX bid > the DEX ask x hurdle: market swap-buy on the DEX (tag
  `arb-buy-dex`) and market sell on the CEX (tag `arb-sell-cex`, `exit=True`).

Both legs trade `order_amount`, cut to the base the bot holds on the selling account: on the
DEX its wallet's base balance, on the CEX the bot's position (spot: it never sells what it does
not hold there).

The bot's position counts the fills of both legs, so a completed exchange of legs leaves it where
it was. A swap can fail (the price moved past its slippage limit) or expire while its CEX leg
filled, or the other way round. The strategy keeps the position it had the first time it decided
with no order working (`state.net`). When it is off that by more than `rebalance_tolerance` of
`order_amount`, it first trades the difference back on the CEX (tag `rebalance`), so one-sided
fills do not pile up into exposure nobody asked for. Nothing is done while any order of the bot is working, while the
second account is missing, or when a quote is not positive.
"""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - keeps the parameter table readable

from strategies.base import Context, Decision, OrderIntent, quantize_amount
from strategies.registry import Param, StrategySpec, register


def hurdle(params: dict, ask: D) -> D:
    """The price ratio between the two books that pays the fees, the transaction fee and the
    minimum profit, for one `order_amount` bought at `ask`."""
    pct = (params["cex_fee_pct"] + params["dex_fee_pct"] + params["min_profit_pct"]) / 100
    return 1 + pct + params["network_fee_quote"] / (params["order_amount"] * ask)


def decide(ctx: Context) -> Decision:
    if ctx.second is None:
        return Decision(note="no second (DEX) account")
    if ctx.open_orders:
        return Decision()
    p = ctx.params
    state = dict(ctx.state or {})
    net = ctx.position.quantity
    if "net" not in state:
        state["net"] = str(net)
    drift = net - D(state["net"])
    if abs(drift) > p["order_amount"] * p["rebalance_tolerance"]:
        side = "sell" if drift > 0 else "buy"
        amount = quantize_amount(abs(drift))
        if amount > 0:
            return Decision(
                intents=(OrderIntent(side, amount, tag="rebalance", exit=side == "sell", leg="primary"),),
                state=state,
                note=f"one leg of the last exchange did not fill: {side} {amount} on the CEX to restore the position",
            )
    cex, dex = ctx.quote, ctx.second.quote
    if min(cex.bid, cex.ask, dex.bid, dex.ask) <= 0:
        return Decision(state=state, note="no price yet")
    if dex.bid > cex.ask * hurdle(p, cex.ask):
        buy_leg, sell_leg, held, edge = "cex", "dex", ctx.second.position.quantity, dex.bid / cex.ask - 1
    elif cex.bid > dex.ask * hurdle(p, dex.ask):
        buy_leg, sell_leg, held, edge = "dex", "cex", ctx.position.quantity, cex.bid / dex.ask - 1
    else:
        return Decision(state=state)
    amount = quantize_amount(min(p["order_amount"], max(held, D(0))))
    if amount <= 0:
        return Decision(state=state, note=f"spread to sell on the {sell_leg.upper()}, but no base held there")
    legs = {"cex": "primary", "dex": "secondary"}
    return Decision(
        intents=(
            OrderIntent("buy", amount, tag=f"arb-buy-{buy_leg}", leg=legs[buy_leg]),
            OrderIntent("sell", amount, tag=f"arb-sell-{sell_leg}", exit=True, leg=legs[sell_leg]),
        ),
        state=state,
        note=f"buy {buy_leg.upper()}, sell {sell_leg.upper()}: gross edge {edge * 100:.3f}%",
    )


SPEC = register(
    StrategySpec(
        key="cex_dex_arbitrage",
        label="CEX-DEX arbitrage",
        summary="Trades the spread between a centralized exchange and a DEX (Jupiter through Gateway), net of "
        "fees and the transaction fee, and restores its holdings when a swap leg fails.",
        timeframe="1m",
        needs_second_account=True,
        decide=decide,
        params=(
            Param("min_profit_pct", "decimal", D("0.3"), "Spread over all costs needed to act, in %.", D("0"), D("50")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per leg.", D("0.00000001"), None),
            Param("cex_fee_pct", "decimal", D("0.1"), "Taker fee on the CEX account, in %.", D("0"), D("5")),
            Param(
                "dex_fee_pct",
                "decimal",
                D("0"),
                "Fee on the DEX not in its quotes (e.g. a platform fee), in %.",
                D("0"),
                D("5"),
            ),
            Param(
                "network_fee_quote",
                "decimal",
                D("0.01"),
                "Solana transaction and priority fee per swap, in the quote currency.",
                D("0"),
                None,
            ),
            Param(
                "rebalance_tolerance",
                "decimal",
                D("0.5"),
                "Drift of the position, as a share of order_amount, that triggers a rebalance.",
                D("0.01"),
                D("10"),
            ),
        ),
    )
)
