"""The risk rules for perpetuals: a leverage ceiling, a minimum distance to liquidation, and
position notional that counts shorts like longs. Figures are worked out by hand in each test."""

from dataclasses import replace
from decimal import Decimal

from risk.engine import Exposure, Limits, Proposal, check

D = Decimal
NOW = 1_700_000_000_000
MMR = D("0.01")  # 50x max leverage: maintenance = 1 / (2 * 50)


def perp(**changes) -> Exposure:
    return replace(Exposure(now_ms=NOW, last_price=D(100), leverage=D(20), maintenance_rate=MMR), **changes)


def buy(amount="1", **kw) -> Proposal:
    return Proposal(symbol="BTC/USDT:USDT", side="buy", type="market", amount=D(amount), **kw)


def sell(amount="1", **kw) -> Proposal:
    return Proposal(symbol="BTC/USDT:USDT", side="sell", type="market", amount=D(amount), **kw)


def test_leverage_above_the_limit_refuses_entries_but_not_exits():
    limits = Limits(max_leverage=D(10))
    verdict = check(buy(), limits, perp())
    assert (verdict.approved, verdict.code) == (False, "max_leverage")
    assert verdict.reason == "Leverage 20x exceeds the limit 10x."
    assert check(buy(), limits, perp(leverage=D(10))).approved
    # Closing a long is never held back by the leverage it was opened at.
    assert check(sell(), limits, perp(position_qty=D(1), position_avg_price=D(100))).approved
    # A spot bot has no maintenance rate: the rule does not apply.
    assert check(buy(), limits, perp(maintenance_rate=None)).approved


def test_an_entry_too_close_to_liquidation_is_refused_long_and_short():
    # 1 BTC at 100 with 20x: margin 5. A long is liquidated at (100 - 5) / (1 - 0.01) = 95.9596,
    # 4.0404% under the mark; a short at (100 + 5) / (1 + 0.01) = 103.9604, 3.9604% over it.
    strict, loose = Limits(min_liquidation_distance_pct=D("4.5")), Limits(min_liquidation_distance_pct=D("3.5"))
    long_strict = check(buy(), strict, perp())
    assert (long_strict.approved, long_strict.code) == (False, "liquidation_distance")
    assert "4.04" in long_strict.reason and "4.5" in long_strict.reason
    assert check(buy(), loose, perp()).approved
    assert check(sell(), Limits(min_liquidation_distance_pct=D("4")), perp()).code == "liquidation_distance"
    assert check(buy(), Limits(min_liquidation_distance_pct=D("4")), perp()).approved  # 4.04 >= 4
    assert check(sell(), loose, perp()).approved
    # Lower leverage moves liquidation away: at 5x the long's is (100 - 20) / 0.99 = 80.81, 19.19% off.
    assert check(buy(), Limits(min_liquidation_distance_pct=D(19)), perp(leverage=D(5))).approved
    assert not check(buy(), Limits(min_liquidation_distance_pct=D("19.3")), perp(leverage=D(5))).approved


def test_adding_to_a_position_is_judged_at_the_blended_entry():
    # Long 1 at 90, buy 1 more at 100: entry 95, margin 2 * 95 / 20 = 9.5, liquidation
    # (190 - 9.5) / (2 * 0.99) = 91.1616, 8.8384% under the mark of 100.
    exposure = perp(position_qty=D(1), position_avg_price=D(90))
    assert check(buy(), Limits(min_liquidation_distance_pct=D("8.8")), exposure).approved
    assert check(buy(), Limits(min_liquidation_distance_pct=D("8.9")), exposure).code == "liquidation_distance"


def test_position_notional_counts_a_short_like_a_long():
    limits = Limits(max_position_notional=D(1000))
    short = perp(position_qty=D(-8), position_avg_price=D(100))
    # Short 8 at a mark of 100 is 800 of notional; 3 more is 1100, over the limit.
    verdict = check(sell("3"), limits, short)
    assert (verdict.approved, verdict.code) == (False, "max_position_notional")
    assert check(sell("2"), limits, short).approved  # exactly 1000
    assert check(buy("3"), limits, short).approved  # covering reduces it
