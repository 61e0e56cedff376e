"""The paper fill rule: whether an order fills against a price or a candle, at what price, how much,
and the fee. Pure functions of plain Decimals (no ORM, no I/O), so the paper exchange and the
backtester fill orders the same way.

- An order is *marketable* when it is a market order, or a limit order whose price reaches the
  reference price (the next price: the open of the next candle): a buy at or above it, a sell at
  or below it. It fills at once, in full, as a taker: a market order at the reference worsened by
  the slippage, a limit order at the better of its price and the reference. Taker fee.
- Any other limit order rests. Each later candle that trades through its price (low at or below a
  buy's price, high at or above a sell's) fills it at its price, at most `participation` of that
  candle's volume, as a maker. Maker fee.

Fees are in the quote currency: price x amount x rate. Every figure is rounded down to 18
decimals, the precision of stored money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

QUANTUM = Decimal("1e-18")
ZERO = Decimal("0")


def q(value: Decimal) -> Decimal:
    """Rounded down to the 18 decimals stored money has."""
    return value.quantize(QUANTUM, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class FillTerms:
    """An account's paper trading terms (rates as fractions: 0.001 is 0.1%)."""

    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    slippage: Decimal = Decimal("0.0005")
    participation: Decimal = Decimal("0.1")

    @classmethod
    def of(cls, account: object) -> FillTerms:
        """The terms of an object with `paper_*` attributes (an ExchangeAccount)."""
        return cls(
            taker_fee=account.paper_taker_fee,
            maker_fee=account.paper_maker_fee,
            slippage=account.paper_slippage,
            participation=account.paper_participation,
        )


@dataclass(frozen=True)
class FillResult:
    """One fill: price, amount, fee (quote currency) and whether it rested first (maker)."""

    price: Decimal
    amount: Decimal
    fee: Decimal
    maker: bool

    @property
    def notional(self) -> Decimal:
        return q(self.price * self.amount)


def is_marketable(*, side: str, type: str, price: Decimal | None, reference: Decimal) -> bool:
    """Whether the order takes liquidity at once against the reference (next) price."""
    if type == "market":
        return True
    return price >= reference if side == "buy" else price <= reference


def taker_fill(
    *, side: str, type: str, amount: Decimal, price: Decimal | None, reference: Decimal, terms: FillTerms
) -> FillResult:
    """The immediate fill of a marketable order: a market order at the reference worsened by the
    slippage, a limit order no worse than its limit."""
    buy = side == "buy"
    if type == "market":
        fill_price = reference * (1 + terms.slippage if buy else 1 - terms.slippage)
    else:
        fill_price = min(price, reference) if buy else max(price, reference)
    fill_price = q(fill_price)
    return FillResult(fill_price, amount, q(fill_price * amount * terms.taker_fee), False)


def resting_reserve(*, side: str, price: Decimal, amount: Decimal, terms: FillTerms) -> Decimal:
    """What a resting order holds back until it fills or is cancelled: a buy its worst-case cost
    (price x amount plus the maker fee) in quote, a sell its amount in base."""
    return q(price * amount * (1 + terms.maker_fee)) if side == "buy" else amount


def crosses(*, side: str, price: Decimal, high: Decimal, low: Decimal) -> bool:
    """Whether a candle traded through a resting limit price."""
    return low <= price if side == "buy" else high >= price


def maker_fill(
    *,
    side: str,
    price: Decimal,
    remaining: Decimal,
    high: Decimal,
    low: Decimal,
    volume: Decimal,
    terms: FillTerms,
) -> FillResult | None:
    """The fill of a resting limit order on one candle, or None when the candle does not reach its
    price or has no volume left for it."""
    if not crosses(side=side, price=price, high=high, low=low):
        return None
    amount = min(remaining, q(volume * terms.participation))
    if amount <= 0:
        return None
    return FillResult(price, amount, q(price * amount * terms.maker_fee), True)
