"""cex_dex_arbitrage's rules on hand-made books: the hurdle with the per-swap transaction fee,
both directions, the sale cut to what is held, and the rebalance after a one-legged exchange."""

from decimal import Decimal

from strategies.base import Context, Leg, PositionView, Quote
from strategies.builtin import cex_dex_arbitrage
from strategies.registry import validate_params
from tests.strategies.helpers import open_order
from tests.strategies.replay import load_bars


def ctx(cex: str, dex: str, *, net: str = "0", dex_held: str = "5", state=None, open_orders=(), **params) -> Context:
    qa = Quote(Decimal(cex), Decimal(cex), Decimal(cex))
    qb = Quote(Decimal(dex), Decimal(dex), Decimal(dex))
    return Context(
        now_ms=0,
        symbol="SOL/USDC",
        params=validate_params("cex_dex_arbitrage", {"order_amount": "1", **params}),
        bars=load_bars().tail(0),
        quote=qa,
        position=PositionView(Decimal(net)),
        second=Leg(qb, PositionView(Decimal(dex_held))),
        state=state or {},
        open_orders=open_orders,
    )


def intents(decision):
    return [(i.side, i.amount, i.tag, i.leg) for i in decision.intents]


def test_the_transaction_fee_is_part_of_the_hurdle():
    # Fees 0.1% + 0% and 0.3% profit: 1.004; a 0.5 USDC swap fee on 1 SOL at 100 adds 0.5%.
    assert cex_dex_arbitrage.hurdle(ctx("100", "100", network_fee_quote="0.5").params, Decimal(100)) == Decimal("1.009")
    assert intents(cex_dex_arbitrage.decide(ctx("100", "100.8", network_fee_quote="0.5"))) == []
    assert intents(cex_dex_arbitrage.decide(ctx("100", "100.8", network_fee_quote="0"))) == [
        ("buy", Decimal(1), "arb-buy-cex", "primary"),
        ("sell", Decimal(1), "arb-sell-dex", "secondary"),
    ]


def test_a_cheap_dex_buys_there_and_sells_what_the_bot_holds_on_the_cex():
    assert intents(cex_dex_arbitrage.decide(ctx("101", "100", net="0.4", state={"net": "0.4"}))) == [
        ("buy", Decimal("0.4"), "arb-buy-dex", "secondary"),
        ("sell", Decimal("0.4"), "arb-sell-cex", "primary"),
    ]
    held_nothing = cex_dex_arbitrage.decide(ctx("101", "100"))
    assert held_nothing.intents == () and "no base held there" in held_nothing.note


def test_the_dex_sale_is_cut_to_the_wallets_base():
    assert intents(cex_dex_arbitrage.decide(ctx("100", "102", dex_held="0.25")))[1] == (
        "sell",
        Decimal("0.25"),
        "arb-sell-dex",
        "secondary",
    )


def test_a_one_legged_exchange_is_traded_back_on_the_cex_first():
    # The swap sale failed after the CEX buy filled: the bot is 1 SOL longer than it was.
    longer = cex_dex_arbitrage.decide(ctx("100", "102", net="1", state={"net": "0"}))
    assert intents(longer) == [("sell", Decimal(1), "rebalance", "primary")]
    assert longer.intents[0].exit and longer.state == {"net": "0"}
    # The CEX sale filled, the swap purchase did not: 1 SOL short of where it was.
    shorter = cex_dex_arbitrage.decide(ctx("100", "100", net="0", state={"net": "1"}))
    assert intents(shorter) == [("buy", Decimal(1), "rebalance", "primary")]
    # Within the tolerance (half an order by default), it trades on.
    assert intents(cex_dex_arbitrage.decide(ctx("100", "102", net="0.3", state={"net": "0"})))[0][2] == "arb-buy-cex"


def test_the_first_decision_remembers_the_position_and_nothing_moves_while_an_order_works():
    first = cex_dex_arbitrage.decide(ctx("100", "100", net="2"))
    assert first.state == {"net": "2"} and first.intents == ()
    working = cex_dex_arbitrage.decide(ctx("100", "105", open_orders=(open_order("sell", "arb-sell-dex"),)))
    assert working.intents == ()
    assert cex_dex_arbitrage.decide(ctx("0", "100")).note == "no price yet"
    alone = Context(
        now_ms=0,
        symbol="SOL/USDC",
        params=validate_params("cex_dex_arbitrage", {}),
        bars=load_bars().tail(0),
        quote=Quote(Decimal(1), Decimal(1), Decimal(1)),
    )
    assert "no second" in cex_dex_arbitrage.decide(alone).note
