"""momentum_reentry on the bundled BTC/USDT 5m candles (2021-04-15..05-24), with its default params
and with a 3% re-entry pullback (wider than the 2% trailing stop, so the pullback rule matters)."""

import json
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest

from strategies.builtin import momentum_reentry
from strategies.registry import validate_params
from tests.strategies import reference
from tests.strategies.helpers import context, index_of, listing, open_order, run
from tests.strategies.replay import load_bars

WIDE_PULLBACK = {"reentry_pullback_pct": "3"}


@pytest.fixture(scope="module")
def result():
    return run("momentum_reentry")


@pytest.fixture(scope="module")
def wide():
    return run("momentum_reentry", WIDE_PULLBACK)


def simulate(overrides: dict) -> list[tuple[int, str, str]]:
    """The rules of the module docstring, written again with floats over the whole series. Orders
    fill at the next bar's open, as in the replay."""
    p = validate_params("momentum_reentry", overrides)
    n, spike, trail = p["breakout_period"], float(p["volume_spike"]), float(p["trailing_stop_pct"]) / 100
    pull, most = float(p["reentry_pullback_pct"]) / 100, p["max_reentries"]
    b = load_bars()
    ratio = reference.volume_ratio(b.volume, p["volume_period"])
    out: list[tuple[int, str, str]] = []
    holding, pending, peak, trend = False, None, 0.0, None
    for i in range(len(b)):
        if pending:
            holding, pending = pending == "buy", None
        ts = int(b.ts[i])
        if holding:
            trigger = None
            if b.low[i] <= peak * (1 - trail):
                trigger = peak * (1 - trail)
            peak = max(peak, b.high[i], b.close[i])
            if trigger is None and b.close[i] <= peak * (1 - trail):
                trigger = b.close[i]
            if trigger is not None:
                out.append((ts, "sell", "trailing-stop"))
                pending = "sell"
                trend["high"] = max(trend["high"], peak)
                trend["stopped"] = i
                trend["pulled"] = trigger <= trend["high"] * (1 - pull)
            continue
        if i < momentum_reentry.warmup(p) - 1:
            continue
        if trend and trend["stopped"] is not None:
            if b.close[i] < trend["base"]:
                trend = None
            elif b.low[i] <= trend["high"] * (1 - pull):
                trend["pulled"] = True
        level = float(np.max(b.high[i - n : i]))
        if b.close[i] > level and ratio[i] >= spike:
            out.append((ts, "buy", "entry"))
            trend = {"base": level, "high": b.close[i], "count": 0, "stopped": None, "pulled": False}
        elif (
            trend
            and trend["stopped"] is not None
            and trend["pulled"]
            and trend["count"] < most
            and b.close[i] > b.high[i - 1]
        ):
            out.append((ts, "buy", "reentry"))
            trend.update(count=trend["count"] + 1, stopped=None, pulled=False)
        else:
            continue
        pending, peak = "buy", float(b.close[i])
    return out


def test_it_signals_the_pinned_trades(result):
    signals = listing(result)
    assert len(signals) == 146
    assert Counter(s.tag for s in result.signals) == {"trailing-stop": 73, "entry": 45, "reentry": 28}
    assert signals[:4] == [
        "2021-04-15 19:20 buy entry",
        "2021-04-16 04:30 sell trailing-stop",
        "2021-04-18 14:25 buy entry",
        "2021-04-19 10:10 sell trailing-stop",
    ]
    assert signals[-4:] == [
        "2021-05-24 21:00 buy reentry",
        "2021-05-24 21:40 sell trailing-stop",
        "2021-05-24 22:05 buy reentry",
        "2021-05-24 22:40 sell trailing-stop",
    ]


def test_a_wider_pullback_re_enters_less(wide):
    assert Counter(s.tag for s in wide.signals) == {"trailing-stop": 62, "entry": 51, "reentry": 11}


@pytest.mark.parametrize("overrides", [{}, WIDE_PULLBACK], ids=["default", "wide-pullback"])
def test_every_signal_matches_an_independent_simulation_of_the_rules(overrides, result, wide):
    replayed = result if not overrides else wide
    assert [(s.ts, s.side, s.tag) for s in replayed.signals] == simulate(overrides)


def test_each_breakout_entry_beats_the_prior_highs_on_a_volume_spike(result):
    b = load_bars()
    ratio = reference.volume_ratio(b.volume, 20)
    for s in result.signals:
        if s.tag == "entry":
            i = index_of(b, s.ts)
            assert b.close[i] > b.high[i - 20 : i].max() and ratio[i] >= 2


def test_re_entries_per_trend_stay_within_the_limit(result):
    count = 0
    for s in result.signals:
        if s.tag == "entry":
            count = 0
        elif s.tag == "reentry":
            count += 1
            assert count <= 2


def test_no_re_entry_when_the_limit_is_zero():
    tags = Counter(s.tag for s in run("momentum_reentry", {"max_reentries": 0}).signals)
    assert tags["reentry"] == 0 and tags["entry"] > 0


def test_the_stop_trails_the_highest_price_since_entry():
    # The peak already counts bar 3000, so only the last price can move it.
    state = {"last_entry_bar": 0, "peak": "60000", "peak_bar": int(load_bars().ts[3000])}
    keep = momentum_reentry.decide(
        context("momentum_reentry", 3000, quantity=Decimal("0.001"), state=state, last=Decimal("58801"))
    )
    assert keep.intents == ()
    stop = momentum_reentry.decide(
        context("momentum_reentry", 3000, quantity=Decimal("0.001"), state=state, last=Decimal("58800"))
    )
    (intent,) = stop.intents
    assert (intent.tag, intent.exit, intent.side, intent.amount) == ("trailing-stop", True, "sell", Decimal("0.001"))


def test_the_peak_moves_up_with_the_price():
    # The peak already counts bar 3000, so only the last price can move it.
    state = {"last_entry_bar": 0, "peak": "60000", "peak_bar": int(load_bars().ts[3000])}
    decision = momentum_reentry.decide(
        context("momentum_reentry", 3000, quantity=Decimal("0.001"), state=state, last=Decimal("61000"))
    )
    assert decision.intents == () and decision.state["peak"] == "61000"


def test_it_does_not_enter_twice_while_an_entry_order_is_open(result):
    t = index_of(load_bars(), result.signals[0].ts)
    assert momentum_reentry.decide(context("momentum_reentry", t)).intents
    busy = context("momentum_reentry", t, open_orders=(open_order("buy", "entry"),))
    assert momentum_reentry.decide(busy).intents == ()


def test_the_state_survives_json_between_entry_and_stop(result):
    b = load_bars()
    t = index_of(b, result.signals[0].ts)
    entry = momentum_reentry.decide(context("momentum_reentry", t))
    state = json.loads(json.dumps(entry.state))
    assert state["trend"]["reentries"] == 0 and state["peak"] == str(entry.state["peak"])
    held = momentum_reentry.decide(context("momentum_reentry", t + 1, quantity=Decimal("0.001"), state=state))
    assert held.intents == () and Decimal(held.state["peak"]) >= Decimal(state["peak"])


def test_it_waits_for_a_full_window():
    decision = momentum_reentry.decide(context("momentum_reentry", 5, size=6))
    assert decision.intents == () and "warming up" in decision.note
