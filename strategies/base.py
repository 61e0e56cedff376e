"""What a strategy sees and what it answers: plain data only, no ORM and no I/O.

A decision function is `decide(ctx: Context) -> Decision`. The bot runtime (a Celery tick), the
backtester and the tests build the same `Context`, so one strategy implementation serves all of
them. Prices and amounts are Decimal; indicator inputs are numpy float64 arrays (`Bars`).

A strategy may also have a `prepare(bars, params, last=None) -> dict[str, ndarray]` that computes its
indicators for every bar of a run of candles at once (one value per bar, aligned with `bars`).
Its `decide` then reads them through `ctx.signals` (`Signals`, positioned at the last closed bar).
A live tick leaves `ctx.signals` empty and the strategy prepares its own warm-up window; the
backtester prepares the whole candle history once and moves the position along it. `prepare` must
give each bar a value that depends only on the candles up to that bar, the same whether it is
computed over the whole history or over the warm-up window that ends on that bar (the tests check
it bar by bar on the real candles). `last=n` asks for the last n bars only (a live tick reads the
last one or two); the columns keep their length and the bars not asked for may hold NaN.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

ZERO = Decimal("0")
AMOUNT_QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True)
class Bars:
    """Closed candles, oldest first, as float64 arrays (`ts` is int64 milliseconds, open time)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def empty(cls) -> Bars:
        z = np.zeros(0, dtype=np.float64)
        return cls(np.zeros(0, dtype=np.int64), z, z, z, z, z)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> Bars:
        """From `[ts, open, high, low, close, volume]` rows (candle files, ccxt) or Candle tuples."""
        if not rows:
            return cls.empty()
        arr = np.array([[float(x) for x in r[1:6]] for r in rows], dtype=np.float64)
        ts = np.array([int(r[0]) for r in rows], dtype=np.int64)
        return cls(ts, arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 3].copy(), arr[:, 4].copy())

    @classmethod
    def from_candles(cls, candles: Sequence[Any]) -> Bars:
        """From objects with ts/open/high/low/close/volume attributes (exchanges.types.Candle)."""
        return cls.from_rows([(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in candles])

    def __len__(self) -> int:
        return len(self.ts)

    def tail(self, n: int) -> Bars:
        """The last `n` bars (views, no copy)."""
        start = max(0, len(self) - n)
        return Bars(*(a[start:] for a in self._arrays()))

    def upto(self, now_ms: int, step_ms: int, limit: int) -> Bars:
        """The last `limit` bars that had closed by `now_ms` (views, no copy)."""
        end = bisect.bisect_right(self.ts, now_ms - step_ms)
        start = max(0, end - limit)
        return Bars(*(a[start:end] for a in self._arrays()))

    def resample(self, factor: int) -> Bars:
        """Aggregate every `factor` consecutive bars into one (a higher timeframe), aligned so the
        last group ends on the last bar. Gaps in the data are not filled."""
        n = (len(self) // factor) * factor
        if n == 0:
            return Bars.empty()
        off = len(self) - n

        def groups(a: np.ndarray) -> np.ndarray:
            return a[off:].reshape(-1, factor)

        return Bars(
            groups(self.ts)[:, 0].copy(),
            groups(self.open)[:, 0].copy(),
            groups(self.high).max(axis=1),
            groups(self.low).min(axis=1),
            groups(self.close)[:, -1].copy(),
            groups(self.volume).sum(axis=1),
        )

    def resampled_close(self, factor: int) -> np.ndarray:
        """The close column of `resample(factor)` alone: a strided copy, where building every
        column costs a strategy that reads only closes most of its time per bar."""
        n = (len(self) // factor) * factor
        return self.close[len(self) - n + factor - 1 :: factor].copy()

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)


class Signals:
    """A strategy's prepared per-bar columns, read at one bar: `signals["hist"]` is the value at
    that bar, `signals.back("hist")` the one before it."""

    __slots__ = ("columns", "index")

    def __init__(self, columns: Mapping[str, np.ndarray], index: int) -> None:
        self.columns = columns
        self.index = index

    @classmethod
    def last(cls, columns: Mapping[str, np.ndarray]) -> Signals:
        """Positioned at the last bar of the columns (a live tick's prepared window)."""
        return cls(columns, len(next(iter(columns.values()))) - 1)

    def __getitem__(self, name: str) -> Any:
        return self.columns[name][self.index]

    def back(self, name: str, bars: int = 1) -> Any:
        return self.columns[name][self.index - bars]


@dataclass(frozen=True)
class PositionView:
    """The bot's holding in the symbol: signed quantity (negative is short) and average entry."""

    quantity: Decimal = ZERO
    average_entry_price: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0


@dataclass(frozen=True)
class OpenOrder:
    """One of the bot's orders still working on the exchange."""

    client_order_id: str
    side: str
    type: str
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    tag: str = ""
    leg: str = "primary"
    created_ms: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


@dataclass(frozen=True)
class Quote:
    """Top of book (or the last price on both sides when only that is known)."""

    bid: Decimal
    ask: Decimal
    last: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class Leg:
    """A second account trading the same symbol (arbitrage): its quote and the bot's holding there."""

    quote: Quote
    position: PositionView = field(default_factory=PositionView)


@dataclass(frozen=True)
class SignalView:
    """A stored trading signal as a strategy sees it (see the `signal_follower` strategy): its
    source and that source's blending weight, the side (buy, sell or neutral), the confidence
    from 0 to 1, the kind (directional, entry, exit, ...), when it was made and until when it
    holds (ms), the price it was computed at when known, and its id."""

    signal_id: int
    source_id: int
    source_weight: Decimal
    side: str
    confidence: Decimal
    kind: str
    created_ms: int
    valid_until_ms: int
    price: Decimal | None = None
    timeframe: str = ""


@dataclass(frozen=True)
class Context:
    """Everything a decision may depend on. `state` is the strategy's own memory from its last
    decision (JSON-able values only); `capital` is the quote amount allocated to the bot;
    `signals` holds the strategy's prepared indicators at the last bar when the caller computed
    them ahead (the backtester), None when the strategy computes them itself (a live tick);
    `market_signals` holds the organization's valid stored signals for the symbol, newest first,
    for a strategy whose spec says `uses_signals` (empty otherwise, and in backtests)."""

    now_ms: int
    symbol: str
    params: Mapping[str, Any]
    bars: Bars
    quote: Quote
    position: PositionView = field(default_factory=PositionView)
    open_orders: tuple[OpenOrder, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)
    capital: Decimal = Decimal("1000")
    second: Leg | None = None
    signals: Signals | None = None
    market_signals: tuple[SignalView, ...] = ()

    @property
    def last_price(self) -> Decimal:
        return self.quote.last


@dataclass(frozen=True)
class OrderIntent:
    """An order the strategy wants. `tag` names it (part of the idempotency key, shown in events);
    `exit` says it only reduces the position (the risk check verifies that, it does not trust it);
    `leg` is "secondary" for the second account of a two-account strategy. An entry may carry
    the protective `stop_loss` / `take_profit` prices of the position it opens: on perpetuals
    they rest on the exchange as trigger orders (see bots/protection.py)."""

    side: str
    amount: Decimal
    type: str = "market"
    price: Decimal | None = None
    tag: str = ""
    exit: bool = False
    leg: str = "primary"
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True)
class Decision:
    """The answer of one decision: orders to place, open orders to cancel (by client order id),
    the strategy's new memory (None keeps the old one) and a short human-readable note."""

    intents: tuple[OrderIntent, ...] = ()
    cancel: tuple[str, ...] = ()
    state: Mapping[str, Any] | None = None
    note: str = ""


def quantize_amount(amount: Decimal) -> Decimal:
    """Amounts are sent with at most 8 decimals, rounded down (never more than meant)."""
    return amount.quantize(AMOUNT_QUANTUM, rounding="ROUND_DOWN")


def to_decimal(value: float) -> Decimal:
    """A float indicator value as a Decimal price (8 decimals, via its shortest repr)."""
    return Decimal(repr(float(value))).quantize(AMOUNT_QUANTUM)
