"""rsi_bb_atr on the bundled BTC/USDT 5m candles (2021-04-15..05-24) with its default params."""

import json
from collections import Counter
from decimal import Decimal

import pytest

from strategies.builtin import rsi_bb_atr
from strategies.registry import validate_params
from tests.strategies import reference
from tests.strategies.helpers import EPS, context, index_of, listing, open_order, run
from tests.strategies.replay import load_bars

PARAMS = validate_params("rsi_bb_atr", {})
SIZE = rsi_bb_atr.warmup(PARAMS)


@pytest.fixture(scope="module")
def result():
    return run("rsi_bb_atr")


@pytest.fixture(scope="module")
def bands():
    b = load_bars()
    _, _, lower = reference.bollinger(b.close, 20, 2.0)
    return {"lower": lower, "volume": reference.volume_ratio(b.volume, 20)}


def window_rsi(i: int) -> float:
    """RSI of bar i computed over the same window the strategy sees (its seed matters)."""
    b = load_bars()
    return float(reference.rsi(b.close[i + 1 - SIZE : i + 1], 14)[-1])


def window_atr(i: int) -> float:
    b = load_bars()
    lo = i + 1 - SIZE
    return float(reference.atr(b.high[lo : i + 1], b.low[lo : i + 1], b.close[lo : i + 1], 14)[-1])


def test_it_signals_the_pinned_trades(result):
    signals = listing(result)
    # The 841-candle warm-up ends on 2021-04-17 22:00: the first signals follow it.
    assert len(signals) == 208
    assert Counter(s.tag for s in result.signals) == {"entry": 104, "stop": 68, "take-profit": 36}
    assert signals[:4] == [
        "2021-04-18 00:25 buy entry",
        "2021-04-18 01:15 sell stop",
        "2021-04-18 02:15 buy entry",
        "2021-04-18 03:15 sell stop",
    ]
    assert signals[-4:] == [
        "2021-05-23 16:20 buy entry",
        "2021-05-23 17:05 sell take-profit",
        "2021-05-24 04:40 buy entry",
        "2021-05-24 05:00 sell take-profit",
    ]


def test_each_entry_holds_every_rule_and_no_other_flat_bar_holds_them_all(result, bands):
    close = load_bars().close
    entries = {s.ts for s in result.signals if s.tag == "entry"}
    checked = 0
    for step in result.steps:
        i = step.index
        if i < SIZE - 1 or not step.flat or step.open_buy:
            continue
        checked += 1
        quick = [bands["lower"][i] - close[i], bands["volume"][i] - 1.2]
        if step.ts in entries:
            assert min(quick) >= -EPS and window_rsi(i) <= 30 + EPS, step.ts
        elif min(quick) > EPS:
            assert window_rsi(i) > 30 - EPS, step.ts
    assert checked > 5000


def test_each_exit_is_the_first_touch_of_the_atr_levels_around_the_fill(result):
    """Recompute every trade: fill at the next open, stop = fill - 2 ATR, take-profit = fill +
    3 ATR with the entry bar's ATR, then walk the bars (close, low, high) to the first touch."""
    b = load_bars()
    signals = result.signals
    for entry, exit_ in zip(signals[::2], signals[1::2], strict=True):
        t = index_of(b, entry.ts)
        fill = b.open[t + 1]
        atr = window_atr(t)
        stop, take_profit = fill - 2 * atr, fill + 3 * atr
        expected = None
        for j in range(t + 1, len(b)):
            if b.close[j] <= stop or b.low[j] <= stop:
                expected = (b.ts[j], "stop")
                break
            if b.close[j] >= take_profit or b.high[j] >= take_profit:
                expected = (b.ts[j], "take-profit")
                break
        assert expected == (exit_.ts, exit_.tag), entry.ts
        assert exit_.exit and exit_.side == "sell"


def test_the_entry_remembers_the_levels_and_re_anchors_them_on_the_fill(result):
    b = load_bars()
    t = index_of(b, result.signals[0].ts)
    decision = rsi_bb_atr.decide(context("rsi_bb_atr", t))
    state = json.loads(json.dumps(decision.state))
    atr = Decimal(state["atr"])
    last = Decimal(str(float(b.close[t])))
    assert Decimal(state["stop"]) == last - 2 * atr and Decimal(state["take_profit"]) == last + 3 * atr
    assert state["anchored"] is False

    fill = Decimal(str(float(b.open[t + 1])))
    held = rsi_bb_atr.decide(context("rsi_bb_atr", t + 1, quantity=Decimal("0.001"), average=fill, state=state))
    assert held.intents == ()
    assert Decimal(held.state["stop"]) == fill - 2 * atr and held.state["anchored"] is True
    again = rsi_bb_atr.decide(context("rsi_bb_atr", t + 1, quantity=Decimal("0.001"), average=fill, state=held.state))
    assert again.state is None  # nothing new to remember


def test_the_last_price_alone_triggers_the_stop():
    state = {"last_entry_bar": 0, "atr": "100", "stop": "50000", "take_profit": "70000", "anchored": True}
    ctx = context(
        "rsi_bb_atr", 3000, quantity=Decimal("0.002"), average=Decimal("60000"), state=state, last=Decimal("49999")
    )
    (intent,) = rsi_bb_atr.decide(ctx).intents
    assert (intent.tag, intent.exit, intent.amount) == ("stop", True, Decimal("0.002"))


def test_it_does_not_sell_twice_while_an_exit_is_working():
    state = {"last_entry_bar": 0, "atr": "100", "stop": "50000", "take_profit": "70000", "anchored": True}
    ctx = context(
        "rsi_bb_atr",
        3000,
        quantity=Decimal("0.002"),
        average=Decimal("60000"),
        state=state,
        last=Decimal("49999"),
        open_orders=(open_order("sell", "stop"),),
    )
    assert rsi_bb_atr.decide(ctx).intents == ()


def test_a_position_without_levels_gets_them_from_its_average_entry():
    average = Decimal(str(float(load_bars().close[3000])))
    ctx = context("rsi_bb_atr", 3000, quantity=Decimal("0.002"), average=average)
    decision = rsi_bb_atr.decide(ctx)
    assert decision.intents == ()
    atr = Decimal(decision.state["atr"])
    assert atr > 0 and Decimal(decision.state["stop"]) == average - 2 * atr


def test_it_does_not_enter_twice_while_an_entry_order_is_open(result):
    t = index_of(load_bars(), result.signals[0].ts)
    assert rsi_bb_atr.decide(context("rsi_bb_atr", t)).intents
    assert rsi_bb_atr.decide(context("rsi_bb_atr", t, open_orders=(open_order("buy", "entry"),))).intents == ()


def test_it_does_not_enter_twice_on_the_same_bar(result):
    t = index_of(load_bars(), result.signals[0].ts)
    first = rsi_bb_atr.decide(context("rsi_bb_atr", t))
    assert rsi_bb_atr.decide(context("rsi_bb_atr", t, state=json.loads(json.dumps(first.state)))).intents == ()


def test_flat_it_forgets_the_levels_of_a_finished_trade():
    state = {"last_entry_bar": 5, "atr": "100", "stop": "50000", "take_profit": "70000", "anchored": True}
    decision = rsi_bb_atr.decide(context("rsi_bb_atr", 3000, state=state))
    assert decision.state == {"last_entry_bar": 5}


def test_it_waits_for_a_full_window():
    decision = rsi_bb_atr.decide(context("rsi_bb_atr", 20, size=21))
    assert decision.intents == () and "warming up" in decision.note


def test_levels_stay_put_while_the_fill_price_is_unknown():
    state = {"last_entry_bar": 0, "atr": "100", "stop": "40000", "take_profit": "70000", "anchored": False}
    ctx = context("rsi_bb_atr", 3000, quantity=Decimal("0.002"), state=state, last=Decimal("55000"))
    decision = rsi_bb_atr.decide(ctx)
    assert decision.intents == () and decision.state is None
