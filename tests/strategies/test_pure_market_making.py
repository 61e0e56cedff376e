"""pure_market_making on the first week of the bundled BTC/USDT 5m candles (2016 bars from
2021-04-15), quoting around each close with a 15-minute refresh; and its rules on hand-made
contexts. Capital is the replay's 1000 USDT."""

from collections import Counter
from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import pytest

from strategies.base import Decision, Quote
from strategies.builtin import pure_market_making as pmm
from tests.strategies.helpers import context, listing, open_order, run
from tests.strategies.replay import load_bars

REFRESH = {"order_refresh_time": 900}
Q = Decimal("0.00000001")


@pytest.fixture(scope="module")
def result():
    return run("pure_market_making", REFRESH, end=2016, keep_decisions=True)


def expected_quotes(mid: Decimal, quantity: Decimal) -> list[tuple[str, Decimal, Decimal]]:
    """(side, price, amount) from the rules: 0.1% either side, sizes skewed toward 50% base."""
    share = quantity * mid / Decimal(1000) * 100
    d = (share - 50) / 50  # both halves of the range are 50 points wide with a 50% target
    d = max(Decimal(-1), min(Decimal(1), d))
    bid_amount = (Decimal("0.001") * (1 - d)).quantize(Q, ROUND_DOWN)
    ask_amount = min(Decimal("0.001") * (1 + d), quantity).quantize(Q, ROUND_DOWN)
    out = []
    if bid_amount > 0:
        out.append(("buy", (mid * Decimal("0.999")).quantize(Q, ROUND_DOWN), bid_amount))
    if ask_amount > 0:
        out.append(("sell", (mid * Decimal("1.001")).quantize(Q, ROUND_UP), ask_amount))
    return out


def test_it_quotes_the_pinned_orders(result):
    signals = listing(result)
    assert len(signals) == 1821
    assert Counter(s.tag for s in result.signals) == {"mm-bid": 911, "mm-ask": 910}
    assert Counter(f.side for f in result.fills) == {"buy": 735, "sell": 711}
    assert signals[:4] == [
        "2021-04-15 00:00 buy mm-bid",
        "2021-04-15 00:05 buy mm-bid",
        "2021-04-15 00:05 sell mm-ask",
        "2021-04-15 00:15 buy mm-bid",
    ]


def test_every_decision_follows_the_refresh_price_and_size_rules(result):
    refreshes = 0
    for step in result.steps:
        decision = result.decisions[step.ts]
        oldest = min((o.created_ms for o in step.open_orders), default=None)
        due = oldest is None or step.ts + 300_000 - oldest >= 900_000
        if not due:
            assert decision.intents == () and decision.cancel == ()
            continue
        refreshes += 1
        assert set(decision.cancel) == {o.client_order_id for o in step.open_orders}
        mid = Decimal(str(float(load_bars().close[step.index])))
        got = [(i.side, i.price, i.amount) for i in decision.intents]
        assert got == expected_quotes(mid, step.quantity), step.ts
        assert all(i.type == "limit" and not i.exit for i in decision.intents)
    assert refreshes > 900


def test_young_orders_are_left_alone():
    ctx = context("pure_market_making", 100, REFRESH)
    young = open_order("buy", "mm-bid", price="1", created_ms=ctx.now_ms - 899_000)
    assert pmm.decide(replace(ctx, open_orders=(young,))) == Decision()


def test_stale_orders_are_cancelled_and_replaced():
    ctx = context("pure_market_making", 100, quantity=Decimal("0.01"))
    stale = open_order("buy", "mm-bid", price="1", created_ms=ctx.now_ms - 30_000)
    decision = pmm.decide(replace(ctx, open_orders=(stale,)))
    assert decision.cancel == (stale.client_order_id,)
    assert [i.tag for i in decision.intents] == ["mm-bid", "mm-ask"]


def test_inventory_at_target_quotes_equal_sizes():
    # 0.01 BTC at 50,000 is 500 of 1000 capital: exactly the 50% target.
    decision = pmm.decide(context("pure_market_making", 100, quantity=Decimal("0.01"), last=Decimal(50000)))
    assert [i.amount for i in decision.intents] == [Decimal("0.001"), Decimal("0.001")]


def test_too_much_base_shrinks_the_bid_and_grows_the_ask():
    # 0.015 BTC at 50,000 is 75%: halfway from the target to all-base, so d = 0.5.
    decision = pmm.decide(context("pure_market_making", 100, quantity=Decimal("0.015"), last=Decimal(50000)))
    assert [(i.side, i.amount) for i in decision.intents] == [("buy", Decimal("0.0005")), ("sell", Decimal("0.0015"))]


def test_without_skew_both_sides_quote_the_order_amount():
    ctx = context(
        "pure_market_making", 100, {"inventory_skew_enabled": False}, quantity=Decimal("0.015"), last=Decimal(50000)
    )
    assert [i.amount for i in pmm.decide(ctx).intents] == [Decimal("0.001"), Decimal("0.001")]


def test_it_never_offers_more_base_than_it_holds():
    plain = {"inventory_skew_enabled": False}
    decision = pmm.decide(context("pure_market_making", 100, plain, quantity=Decimal("0.0004"), last=Decimal(50000)))
    assert [(i.side, i.amount) for i in decision.intents] == [("buy", Decimal("0.001")), ("sell", Decimal("0.0004"))]
    flat = pmm.decide(context("pure_market_making", 100, last=Decimal(50000)))
    assert [(i.side, i.amount) for i in flat.intents] == [("buy", Decimal("0.002"))]


def test_above_the_ceiling_only_the_ask_is_quoted():
    ctx = context("pure_market_making", 100, {"price_ceiling": "49000"}, quantity=Decimal("0.01"), last=Decimal(50000))
    assert [i.side for i in pmm.decide(ctx).intents] == ["sell"]


def test_below_the_floor_only_the_bid_is_quoted():
    ctx = context("pure_market_making", 100, {"price_floor": "51000"}, quantity=Decimal("0.01"), last=Decimal(50000))
    assert [i.side for i in pmm.decide(ctx).intents] == ["buy"]


def test_it_quotes_around_the_book_mid_when_there_is_one():
    ctx = context("pure_market_making", 100, quantity=Decimal("0.01"), last=Decimal(50000))
    bid, ask = pmm.decide(replace(ctx, quote=Quote(Decimal(49990), Decimal(50010), Decimal(49000)))).intents
    assert (bid.price, ask.price) == (Decimal("49950"), Decimal("50050"))
