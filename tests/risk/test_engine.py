"""The pure pre-trade risk check: one example per rule, then property tests against a model of the
rules written here on exact fractions."""

import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from risk.engine import (
    CODES,
    LIMIT_FIELDS,
    Exposure,
    Limits,
    Proposal,
    Verdict,
    check,
    check_batch,
    exposure_after,
    merge_limits,
    protective_exit,
)
from risk.models import RiskLimits

D = Decimal
NOW = 1_700_000_000_000
MINUTE = 60_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def state(**changes) -> Exposure:
    return replace(Exposure(now_ms=NOW, last_price=D(100)), **changes)


def buy(amount, price=None, symbol="BTC/USDT") -> Proposal:
    return Proposal(
        symbol, "buy", "limit" if price is not None else "market", D(amount), None if price is None else D(price)
    )


def sell(amount, price=None, symbol="BTC/USDT") -> Proposal:
    return Proposal(
        symbol, "sell", "limit" if price is not None else "market", D(amount), None if price is None else D(price)
    )


def rejected(verdict: Verdict, code: str) -> bool:
    return not verdict.approved and verdict.code == code


# --- examples, one rule at a time -------------------------------------------------------------


@pytest.mark.parametrize(
    "proposal",
    [
        Proposal("BTC/USDT", "hold", "market", D(1)),
        Proposal("BTC/USDT", "BUY", "market", D(1)),
        Proposal("BTC/USDT", "buy", "stop", D(1)),
        Proposal("BTC/USDT", "buy", "market", D(0)),
        Proposal("BTC/USDT", "buy", "market", D(-1)),
        Proposal("BTC/USDT", "buy", "market", D("NaN")),
        Proposal("BTC/USDT", "buy", "market", D("Infinity")),
        Proposal("BTC/USDT", "buy", "market", 1.5),
        Proposal("BTC/USDT", "buy", "limit", D(1)),
        Proposal("BTC/USDT", "buy", "limit", D(1), D(0)),
        Proposal("BTC/USDT", "buy", "limit", D(1), D("sNaN")),
        Proposal("BTC/USDT", "buy", "market", D(1), D("-Infinity")),
        Proposal("", "buy", "market", D(1)),
    ],
)
def test_it_rejects_an_invalid_proposal(proposal):
    verdict = check(proposal, Limits(), state())
    assert rejected(verdict, "invalid") and verdict.reason


def test_it_rejects_when_the_exposure_or_limits_hold_nonsense():
    assert rejected(check(buy(1), Limits(), state(last_price=D("NaN"))), "invalid_state")
    assert rejected(check(buy(1), Limits(max_order_notional=D("Infinity")), state()), "invalid_state")
    assert rejected(check(buy(1), Limits(max_order_notional=1000.0), state()), "invalid_state")
    assert rejected(check(buy(1), Limits(), state(open_orders=-1)), "invalid_state")
    huge = check(buy(1), Limits(), state(daily_trades=D("1E+999999"), open_buy_qty=-(D(10) ** 5000)))
    assert rejected(huge, "invalid_state") and len(huge.reason) < 120


def test_a_missing_kill_switch_flag_reads_as_engaged():
    assert rejected(check(buy(1), Limits(), state(kill_switch=None)), "kill_switch")
    assert rejected(check(buy(1), Limits(), state(degraded=None)), "degraded")


def test_negative_working_sells_cannot_pass_a_flip_off_as_an_exit():
    # Long 1 with "-5 working": trusting it would call a 6-lot sell (short 5) an exit.
    verdict = check(sell(6), Limits(max_position_notional=D(100)), state(position_qty=D(1), open_sell_qty=D(-5)))
    assert rejected(verdict, "invalid_state")


def test_the_kill_switch_rejects_entries_and_exits():
    exposure = state(position_qty=D(2), kill_switch=True)
    assert rejected(check(buy(1), Limits(), exposure), "kill_switch")
    exit_verdict = check(sell(1), Limits(), exposure)
    assert rejected(exit_verdict, "kill_switch") and exit_verdict.reduces


@pytest.mark.parametrize(
    ("proposal", "exposure", "reduces"),
    [
        (sell(1), state(position_qty=D(2)), True),
        (sell(2), state(position_qty=D(2)), True),
        (sell("2.00000001"), state(position_qty=D(2)), False),
        (sell("1.5"), state(position_qty=D(2), open_sell_qty=D(1)), False),
        (sell(1), state(position_qty=D(2), open_sell_qty=D(1)), True),
        (sell(1), state(position_qty=D(0)), False),
        (sell(1), state(position_qty=D(-2)), False),
        (buy(1), state(position_qty=D(-2), open_buy_qty=D(1)), True),
        (buy(2), state(position_qty=D(-2), open_buy_qty=D(1)), False),
        (buy(1), state(position_qty=D(2)), False),
    ],
)
def test_the_engine_decides_itself_whether_an_order_only_reduces(proposal, exposure, reduces):
    assert check(proposal, Limits(), exposure).reduces is reduces


def test_the_price_band_rejects_a_fat_finger_limit_price():
    limits = Limits(price_band_pct=D(5))
    verdict = check(buy(1, 106), limits, state())
    assert rejected(verdict, "price_band")
    assert verdict.reason == "Limit price 106.00 is 6% away from the last price 100.00; the band is 5%."
    assert check(buy(1, 105), limits, state()).approved  # exactly on the edge
    assert check(buy(1, 95), limits, state()).approved
    assert rejected(check(buy(1, "94.99"), limits, state()), "price_band")


def test_the_price_band_applies_to_exits_too():
    verdict = check(sell(1, 50), Limits(price_band_pct=D(10)), state(position_qty=D(1)))
    assert rejected(verdict, "price_band") and verdict.reduces


def test_a_limit_order_without_a_last_price_cannot_be_held_to_the_band():
    assert rejected(check(buy(1, 100), Limits(price_band_pct=D(5)), state(last_price=None)), "no_reference_price")
    assert rejected(check(buy(1, 100), Limits(price_band_pct=D(5)), state(last_price=D(0))), "no_reference_price")


def test_a_market_exit_needs_no_last_price():
    verdict = check(
        sell(1), Limits(price_band_pct=D(5), max_order_notional=D(1)), state(position_qty=D(1), last_price=None)
    )
    assert verdict.approved and verdict.reduces


STRICT = Limits(
    max_order_notional=D(1),
    max_position_notional=D(1),
    max_open_orders=0,
    max_daily_loss=D(1),
    max_daily_trades=0,
    max_drawdown_pct=D(1),
    allowed_symbols=frozenset(),
    loss_cooldown_count=1,
)
BREACHED = state(
    position_qty=D(-3),
    open_orders=9,
    daily_pnl=D(-500),
    daily_trades=99,
    equity=D(50),
    equity_peak=D(100),
    consecutive_losses=5,
    degraded=True,
)


def test_an_exit_passes_every_other_limit():
    verdict = check(buy(3, 100), STRICT, BREACHED)
    assert verdict == Verdict(True, "ok", verdict.reason, True)


def test_the_same_order_one_lot_larger_is_an_entry_and_rejected():
    verdict = check(buy(4, 100), STRICT, BREACHED)
    assert not verdict.approved and not verdict.reduces


def test_a_degraded_account_takes_no_new_exposure():
    assert rejected(check(buy(1), Limits(), state(degraded=True)), "degraded")


def test_only_allowed_symbols_are_entered():
    limits = Limits(allowed_symbols=frozenset({"BTC/USDT", "ETH/USDT"}))
    assert check(buy(1, symbol="ETH/USDT"), limits, state()).approved
    verdict = check(buy(1, symbol="DOGE/USDT"), limits, state())
    assert rejected(verdict, "symbol_not_allowed")
    assert verdict.reason == "DOGE/USDT is not among the allowed symbols (BTC/USDT, ETH/USDT)."
    assert rejected(check(buy(1), Limits(allowed_symbols=frozenset()), state()), "symbol_not_allowed")


def test_order_notional_uses_the_limit_price_or_the_last_price():
    limits = Limits(max_order_notional=D(1000))
    verdict = check(buy("12.5", 100), limits, state())
    assert rejected(verdict, "max_order_notional")
    assert verdict.reason == "Order notional 1,250.00 exceeds the limit 1,000.00."
    assert check(buy(10, 100), limits, state()).approved
    assert rejected(check(buy(10), limits, state(last_price=D("100.01"))), "max_order_notional")
    assert check(buy(10), limits, state(last_price=D(100))).approved


def test_a_market_entry_without_a_last_price_fails_a_notional_limit():
    assert rejected(check(buy(1), Limits(max_order_notional=D(10**9)), state(last_price=None)), "no_reference_price")
    assert rejected(check(buy(1), Limits(max_position_notional=D(10**9)), state(last_price=None)), "no_reference_price")
    assert check(buy(1), Limits(max_open_orders=5), state(last_price=None)).approved


def test_position_notional_counts_the_working_orders_on_the_same_side():
    limits = Limits(max_position_notional=D(1000))
    assert check(buy(4), limits, state(position_qty=D(3), open_buy_qty=D(3))).approved  # 10 x 100
    verdict = check(buy("4.01"), limits, state(position_qty=D(3), open_buy_qty=D(3)))
    assert rejected(verdict, "max_position_notional")
    # Working sells do not offset a buy (they may never fill).
    assert rejected(check(buy(11), limits, state(open_sell_qty=D(5))), "max_position_notional")
    # A short: |-6 - 1 - 4| = 11 lots.
    assert rejected(check(sell(4), limits, state(position_qty=D(-6), open_sell_qty=D(1))), "max_position_notional")


def test_position_notional_marks_at_the_higher_of_limit_and_last_price():
    limits = Limits(max_position_notional=D(1000))
    assert rejected(check(buy(10, 50), limits, state(last_price=D("100.01"))), "max_position_notional")
    assert rejected(check(buy(10, "100.01"), limits, state()), "max_position_notional")
    assert check(buy(10, 50), limits, state()).approved


def test_open_orders_are_capped():
    limits = Limits(max_open_orders=3)
    assert check(buy(1), limits, state(open_orders=2)).approved
    verdict = check(buy(1), limits, state(open_orders=3))
    assert rejected(verdict, "max_open_orders")
    assert verdict.reason == "3 open orders plus this one exceed the limit 3."


def test_the_daily_loss_limit_halts_entries_once_reached():
    limits = Limits(max_daily_loss=D(500))
    assert check(buy(1), limits, state(daily_pnl=D("-499.99"))).approved
    verdict = check(buy(1), limits, state(daily_pnl=D(-500)))
    assert rejected(verdict, "daily_loss")
    assert verdict.reason == "Today's loss 500.00 has reached the daily limit 500.00."
    assert check(buy(1), limits, state(daily_pnl=D(10_000))).approved


def test_daily_trades_are_capped():
    limits = Limits(max_daily_trades=50)
    assert check(buy(1), limits, state(daily_trades=49)).approved
    assert rejected(check(buy(1), limits, state(daily_trades=50)), "max_daily_trades")


def test_the_drawdown_limit_halts_entries_once_reached():
    limits = Limits(max_drawdown_pct=D(10))
    assert check(buy(1), limits, state(equity=D("9000.01"), equity_peak=D(10_000))).approved
    verdict = check(buy(1), limits, state(equity=D(8750), equity_peak=D(10_000)))
    assert rejected(verdict, "max_drawdown")
    assert verdict.reason == "Drawdown 12.5% from the equity peak 10,000.00 has reached the limit 10%."
    assert rejected(check(buy(1), limits, state(equity=D(9000), equity_peak=D(10_000))), "max_drawdown")


@pytest.mark.parametrize(
    "exposure",
    [
        state(equity=None, equity_peak=D(100)),
        state(equity=D(1), equity_peak=None),
        state(equity=D(-5), equity_peak=D(0)),
    ],
)
def test_drawdown_is_skipped_without_both_equities_and_a_positive_peak(exposure):
    assert check(buy(1), Limits(max_drawdown_pct=D(10)), exposure).approved


def test_consecutive_losses_pause_entries_for_the_cooldown():
    limits = Limits(loss_cooldown_count=3, loss_cooldown_minutes=30)
    cooling = state(consecutive_losses=3, last_loss_ms=NOW - 29 * MINUTE)
    verdict = check(buy(1), limits, cooling)
    assert rejected(verdict, "loss_cooldown")
    assert verdict.reason == "3 consecutive losses (limit 3): entries pause 30 minutes after the last loss, 1 more."
    assert check(buy(1), limits, state(consecutive_losses=3, last_loss_ms=NOW - 30 * MINUTE)).approved
    assert check(buy(1), limits, state(consecutive_losses=2, last_loss_ms=NOW)).approved
    assert check(buy(1), limits, state(consecutive_losses=3, last_loss_ms=None)).approved


def test_a_cooldown_count_without_minutes_waits_for_a_win():
    limits = Limits(loss_cooldown_count=3)
    verdict = check(buy(1), limits, state(consecutive_losses=4, last_loss_ms=NOW - 10**9))
    assert rejected(verdict, "loss_cooldown") and "winning trade" in verdict.reason
    assert check(buy(1), limits, state(consecutive_losses=0)).approved


def test_an_order_within_every_limit_is_approved():
    limits = replace(
        STRICT,
        max_order_notional=D(1000),
        max_position_notional=D(5000),
        max_open_orders=5,
        max_daily_loss=D(500),
        max_daily_trades=10,
        max_drawdown_pct=D(20),
        allowed_symbols=frozenset({"BTC/USDT"}),
        loss_cooldown_count=3,
        loss_cooldown_minutes=30,
        price_band_pct=D(2),
    )
    exposure = state(
        position_qty=D(10), open_orders=4, daily_pnl=D(-499), daily_trades=9, equity=D(90), equity_peak=D(100)
    )
    assert check(buy(9, 101), limits, exposure) == Verdict(True, "ok", "The order is within every limit.", False)


def test_reasons_stay_short_for_absurd_numbers():
    verdict = check(buy("1E+999999", "1E+999999"), Limits(max_order_notional=D(1000)), state())
    assert rejected(verdict, "max_order_notional")
    assert verdict.reason == "Order notional 1.0000E+1999998 exceeds the limit 1,000.00."
    tiny = check(buy(1, "0.000000000001"), Limits(price_band_pct=D(1)), state())
    assert "1.0000E-12" in tiny.reason


def test_the_engine_imports_no_django():
    root = Path(__file__).resolve().parents[2]
    script = "import sys, risk.engine; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- merge_limits -----------------------------------------------------------------------------


def test_merge_takes_the_strictest_number_at_each_field():
    organization = {"max_order_notional": D(5000), "max_open_orders": 10, "price_band_pct": None}
    account = SimpleNamespace(max_order_notional=D(2000), max_open_orders=None, max_daily_loss=D(300))
    bot = {"max_order_notional": D(3000), "max_open_orders": 4, "price_band_pct": D(2)}
    merged = merge_limits([organization, account, bot])
    assert merged == Limits(max_order_notional=D(2000), max_open_orders=4, max_daily_loss=D(300), price_band_pct=D(2))


def test_merge_of_no_levels_is_no_limit():
    assert merge_limits([]) == Limits()
    assert merge_limits([None, {}, {"allowed_symbols": []}]) == Limits()


def test_merge_intersects_the_non_empty_symbol_lists():
    levels = [
        {"allowed_symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"]},
        {"allowed_symbols": []},
        {"allowed_symbols": ["ETH/USDT", "BTC/USDT"]},
    ]
    assert merge_limits(levels).allowed_symbols == frozenset({"BTC/USDT", "ETH/USDT"})


def test_merge_of_disjoint_symbol_lists_allows_nothing():
    merged = merge_limits([{"allowed_symbols": ["BTC/USDT"]}, {"allowed_symbols": ["ETH/USDT"]}])
    assert merged.allowed_symbols == frozenset()
    assert rejected(check(buy(1), merged, state()), "symbol_not_allowed")


def test_merge_reads_risk_limit_rows():
    rows = [
        RiskLimits(max_position_notional=D("10000.5"), max_daily_trades=100, allowed_symbols=["BTC/USDT"]),
        RiskLimits(max_position_notional=D(8000), loss_cooldown_count=3, loss_cooldown_minutes=15),
    ]
    assert merge_limits(rows) == Limits(
        max_position_notional=D(8000),
        max_daily_trades=100,
        allowed_symbols=frozenset({"BTC/USDT"}),
        loss_cooldown_count=3,
        loss_cooldown_minutes=15,
    )


def test_limit_fields_are_the_model_fields():
    model_fields = {f.name for f in RiskLimits._meta.get_fields()}
    assert set(LIMIT_FIELDS) <= model_fields


def test_merge_normalises_numbers_and_rejects_nonsense():
    merged = merge_limits([{"max_order_notional": "1000", "max_open_orders": D("2.7"), "max_drawdown_pct": 12.5}])
    assert merged == Limits(max_order_notional=D(1000), max_open_orders=2, max_drawdown_pct=D("12.5"))
    with pytest.raises(ValueError, match="max_daily_loss"):
        merge_limits([{"max_daily_loss": "lots"}])
    with pytest.raises(ValueError, match="max_daily_loss"):
        merge_limits([{"max_daily_loss": D("NaN")}])


# --- protective_exit --------------------------------------------------------------------------

SL_TP = Limits(default_stop_loss_pct=D(5), default_take_profit_pct=D(10))


@pytest.mark.parametrize(
    ("qty", "last", "expected_side"),
    [
        (D(2), D(95), "sell"),  # long, stop-loss
        (D(2), D(110), "sell"),  # long, take-profit
        (D(2), D("95.01"), None),
        (D(2), D("109.99"), None),
        (D(-2), D(105), "buy"),  # short, stop-loss
        (D(-2), D(90), "buy"),  # short, take-profit
        (D(-2), D("104.99"), None),
        (D(-2), D("90.01"), None),
    ],
)
def test_protective_exit_closes_the_position_past_a_default_level(qty, last, expected_side):
    exposure = state(position_qty=qty, position_avg_price=D(100), last_price=last)
    exit_order = protective_exit(SL_TP, exposure, "BTC/USDT")
    if expected_side is None:
        assert exit_order is None
        return
    assert exit_order == Proposal("BTC/USDT", expected_side, "market", abs(qty))
    assert check(exit_order, Limits(max_open_orders=0), exposure).reduces


def test_protective_exit_is_net_of_working_orders_on_the_closing_side():
    exposure = state(
        position_qty=D(2), position_avg_price=D(100), last_price=D(90), open_sell_qty=D("0.5"), open_buy_qty=D(7)
    )
    assert protective_exit(SL_TP, exposure, "BTC/USDT") == Proposal("BTC/USDT", "sell", "market", D("1.5"))
    assert protective_exit(SL_TP, replace(exposure, open_sell_qty=D(2)), "BTC/USDT") is None
    short = state(position_qty=D(-2), position_avg_price=D(100), last_price=D(110), open_buy_qty=D("1.25"))
    assert protective_exit(SL_TP, short, "BTC/USDT") == Proposal("BTC/USDT", "buy", "market", D("0.75"))


def test_protective_exit_needs_a_default_a_position_and_a_price():
    crashed = state(position_qty=D(2), position_avg_price=D(100), last_price=D(1))
    assert protective_exit(Limits(), crashed, "BTC/USDT") is None
    assert protective_exit(Limits(default_take_profit_pct=D(10)), crashed, "BTC/USDT") is None
    assert protective_exit(SL_TP, replace(crashed, last_price=None), "BTC/USDT") is None
    assert protective_exit(SL_TP, replace(crashed, position_qty=D(0)), "BTC/USDT") is None
    assert protective_exit(SL_TP, replace(crashed, position_avg_price=D(0)), "BTC/USDT") is None


# --- batches ----------------------------------------------------------------------------------


def test_a_batch_cannot_breach_together_what_each_order_would_not_alone():
    limits = Limits(max_open_orders=4, max_position_notional=D(1000))
    verdicts = check_batch([buy(4), buy(4), buy(4), buy(1), buy(1)], limits, state(open_orders=1))
    assert [v.code for v in verdicts] == ["ok", "ok", "max_position_notional", "ok", "max_open_orders"]


def test_two_sells_that_each_reduce_do_not_both_count_as_exits():
    verdicts = check_batch([sell(1), sell(1)], Limits(max_open_orders=1), state(position_qty=D(1)))
    assert [(v.approved, v.reduces) for v in verdicts] == [(True, True), (False, False)]


def test_exposure_after_adds_the_order_as_working():
    after = exposure_after(sell("0.5"), state(open_orders=2, open_sell_qty=D(1), daily_trades=7))
    assert (after.open_orders, after.open_sell_qty, after.open_buy_qty, after.daily_trades) == (3, D("1.5"), 0, 8)


# --- properties -------------------------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def dec(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=low, max_value=high, places=8, allow_nan=False, allow_infinity=False)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


def rarely() -> st.SearchStrategy[bool]:
    # Hypothesis favours small integers, so the rare value sits at the top of the range.
    return st.integers(0, 9).map(lambda n: n == 9)


def mostly(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """The strategy, or None one time in ten."""
    return rarely().flatmap(lambda none: st.none() if none else strategy)


limits_strategy = st.builds(
    Limits,
    max_order_notional=maybe(dec("0.01", "100000")),
    max_position_notional=maybe(dec("0.01", "1000000")),
    max_open_orders=maybe(st.integers(0, 6)),
    max_daily_loss=maybe(dec("0.01", "1000")),
    max_daily_trades=maybe(st.integers(0, 6)),
    max_drawdown_pct=maybe(dec("0.01", "100")),
    price_band_pct=maybe(dec("0.01", "30")),
    allowed_symbols=maybe(st.frozensets(st.sampled_from(SYMBOLS), min_size=1)),
    loss_cooldown_count=maybe(st.integers(0, 4)),
    loss_cooldown_minutes=maybe(st.integers(0, 90)),
)


@st.composite
def exposures(draw) -> Exposure:
    peak, equity = draw(maybe(dec("0", "10000"))), draw(maybe(dec("-100", "10000")))
    if peak and draw(st.booleans()):
        equity = peak - peak * draw(dec("0", "50")) / 100  # a drawdown a limit can equal exactly
    return Exposure(
        now_ms=NOW,
        last_price=draw(mostly(dec("0.01", "1000"))),
        position_qty=draw(st.sampled_from([D(0)]) | dec("-100", "100")),
        position_avg_price=draw(dec("0.01", "1000")),
        open_orders=draw(st.integers(0, 6)),
        open_buy_qty=draw(st.sampled_from([D(0)]) | dec("0", "50")),
        open_sell_qty=draw(st.sampled_from([D(0)]) | dec("0", "50")),
        daily_pnl=draw(dec("-1000", "1000")),
        daily_trades=draw(st.integers(0, 6)),
        equity=equity,
        equity_peak=peak,
        consecutive_losses=draw(st.integers(0, 5)),
        last_loss_ms=draw(maybe(st.integers(NOW - 120 * MINUTE, NOW))),
        kill_switch=draw(rarely()),
        degraded=draw(rarely()),
    )


@st.composite
def proposals(draw, exposure: Exposure) -> Proposal:
    side = draw(st.sampled_from(["buy", "sell"]))
    kind = draw(st.sampled_from(["market", "limit"]))
    amount = draw(dec("0.00000001", "100"))
    if exposure.position_qty and draw(st.booleans()):
        # Around the position size, where exits turn into entries.
        amount = max((abs(exposure.position_qty) * draw(dec("0.01", "1.5"))).quantize(D("1e-8")), D("1e-8"))
    price = None
    if kind == "limit":
        price = draw(dec("0.01", "1000"))
        if exposure.last_price is not None and draw(st.booleans()):
            price = max((exposure.last_price * draw(dec("0.6", "1.4"))).quantize(D("1e-8")), D("1e-8"))
    return Proposal(draw(st.sampled_from(SYMBOLS)), side, kind, amount, price)


def near(value: Decimal, draw) -> Decimal:
    """A limit within 20% of `value`, often exactly on it, so the boundary gets exercised."""
    factor = draw(st.just(D(1)) | dec("0.8", "1.2"))
    if factor == 1 and value:
        return abs(value)
    return max((abs(value) * factor).quantize(D("1e-8")), D("1e-8"))


@st.composite
def scenarios(draw) -> tuple[Limits, Exposure, Proposal]:
    exposure = draw(exposures())
    proposal = draw(proposals(exposure))
    limits = draw(limits_strategy)
    valued_at = proposal.price if proposal.type == "limit" else exposure.last_price
    if valued_at is not None and draw(st.booleans()):
        limits = replace(limits, max_order_notional=near(proposal.amount * valued_at, draw))
    if valued_at is not None and draw(st.booleans()):
        working = exposure.open_buy_qty if proposal.side == "buy" else -exposure.open_sell_qty
        change = proposal.amount if proposal.side == "buy" else -proposal.amount
        mark = max(valued_at, exposure.last_price or valued_at)
        limits = replace(limits, max_position_notional=near((exposure.position_qty + working + change) * mark, draw))
    if exposure.daily_pnl < 0 and draw(st.booleans()):
        limits = replace(limits, max_daily_loss=near(exposure.daily_pnl, draw))
    last = exposure.last_price
    if proposal.type == "limit" and last is not None and proposal.price != last and draw(st.booleans()):
        limits = replace(limits, price_band_pct=near((proposal.price - last) / last * 100, draw))
    peak, equity = exposure.equity_peak, exposure.equity
    if peak and equity is not None and peak > equity and draw(st.booleans()):
        limits = replace(limits, max_drawdown_pct=near((peak - equity) / peak * 100, draw))
    return limits, exposure, proposal


def frac(value) -> Fraction | None:
    return None if value is None else Fraction(value)


def is_exit(p: Proposal, e: Exposure) -> bool:
    q, amount = frac(e.position_qty), frac(p.amount)
    if p.side == "sell":
        return q > 0 and amount <= q - frac(e.open_sell_qty)
    return q < 0 and amount <= -q - frac(e.open_buy_qty)


def model_violations(p: Proposal, lim: Limits, e: Exposure) -> set[str]:
    """Every rule the proposal breaks, per the written rules, on exact fractions."""
    if e.kill_switch:
        return {"kill_switch"}
    last = frac(e.last_price) if e.last_price is not None and e.last_price > 0 else None
    price = frac(p.price)
    if lim.price_band_pct is not None and p.type == "limit":
        if last is None:
            return {"no_reference_price"}
        if abs(price - last) / last * 100 > frac(lim.price_band_pct):
            return {"price_band"}
    if is_exit(p, e):
        return set()
    found = set()
    if e.degraded:
        found.add("degraded")
    if lim.allowed_symbols is not None and p.symbol not in lim.allowed_symbols:
        found.add("symbol_not_allowed")
    if lim.max_daily_loss is not None and -frac(e.daily_pnl) >= frac(lim.max_daily_loss):
        found.add("daily_loss")
    if lim.max_drawdown_pct is not None and e.equity is not None and e.equity_peak is not None and e.equity_peak > 0:
        peak = frac(e.equity_peak)
        if (peak - frac(e.equity)) / peak * 100 >= frac(lim.max_drawdown_pct):
            found.add("max_drawdown")
    if lim.loss_cooldown_count is not None and e.consecutive_losses >= lim.loss_cooldown_count:
        if lim.loss_cooldown_minutes is None:
            found.add("loss_cooldown")
        elif e.last_loss_ms is not None and e.now_ms - e.last_loss_ms < lim.loss_cooldown_minutes * MINUTE:
            found.add("loss_cooldown")
    if lim.max_open_orders is not None and e.open_orders + 1 > lim.max_open_orders:
        found.add("max_open_orders")
    if lim.max_daily_trades is not None and e.daily_trades + 1 > lim.max_daily_trades:
        found.add("max_daily_trades")
    if lim.max_order_notional is not None or lim.max_position_notional is not None:
        valued_at = price if p.type == "limit" else last
        if valued_at is None:
            found.add("no_reference_price")
        else:
            amount = frac(p.amount)
            if lim.max_order_notional is not None and amount * valued_at > frac(lim.max_order_notional):
                found.add("max_order_notional")
            mark = max(valued_at, last) if last is not None else valued_at
            if p.side == "buy":
                projected = frac(e.position_qty) + frac(e.open_buy_qty) + amount
            else:
                projected = frac(e.position_qty) - frac(e.open_sell_qty) - amount
            if lim.max_position_notional is not None and abs(projected) * mark > frac(lim.max_position_notional):
                found.add("max_position_notional")
    return found


def assert_matches_the_rules(verdict: Verdict, p: Proposal, lim: Limits, e: Exposure) -> None:
    violations = model_violations(p, lim, e)
    event("approved" if verdict.approved else f"rejected: {verdict.code}")
    for code in violations:
        event(f"breaks {code}")
    assert verdict.reduces == is_exit(p, e)
    assert verdict.approved == (not violations), (verdict, violations)
    if not verdict.approved:
        assert verdict.code in violations and verdict.reason
        return
    assert verdict.code == "ok"
    if verdict.reduces:
        # An exit never grows the position, nor the position its working orders could leave.
        q, amount = frac(e.position_qty), frac(p.amount)
        working = -frac(e.open_sell_qty) if p.side == "sell" else frac(e.open_buy_qty)
        change = -amount if p.side == "sell" else amount
        assert abs(q + change) <= abs(q)
        assert abs(q + working + change) <= abs(q + working)


@PROPERTY
@given(scenarios())
def test_check_approves_exactly_what_the_rules_allow(scenario):
    limits, exposure, proposal = scenario
    assert_matches_the_rules(check(proposal, limits, exposure), proposal, limits, exposure)


@st.composite
def batches(draw) -> tuple[Limits, Exposure, list[Proposal]]:
    exposure = draw(exposures())
    count = draw(st.integers(1, 8))
    return draw(limits_strategy), exposure, [draw(proposals(exposure)) for _ in range(count)]


@PROPERTY
@given(batches())
def test_a_batch_never_exceeds_the_limits_together(batch):
    limits, exposure, orders = batch
    assert_batch_within_limits(check_batch(orders, limits, exposure), limits, exposure, orders)


def assert_batch_within_limits(verdicts: list[Verdict], limits: Limits, exposure: Exposure, orders: list[Proposal]):
    """Replays the approved orders with this test's own bookkeeping."""
    assert len(verdicts) == len(orders)
    open_orders, trades = exposure.open_orders, exposure.daily_trades
    buys, sells = frac(exposure.open_buy_qty), frac(exposure.open_sell_qty)
    q, last = frac(exposure.position_qty), frac(exposure.last_price)
    for order, verdict in zip(orders, verdicts, strict=True):
        if not verdict.approved:
            continue
        amount = frac(order.amount)
        if verdict.reduces:
            # Still an exit once the earlier orders of the batch are counted as working.
            assert (order.side == "sell" and q > 0 and amount <= q - sells) or (
                order.side == "buy" and q < 0 and amount <= -q - buys
            )
        else:
            if limits.max_open_orders is not None:
                assert open_orders + 1 <= limits.max_open_orders
            if limits.max_daily_trades is not None:
                assert trades + 1 <= limits.max_daily_trades
            if limits.max_position_notional is not None:
                valued_at = frac(order.price) if order.type == "limit" else last
                mark = max(valued_at, last) if last is not None else valued_at
                projected = q + buys + amount if order.side == "buy" else q - sells - amount
                assert abs(projected) * mark <= frac(limits.max_position_notional)
        open_orders, trades = open_orders + 1, trades + 1
        if order.side == "buy":
            buys += amount
        else:
            sells += amount


wild_decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [D("1E+999999999"), D("-1E+999999999"), D("1E-999999999"), D("9.99E+999999999999999999"), D("sNaN"), D("-0")]
    ),
    st.integers(),
)
wild = st.none() | wild_decimals | st.floats() | st.booleans()
wild_limits = st.builds(
    Limits,
    **{name: wild for name in LIMIT_FIELDS if name != "allowed_symbols"},
    allowed_symbols=maybe(st.frozensets(st.sampled_from([*SYMBOLS, "Z" * 500]) | st.integers())),
)
wild_exposures = st.builds(
    Exposure,
    now_ms=st.integers() | wild,
    last_price=wild,
    position_qty=wild_decimals,
    position_avg_price=wild_decimals,
    open_orders=st.integers() | wild,
    open_buy_qty=wild_decimals,
    open_sell_qty=wild_decimals,
    daily_pnl=wild_decimals,
    daily_trades=st.integers() | wild,
    equity=wild,
    equity_peak=wild,
    consecutive_losses=st.integers() | wild,
    last_loss_ms=wild,
    kill_switch=st.booleans(),
    degraded=st.booleans(),
)
wild_proposals = st.builds(
    Proposal,
    symbol=st.sampled_from([*SYMBOLS, "", "x", "Y" * 500]),
    side=st.sampled_from(["buy", "sell", "BUY", "", "short", "s" * 500]),
    type=st.sampled_from(["market", "limit", "stop"]),
    amount=wild_decimals | wild,
    price=wild,
)


@PROPERTY
@given(wild_limits, wild_exposures, st.lists(wild_proposals, min_size=1, max_size=3))
def test_check_never_raises(limits, exposure, orders):
    for verdict in [check(orders[0], limits, exposure), *check_batch(orders, limits, exposure)]:
        assert isinstance(verdict, Verdict) and isinstance(verdict.approved, bool)
        assert verdict.code in CODES and verdict.approved == (verdict.code == "ok")
        assert 0 < len(verdict.reason) < 400
    exit_order = protective_exit(limits, exposure, "BTC/USDT")
    assert exit_order is None or check(exit_order, limits, exposure).reduces


# --- the properties catch a broken rule -------------------------------------------------------


def off_by_one_open_orders(p, lim, e):
    return check(p, replace(lim, max_open_orders=None if lim.max_open_orders is None else lim.max_open_orders + 1), e)


def exits_ignore_working_orders(p, lim, e):
    return replace(check(p, lim, replace(e, open_buy_qty=D(0), open_sell_qty=D(0))), reduces=check(p, lim, e).reduces)


def band_ignored(p, lim, e):
    return check(p, replace(lim, price_band_pct=None), e)


def cooldown_never_expires(p, lim, e):
    return check(p, lim, replace(e, last_loss_ms=None if e.last_loss_ms is None else e.now_ms))


@pytest.mark.parametrize(
    "mutant", [off_by_one_open_orders, exits_ignore_working_orders, band_ignored, cooldown_never_expires]
)
def test_the_property_catches_a_broken_rule(mutant):
    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(scenarios())
    def mutant_matches_the_rules(scenario):
        limits, exposure, proposal = scenario
        assert_matches_the_rules(mutant(proposal, limits, exposure), proposal, limits, exposure)

    with pytest.raises(AssertionError):
        mutant_matches_the_rules()


def test_the_batch_property_catches_a_batch_that_forgets_earlier_orders():
    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(batches())
    def forgetful_batch_stays_within_limits(batch):
        limits, exposure, orders = batch
        verdicts = [check(order, limits, exposure) for order in orders]
        assert_batch_within_limits(verdicts, limits, exposure, orders)

    with pytest.raises(AssertionError):
        forgetful_batch_stays_within_limits()
