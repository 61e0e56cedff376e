"""Plain data exchanged with any exchange client: Decimal money, UTC millisecond timestamps."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Market:
    symbol: str
    base: str
    quote: str
    amount_step: Decimal | None = None
    price_step: Decimal | None = None
    min_amount: Decimal | None = None
    min_notional: Decimal | None = None
    type: str = "spot"  # spot | swap (a perpetual)
    settle: str = ""  # a perpetual's margin and PnL currency
    contract_size: Decimal = Decimal("1")
    max_leverage: Decimal | None = None

    @property
    def is_perp(self) -> bool:
        return self.type == "swap"


@dataclass(frozen=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    ts: int


@dataclass(frozen=True)
class OrderBook:
    symbol: str
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    ts: int | None = None


@dataclass(frozen=True)
class Candle:
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: str  # buy | sell
    type: str  # market | limit
    amount: Decimal
    client_order_id: str
    price: Decimal | None = None
    reduce_only: bool = False  # perpetuals: the order may only reduce the position
    # A protective trigger order resting on the exchange: fires at `trigger_price` as a market
    # order (`trigger_kind` "sl" or "tp"); always reduce-only.
    trigger_price: Decimal | None = None
    trigger_kind: str = ""


@dataclass
class ExchangeOrder:
    """An order as the exchange reports it; `status` uses our OrderStatus values."""

    id: str
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    amount: Decimal
    filled: Decimal
    status: str
    price: Decimal | None = None
    average: Decimal | None = None
    fee: Decimal = Decimal("0")
    fee_currency: str = ""
    ts: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # The order's trades when the exchange reported them with the order (None: ask for them).
    trades: list[ExchangeTrade] | None = None


@dataclass(frozen=True)
class ExchangeTrade:
    id: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    ts: int
    fee: Decimal = Decimal("0")
    fee_currency: str = ""
    is_maker: bool | None = None
    client_order_id: str | None = None
    liquidation: bool = False  # the exchange closed the position at its liquidation price
