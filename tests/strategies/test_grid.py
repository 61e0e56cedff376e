"""grid on the bundled BTC/USDT 5m candles from 2021-04-26 to 2021-05-10 (bars 3168..7487, a
range between about 52,300 and 59,500), with levels from 52,000 to 60,000; and its rules on
hand-made contexts."""

import json
from collections import Counter
from decimal import Decimal

import pytest

from strategies.builtin import grid
from tests.strategies.helpers import context, listing, open_order, run
from tests.strategies.replay import load_bars

SLICE = {"start": 3168, "end": 7488, "size": 2}
LINEAR = {"lower_price": "52000", "upper_price": "60000", "levels": 17}
FIBONACCI = {"lower_price": "52000", "upper_price": "60000", "levels": 9, "spacing": "fibonacci"}


@pytest.fixture(scope="module")
def linear():
    return run("grid", LINEAR, **SLICE)


@pytest.fixture(scope="module")
def fibonacci():
    return run("grid", FIBONACCI, **SLICE)


def parse(tag: str) -> tuple[int, str]:
    _, level, side = tag.split("-")
    return int(level), side


def check_grid_rules(result, levels: list[Decimal]) -> int:
    """Walk fills and placements in time order: every order sits on a level price, no level holds
    two orders, every sell re-arms a filled buy one level lower (the bot starts with no base),
    and every buy re-arms a filled sell one level higher or opens an idle pair below the price.
    Returns the number of completed buy-then-sell round trips."""
    bars = load_bars()
    close = {int(t): c for t, c in zip(bars.ts, bars.close, strict=True)}
    events = [(f.ts, 0, f) for f in result.fills] + [(s.ts, 1, s) for s in result.signals]
    occupied: dict[int, str] = {}
    to_sell, to_buy = Counter(), Counter()  # per pair: filled buys awaiting a sell, and the reverse
    round_trips = 0
    for ts, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
        level, side = parse(item.tag)
        if kind == 0:
            assert occupied.pop(level) == side
            if side == "buy":
                to_sell[level] += 1
            else:
                to_buy[level - 1] += 1
                round_trips += 1
            continue
        assert level not in occupied, f"two orders on level {level} at {ts}"
        occupied[level] = side
        assert item.type == "limit" and item.price == levels[level] and not item.exit
        if side == "sell":
            assert to_sell[level - 1] > 0, f"sell at level {level} without a filled buy below"
            to_sell[level - 1] -= 1
        elif to_buy[level] > 0:
            to_buy[level] -= 1
        else:
            assert levels[level] < Decimal(str(close[ts])), f"fresh buy at level {level} above the price"
    return round_trips


def linear_state(statuses: dict[int, str]) -> dict:
    """The state of the LINEAR grid with the given pair statuses (the others idle)."""
    levels = grid.grid_levels(Decimal(52000), Decimal(60000), 17, "linear")
    return {
        "key": "52000|60000|17|linear",
        "levels": [str(v) for v in levels],
        "pairs": [statuses.get(j, "idle") for j in range(16)],
    }


def test_linear_levels_are_evenly_spaced():
    levels = grid.grid_levels(Decimal(52000), Decimal(60000), 17, "linear")
    assert levels == [Decimal(52000 + 500 * i) for i in range(17)]


def test_fibonacci_levels_are_the_retracement_ratios_with_seven_levels():
    levels = grid.grid_levels(Decimal(0), Decimal(1000), 7, "fibonacci")
    assert levels == [Decimal(v) for v in ("0", "236", "382", "500", "618", "786", "1000")]


def test_fibonacci_levels_with_other_counts_follow_the_same_curve():
    levels = grid.grid_levels(Decimal(52000), Decimal(60000), 9, "fibonacci")
    # x = 1/8 lies three quarters of the way from 0 to 1/6, so its ratio is 0.75 x 0.236.
    assert levels[1] == Decimal(52000) + Decimal(8000) * Decimal("0.177")
    assert levels[4] == Decimal(56000) and levels[0] == Decimal(52000) and levels[-1] == Decimal(60000)
    assert levels == sorted(levels) and len(set(levels)) == 9


def test_the_linear_grid_trades_the_range(linear):
    signals = listing(linear)
    assert len(signals) == 289
    assert Counter(s.side for s in linear.fills) == {"buy": 141, "sell": 133}
    assert signals[:4] == [
        "2021-04-26 07:10 buy grid-0-buy",
        "2021-04-26 07:10 buy grid-1-buy",
        "2021-04-26 07:15 sell grid-2-sell",
        "2021-04-26 09:45 buy grid-1-buy",
    ]
    assert signals[-4:] == [
        "2021-05-11 03:30 buy grid-5-buy",
        "2021-05-11 04:15 buy grid-6-buy",
        "2021-05-11 05:25 sell grid-7-sell",
        "2021-05-11 06:40 buy grid-6-buy",
    ]
    assert linear.book.quantity == Decimal("0.008")


def test_the_fibonacci_grid_trades_the_range(fibonacci):
    signals = listing(fibonacci)
    assert len(signals) == 91
    assert Counter(s.side for s in fibonacci.fills) == {"buy": 44, "sell": 39}
    assert signals[:4] == [
        "2021-04-26 07:10 buy grid-0-buy",
        "2021-04-26 09:50 buy grid-1-buy",
        "2021-04-26 09:55 sell grid-2-sell",
        "2021-04-27 06:05 buy grid-1-buy",
    ]


@pytest.mark.parametrize("name", ["linear", "fibonacci"])
def test_every_order_follows_the_grid_rules(name, request):
    result = request.getfixturevalue(name)
    params = LINEAR if name == "linear" else FIBONACCI
    levels = grid.grid_levels(
        Decimal(params["lower_price"]),
        Decimal(params["upper_price"]),
        params["levels"],
        params.get("spacing", "linear"),
    )
    assert [Decimal(v) for v in result.state["levels"]] == levels
    assert check_grid_rules(result, levels) > 30


def test_a_fresh_bot_starts_with_buys_below_the_price_only():
    ctx = context("grid", 3168, LINEAR, last=Decimal("56100"))
    decision = grid.decide(ctx)
    assert [i.tag for i in decision.intents] == [f"grid-{i}-buy" for i in range(9)]
    assert decision.state["pairs"][:9] == ["buy"] * 9 and set(decision.state["pairs"][9:]) == {"idle"}


def test_base_already_held_is_offered_at_the_nearest_levels_above():
    ctx = context("grid", 3168, LINEAR, last=Decimal("56100"), quantity=Decimal("0.0025"))
    sells = [i for i in grid.decide(ctx).intents if i.side == "sell"]
    # Pair 9 (56500/57000) is idle above the price: its sell goes to 57000, then 57500.
    assert [(i.tag, i.price) for i in sells] == [("grid-10-sell", Decimal(57000)), ("grid-11-sell", Decimal(57500))]


def test_zero_bounds_span_ten_percent_around_the_price():
    decision = grid.decide(context("grid", 3168, {"levels": 3}, last=Decimal("50000")))
    assert decision.state["levels"] == ["45000.00000000", "50000.00000000", "55000.00000000"]
    assert [i.tag for i in decision.intents] == ["grid-0-buy"]


def test_a_filled_buy_re_arms_a_sell_one_level_up():
    start = grid.decide(context("grid", 3168, LINEAR, last=Decimal("56100")))
    state = json.loads(json.dumps(start.state))
    still_open = tuple(open_order("buy", i.tag, price=str(i.price)) for i in start.intents if i.tag != "grid-8-buy")
    after = grid.decide(
        context(
            "grid", 3169, LINEAR, last=Decimal("55900"), quantity=Decimal("0.001"), state=state, open_orders=still_open
        )
    )
    (intent,) = after.intents
    assert (intent.side, intent.tag, intent.price, intent.type) == ("sell", "grid-9-sell", Decimal(56500), "limit")
    assert after.state["pairs"][8] == "sell"


def test_a_filled_sell_re_arms_a_buy_one_level_down():
    state = linear_state({8: "sell"})
    busy = tuple(open_order("buy", f"grid-{i}-buy", price="52000") for i in range(8))
    after = grid.decide(context("grid", 3169, LINEAR, last=Decimal("56400"), state=state, open_orders=busy))
    assert [(i.side, i.tag, i.price) for i in after.intents] == [("buy", "grid-8-buy", Decimal(56000))]


def test_a_level_with_an_open_order_is_not_doubled():
    state = linear_state({8: "want-sell"})
    blocking = (open_order("buy", "grid-9-buy", price="56500"),)
    after = grid.decide(
        context(
            "grid", 3169, LINEAR, last=Decimal("56600"), quantity=Decimal("0.001"), state=state, open_orders=blocking
        )
    )
    assert "grid-9-sell" not in [i.tag for i in after.intents]
    assert after.state["pairs"][8] == "want-sell"  # asked for again at the next decision


def test_a_sell_waits_for_base_to_cover_it():
    state = linear_state({8: "want-sell"})
    after = grid.decide(context("grid", 3169, LINEAR, last=Decimal("56600"), state=state))
    assert "grid-9-sell" not in [i.tag for i in after.intents]


def test_changed_bounds_cancel_the_old_grid_and_start_again():
    start = grid.decide(context("grid", 3168, LINEAR, last=Decimal("56100")))
    state = json.loads(json.dumps(start.state))
    working = tuple(open_order("buy", i.tag, price=str(i.price)) for i in start.intents)
    moved = {**LINEAR, "lower_price": "50000"}
    after = grid.decide(context("grid", 3169, moved, last=Decimal("56100"), state=state, open_orders=working))
    assert set(after.cancel) == {o.client_order_id for o in working}
    assert after.state["levels"][0] == "50000.00000000"


def test_inverted_bounds_place_nothing():
    decision = grid.decide(context("grid", 3168, {"lower_price": "60000", "upper_price": "50000"}))
    assert decision.intents == () and decision.state is None and "invalid" in decision.note


def test_an_invalid_change_withdraws_the_old_grid():
    start = grid.decide(context("grid", 3168, LINEAR, last=Decimal("56100")))
    working = tuple(open_order("buy", i.tag, price=str(i.price)) for i in start.intents)
    broken = {**LINEAR, "lower_price": "70000"}
    after = grid.decide(context("grid", 3169, broken, state=dict(start.state), open_orders=working))
    assert after.intents == () and set(after.cancel) == {o.client_order_id for o in working}
