"""signal_follower on constructed contexts: the blends worked by hand, the threshold, expiry,
sources, once-per-signal entries and exits, shorts, sizing and the stop/target levels."""

from dataclasses import replace
from decimal import Decimal as D  # noqa: N817

import pytest

from core.errors import ApplicationError
from strategies.base import Bars, Context, PositionView, Quote, SignalView
from strategies.builtin.signal_follower import blend, decide
from strategies.registry import validate_params

NOW = 1_700_000_000_000
HOUR = 3_600_000


def sig(signal_id, side="buy", confidence="0.8", *, weight="1", source=1, kind="directional", age=0, tf="1h", life=3):
    return SignalView(
        signal_id=signal_id,
        source_id=source,
        source_weight=D(weight),
        side=side,
        confidence=D(confidence),
        kind=kind,
        created_ms=NOW - age,
        valid_until_ms=NOW - age + life * HOUR,
        price=None,
        timeframe=tf,
    )


def ctx(*signals, params=None, quantity="0", state=None, last="50000", capital="1000"):
    price = D(last)
    return Context(
        now_ms=NOW,
        symbol="BTC/USDT",
        params=validate_params("signal_follower", params or {}),
        bars=Bars.empty(),
        quote=Quote(price, price, price),
        position=PositionView(D(quantity), D("50000") if D(quantity) else D(0)),
        state=state or {},
        capital=D(capital),
        market_signals=signals,
    )


def test_weighted_blend_is_the_weighted_mean_of_side_times_confidence():
    side, strength, behind = blend(
        [sig(3, "buy", "0.9", weight="2"), sig(2, "sell", "0.6"), sig(1, "buy", "0.5")], "weighted"
    )
    # (2 * 0.9 - 1 * 0.6 + 1 * 0.5) / (2 + 1 + 1) = 1.7 / 4
    assert (side, strength, [s.signal_id for s in behind]) == ("buy", D("0.425"), [3, 1])
    side, strength, _ = blend([sig(2, "sell", "0.8", weight="3"), sig(1, "buy", "0.6")], "weighted")
    assert (side, strength) == ("sell", D("0.45"))  # (-2.4 + 0.6) / 4
    assert blend([sig(1, "buy", "0.8", weight="0")], "weighted")[0] == "neutral"


def test_latest_blend_takes_the_newest_signal():
    side, strength, behind = blend([sig(5, "sell", "0.7"), sig(4, "buy", "0.99")], "latest")
    assert (side, strength, behind[0].signal_id) == ("sell", D("0.7"), 5)


def test_a_buy_above_the_threshold_enters_for_order_quote_tagged_with_the_signal():
    decision = decide(ctx(sig(42, "buy", "0.75")))
    (intent,) = decision.intents
    assert (intent.side, intent.amount, intent.tag, intent.exit) == ("buy", D("0.002"), "sig-42", False)
    assert decision.state["entered"] == [42]
    # The same signal again (after its fill the bot may be flat again) enters nothing.
    again = decide(ctx(sig(42, "buy", "0.75"), state=decision.state))
    assert again.intents == () and "already entered on signal 42" in again.note


def test_a_weighted_blend_below_the_threshold_does_nothing_and_says_so():
    decision = decide(ctx(sig(3, "buy", "0.9", weight="2"), sig(2, "sell", "0.6"), params={"blend": "weighted"}))
    # (1.8 - 0.6) / 3 = 0.4 < 0.6
    assert decision.intents == () and decision.note == "buy signal at 0.4000, below 0.6"
    low = decide(ctx(sig(1, "buy", "0.59")))
    assert low.intents == () and "below 0.6" in low.note


def test_expired_old_and_unfollowed_signals_are_ignored_with_the_reason():
    expired = decide(ctx(sig(1, age=4 * HOUR)))
    assert expired.intents == () and expired.note == "signal 1 expired"
    old = decide(ctx(sig(2, age=2 * HOUR), params={"max_signal_age_bars": 1}))
    assert old.intents == () and old.note == "signal 2 is 2 bars old"
    other = decide(ctx(sig(3, source=9), params={"sources": "1, 2"}))
    assert other.intents == () and "not followed" in other.note
    followed = decide(ctx(sig(3, source=2), params={"sources": "1, 2"}))
    assert followed.intents[0].tag == "sig-3"
    tf = decide(ctx(sig(4, tf="5m"), params={"timeframe": "1h"}))
    assert tf.intents == () and tf.note == "signal 4 is on 5m, not 1h"
    mm = decide(ctx(sig(5, kind="market_making")))
    assert mm.intents == () and mm.note == "signal 5 is a market_making signal"


def test_long_and_a_sell_signal_exits_once_then_a_short_only_when_allowed():
    decision = decide(ctx(sig(7, "sell", "0.8"), sig(6, "buy"), quantity="0.002", state={"entered": [6]}))
    (intent,) = decision.intents
    assert (intent.side, intent.amount, intent.exit, intent.tag) == ("sell", D("0.002"), True, "sig-7-x")
    assert decision.state == {"entered": [6], "exited": [7]}
    # Flat afterwards: a long-only bot stays out; with allow_short the same signal opens a short.
    flat = decide(ctx(sig(7, "sell", "0.8"), state=decision.state))
    assert flat.intents == () and flat.note == "sell signal; short entries are off"
    short = decide(ctx(sig(7, "sell", "0.8"), state=decision.state, params={"allow_short": True}))
    assert (short.intents[0].side, short.intents[0].exit, short.intents[0].tag) == ("sell", False, "sig-7")
    # Exits on opposite signals can be turned off.
    kept = decide(ctx(sig(7, "sell", "0.8"), quantity="0.002", params={"exit_on_opposite": False}))
    assert kept.intents == ()


def test_a_short_is_bought_back_on_a_buy_signal():
    decision = decide(ctx(sig(8, "buy", "0.9"), quantity="-0.5"))
    (intent,) = decision.intents
    assert (intent.side, intent.amount, intent.exit) == ("buy", D("0.5"), True)


def test_capital_pct_sizes_and_the_levels_ride_on_the_entry():
    decision = decide(
        ctx(sig(1), params={"capital_pct": "10", "stop_loss_pct": "2", "take_profit_pct": "5"}, capital="2000")
    )
    (intent,) = decision.intents
    # 10% of 2000 = 200 USDT at 50000 = 0.004; stop 50000 * 0.98, target 50000 * 1.05
    assert (intent.amount, intent.stop_loss, intent.take_profit) == (D("0.004"), D("49000"), D("52500"))
    assert decision.state["levels"] == {"sl": "49000.00000000", "tp": "52500.00000000"}
    short = decide(ctx(sig(2, "sell"), params={"allow_short": True, "stop_loss_pct": "2"}))
    assert short.intents[0].stop_loss == D("51000")


def test_the_strategy_closes_a_spot_position_at_its_remembered_stop():
    state = {"entered": [1], "levels": {"sl": "49000", "tp": "52500"}}
    hit = decide(ctx(quantity="0.004", state=state, last="48900"))
    (intent,) = hit.intents
    assert (intent.side, intent.amount, intent.exit, intent.tag) == ("sell", D("0.004"), True, "sig-sl")
    target = decide(ctx(quantity="0.004", state=state, last="52600"))
    assert target.intents[0].tag == "sig-tp"
    between = decide(ctx(quantity="0.004", state=state, last="50000"))
    assert between.intents == () and between.state["levels"] == state["levels"]


def test_no_signals_no_orders():
    decision = decide(ctx())
    assert decision.intents == () and decision.note == "no signal to follow"


def test_the_sources_parameter_must_be_ids():
    assert validate_params("signal_follower", {"sources": "3,7"})["sources"] == "3,7"
    with pytest.raises(ApplicationError) as bad:
        validate_params("signal_follower", {"sources": "three"})
    assert bad.value.field == "params.sources"


def test_a_working_order_on_the_side_blocks_the_entry():
    from tests.strategies.helpers import open_order

    decision = decide(replace(ctx(sig(1)), open_orders=(open_order("buy", "sig-0"),)))
    assert decision.intents == () and "working" in decision.note
