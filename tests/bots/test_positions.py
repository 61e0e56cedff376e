"""Position arithmetic against a hand-computed example."""

from decimal import Decimal as D  # noqa: N817 - short for the worked example

from bots.positions import PositionState, apply_fill, unrealized_pnl


def test_average_cost_realized_and_unrealized_pnl_match_the_hand_computation():
    s = PositionState()
    s = apply_fill(s, side="buy", price=D("100"), amount=D("1"), fee=D("0.10"))
    assert (s.quantity, s.average_price) == (D("1"), D("100"))
    s = apply_fill(s, side="buy", price=D("110"), amount=D("1"), fee=D("0.11"))
    assert (s.quantity, s.average_price) == (D("2"), D("105"))  # (100 + 110) / 2
    s = apply_fill(s, side="sell", price=D("120"), amount=D("1.5"), fee=D("0.18"))
    assert s.realized_pnl == D("22.5")  # 1.5 * (120 - 105)
    assert (s.quantity, s.average_price) == (D("0.5"), D("105"))
    assert unrealized_pnl(s, D("130")) == D("12.5")  # 0.5 * (130 - 105)
    s = apply_fill(s, side="sell", price=D("90"), amount=D("1"), fee=D("0.09"))
    # 0.5 closed at a 15 loss each; the other 0.5 opens a short at 90.
    assert s.realized_pnl == D("15")
    assert (s.quantity, s.average_price) == (D("-0.5"), D("90"))
    assert unrealized_pnl(s, D("80")) == D("5")  # short profits when the price falls
    s = apply_fill(s, side="buy", price=D("80"), amount=D("0.5"), fee=D("0.08"))
    assert (s.quantity, s.average_price) == (D("0"), D("0"))
    assert s.realized_pnl == D("20")
    assert s.fees == D("0.56")
    assert s.realized_pnl - s.fees == D("19.44")
