"""Perpetual futures arithmetic on plain Decimals (no ORM, no I/O): margin, liquidation price,
unrealized PnL and funding. The paper exchange, the backtester, the risk check and the positions
shown to customers all use these, so a figure means the same everywhere.

Conventions: `quantity` is signed base units (negative is short); linear contracts (margin and
PnL in the quote/settle currency, one contract = one base unit); rates are fractions (0.01 is 1%).

- Initial margin of a position: `|q| x entry / leverage`.
- Maintenance margin: `|q| x mark x mmr`. Hyperliquid sets the maintenance margin rate at half the
  initial margin rate at the asset's maximum leverage (`mmr = 1 / (2 x max_leverage)`), which is
  what `maintenance_rate` computes; Binance and Bybit publish tiered rates of the same order.
- Liquidation: the position's margin `M` plus its unrealized PnL falls to the maintenance margin.
  Solving `M + q x (P - entry) = |q| x P x mmr` for the price `P` gives, for a long,
  `P = (|q| x entry - M) / (|q| x (1 - mmr))` and for a short `P = (|q| x entry + M) / (|q| x (1 + mmr))`.
  Isolated positions use the margin posted for them; cross positions use the account's equity
  available to them (the caller passes it as `margin`). A long whose margin covers its whole
  notional has no liquidation price (None).
- Funding: at each funding time a position pays `q x mark x rate` (longs pay shorts when the rate
  is positive); the ledger stores what the account *received*, so a payment is negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

ZERO = Decimal("0")
ONE = Decimal("1")
QUANTUM = Decimal("1e-18")
HOUR_MS = 3_600_000

# How often each venue settles funding (hours). Hyperliquid pays hourly, Binance USD-M and Bybit
# linear perpetuals every 8 hours on their main contracts.
FUNDING_INTERVAL_HOURS = {"hyperliquid": 1, "binanceusdm": 8, "bybit": 8, "paper": 8}


def q(value: Decimal) -> Decimal:
    """Rounded toward zero to the 18 decimals stored money has."""
    return value.quantize(QUANTUM, rounding=ROUND_DOWN)


def maintenance_rate(max_leverage: Decimal | int) -> Decimal:
    """Hyperliquid's rule: half the initial margin rate at the maximum leverage."""
    max_leverage = Decimal(max_leverage)
    if max_leverage < 1:
        raise ValueError("max_leverage must be at least 1")
    return ONE / (2 * max_leverage)


def initial_margin(*, quantity: Decimal, price: Decimal, leverage: Decimal) -> Decimal:
    if leverage <= 0:
        raise ValueError("leverage must be positive")
    return q(abs(quantity) * price / leverage)


def maintenance_margin(*, quantity: Decimal, mark: Decimal, mmr: Decimal) -> Decimal:
    return q(abs(quantity) * mark * mmr)


def unrealized_pnl(*, quantity: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    return q(quantity * (mark - entry))


def liquidation_price(*, quantity: Decimal, entry: Decimal, margin: Decimal, mmr: Decimal) -> Decimal | None:
    """The mark at which the position's margin plus PnL meets the maintenance margin (see the
    module docstring); None when flat or when a long can never be liquidated."""
    size = abs(quantity)
    if size == 0:
        return None
    if quantity > 0:
        price = (size * entry - margin) / (size * (ONE - mmr))
        return q(price) if price > 0 else None
    return q((size * entry + margin) / (size * (ONE + mmr)))


def is_liquidated(*, quantity: Decimal, liquidation: Decimal | None, low: Decimal, high: Decimal) -> bool:
    """Whether a candle's range reached the liquidation price (a long's low at or below it, a
    short's high at or above it)."""
    if liquidation is None or quantity == 0:
        return False
    return low <= liquidation if quantity > 0 else high >= liquidation


def liquidation_distance_pct(*, quantity: Decimal, mark: Decimal, liquidation: Decimal | None) -> Decimal | None:
    """How far the liquidation price is from the mark, in % of the mark (None: no liquidation)."""
    if liquidation is None or mark <= 0 or quantity == 0:
        return None
    gap = mark - liquidation if quantity > 0 else liquidation - mark
    return gap / mark * 100


def funding_payment(*, quantity: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What the account receives at one funding time (negative: it pays)."""
    return q(-quantity * mark * rate)


def funding_times(*, since_ms: int, until_ms: int, interval_hours: int) -> list[int]:
    """The funding times `t` with `since_ms < t <= until_ms` (on whole multiples of the interval
    since the epoch, as venues settle on the hour)."""
    step = interval_hours * HOUR_MS
    first = (since_ms // step + 1) * step
    return list(range(first, until_ms + 1, step))


@dataclass(frozen=True)
class PerpPosition:
    """A perpetual position as an exchange reports it (or the paper exchange computes it)."""

    symbol: str
    quantity: Decimal  # signed
    entry_price: Decimal
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None
    margin_used: Decimal | None = None
    leverage: Decimal | None = None
    margin_mode: str = ""  # isolated | cross

    @property
    def side(self) -> str:
        return "long" if self.quantity > 0 else "short" if self.quantity < 0 else "flat"


@dataclass(frozen=True)
class FundingEvent:
    """One funding payment to the account: `amount` received (negative: paid), in the settle currency."""

    id: str
    symbol: str
    ts: int
    amount: Decimal
    rate: Decimal | None = None
    quantity: Decimal | None = None
    mark_price: Decimal | None = None
