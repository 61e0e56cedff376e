"""arbitrage on two books built from the bundled BTC/USDT 5m candles, with its default params.

Construction (deterministic, real prices only): at bar i, account A quotes bar i's close and
account B quotes bar i-1's close (a venue whose price lags A's by one bar); each book's bid, ask
and last are that one price. Both accounts start with 0.005 BTC. Market orders fill at once at
the quoted price of their own account. With 0.1% fees on each side and a 0.3% minimum profit the
strategy acts whenever the close moved more than 0.5% in one bar and the selling account still
holds base."""

from collections import Counter
from decimal import Decimal

import pytest

from strategies.base import Context, Leg, PositionView, Quote, to_decimal
from strategies.builtin import arbitrage
from strategies.registry import validate_params
from tests.strategies.helpers import iso, open_order
from tests.strategies.replay import load_bars, replay_arbitrage

PARAMS = validate_params("arbitrage", {})
START = Decimal("0.005")


@pytest.fixture(scope="module")
def books():
    b = load_bars()
    a = [to_decimal(c) for c in b.close[1:]]
    lagged = [to_decimal(c) for c in b.close[:-1]]
    return [Quote(p, p, p) for p in a], [Quote(p, p, p) for p in lagged], [int(t) for t in b.ts[1:]]


@pytest.fixture(scope="module")
def result(books):
    return replay_arbitrage(arbitrage.decide, *books, PARAMS, holding_a=START, holding_b=START)


def ctx(a: str, b: str, *, held_a: str = "1", held_b: str = "1", **kwargs) -> Context:
    qa, qb = Quote(Decimal(a), Decimal(a), Decimal(a)), Quote(Decimal(b), Decimal(b), Decimal(b))
    return Context(
        now_ms=0,
        symbol="BTC/USDT",
        params=PARAMS,
        bars=load_bars().tail(0),
        quote=qa,
        position=PositionView(Decimal(held_a)),
        second=Leg(qb, PositionView(Decimal(held_b))),
        **kwargs,
    )


def test_it_trades_the_pinned_opportunities(result):
    signals, a, b = result
    assert len(signals.signals) == 2532
    assert Counter(s.tag for s in signals.signals) == {
        "arb-buy-a": 631,
        "arb-sell-b": 631,
        "arb-buy-b": 635,
        "arb-sell-a": 635,
    }
    first = [f"{iso(s.ts)} {s.side} {s.tag} {s.leg}" for s in signals.signals[:2]]
    assert first == ["2021-04-16 04:30 buy arb-buy-a primary", "2021-04-16 04:30 sell arb-sell-b secondary"]
    # Every trade moves 0.001 BTC from one account to the other; the total never changes.
    assert a.quantity + b.quantity == 2 * START and (a.quantity, b.quantity) == (Decimal("0.001"), Decimal("0.009"))


def test_it_acts_exactly_when_the_spread_beats_the_hurdle_and_the_seller_holds_base(books, result):
    quotes_a, quotes_b, stamps = books
    signals, _, _ = result
    by_ts: dict[int, list] = {}
    for s in signals.signals:
        by_ts.setdefault(s.ts, []).append(s)
    held = {"a": START, "b": START}
    blocked = 0
    for qa, qb, ts in zip(quotes_a, quotes_b, stamps, strict=True):
        a, b = float(qa.last), float(qb.last)
        b_dear, a_dear = b > a * 1.005, a > b * 1.005
        got = by_ts.get(ts, [])
        seller = "b" if b_dear else "a"
        if (b_dear or a_dear) and held[seller] > 0:
            buyer = "a" if seller == "b" else "b"
            assert [(s.side, s.tag, s.type, s.exit) for s in got] == [
                ("buy", f"arb-buy-{buyer}", "market", False),
                ("sell", f"arb-sell-{seller}", "market", True),
            ], iso(ts)
            assert got[0].amount == got[1].amount == min(Decimal("0.001"), held[seller])
            held[seller] -= got[1].amount
            held[buyer] += got[0].amount
        else:
            blocked += bool(b_dear or a_dear)
            assert got == [], iso(ts)
    assert blocked > 0  # the spot rule did hold some trades back


def test_b_dear_buys_on_a_and_sells_on_b():
    buy, sell = arbitrage.decide(ctx("50000", "50300")).intents
    assert (buy.leg, buy.tag, buy.side, buy.exit) == ("primary", "arb-buy-a", "buy", False)
    assert (sell.leg, sell.tag, sell.side, sell.exit) == ("secondary", "arb-sell-b", "sell", True)


def test_a_dear_buys_on_b_and_sells_on_a():
    buy, sell = arbitrage.decide(ctx("50300", "50000")).intents
    assert (buy.leg, buy.tag) == ("secondary", "arb-buy-b")
    assert (sell.leg, sell.tag) == ("primary", "arb-sell-a")


def test_a_spread_within_the_hurdle_does_nothing():
    # 50000 x 1.005 = 50250: the bid must be above it.
    assert arbitrage.decide(ctx("50000", "50250")).intents == ()
    assert arbitrage.decide(ctx("50000", "50250.01")).intents


def test_it_sells_only_what_the_selling_account_holds():
    buy, sell = arbitrage.decide(ctx("50000", "50300", held_b="0.0004")).intents
    assert buy.amount == sell.amount == Decimal("0.0004")
    assert arbitrage.decide(ctx("50000", "50300", held_b="0")).intents == ()


def test_it_waits_while_an_order_is_working():
    assert arbitrage.decide(ctx("50000", "50300", open_orders=(open_order("buy", "arb-buy-a"),))).intents == ()


def test_it_needs_the_second_account_and_prices():
    lone = Context(now_ms=0, symbol="BTC/USDT", params=PARAMS, bars=load_bars().tail(0), quote=Quote(*[Decimal(1)] * 3))
    assert arbitrage.decide(lone).intents == ()
    assert arbitrage.decide(ctx("0", "50300")).intents == ()
