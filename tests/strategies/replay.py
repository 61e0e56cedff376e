"""A small, pure bar-by-bar replay of a strategy over real candles, for the strategy tests.

At each bar i (once it has closed) the strategy sees the last `window` bars up to and including
bar i, a quote whose bid, ask and last are bar i's close, the simulated position, the still-open
orders and its state from the previous decision (sent through JSON, as the runtime stores it).
Orders it places are filled on the following bars: a market order at the next bar's open; a limit
buy on the first later bar whose low reaches its price, a limit sell on the first whose high does
(at the limit price, or at the open when the bar opened through it). Every decision is checked
for the invariants all strategies share (tags, amounts, prices, spot-only sells).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from strategies.base import AMOUNT_QUANTUM, Bars, Context, Decision, Leg, OpenOrder, PositionView, Quote, to_decimal

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
STEP_MS = 300_000
TAG = re.compile(r"^[a-z0-9-]{1,24}$")


@cache
def load_bars(pair: str = "BTC_USDT", timeframe: str = "5m") -> Bars:
    """The bundled candles of one pair (`[ms, o, h, l, c, v]` rows, gzipped JSON)."""
    with gzip.open(DATA / f"{pair}-{timeframe}.json.gz", "rt") as f:
        return Bars.from_rows(json.load(f))


def window(bars: Bars, end: int, size: int) -> Bars:
    """Bars [end - size + 1, end], as views."""
    start = max(0, end + 1 - size)
    return Bars(*(a[start : end + 1] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)))


@dataclass(frozen=True)
class Signal:
    """One order intent, stamped with the open time of the bar whose close triggered it."""

    ts: int
    side: str
    tag: str
    type: str
    amount: Decimal
    price: Decimal | None
    exit: bool
    leg: str = "primary"


@dataclass(frozen=True)
class Fill:
    ts: int
    side: str
    tag: str
    price: Decimal
    amount: Decimal
    leg: str = "primary"


@dataclass
class Book:
    """The simulated account: position, average entry and open orders."""

    quantity: Decimal = Decimal(0)
    average: Decimal = Decimal(0)
    orders: list[OpenOrder] = field(default_factory=list)

    def view(self) -> PositionView:
        return PositionView(self.quantity, self.average)

    def apply(self, side: str, price: Decimal, amount: Decimal) -> None:
        if side == "buy":
            total = self.quantity + amount
            self.average = (self.quantity * self.average + amount * price) / total
            self.quantity = total
        else:
            assert amount <= self.quantity, f"sold {amount} while holding {self.quantity} (spot is long-only)"
            self.quantity -= amount
            if self.quantity == 0:
                self.average = Decimal(0)


@dataclass(frozen=True)
class Step:
    """What one decision saw: its bar index and time, the position and the open orders."""

    index: int
    ts: int
    quantity: Decimal
    open_orders: tuple[OpenOrder, ...]

    @property
    def flat(self) -> bool:
        return self.quantity == 0

    @property
    def open_buy(self) -> bool:
        return any(o.side == "buy" for o in self.open_orders)


@dataclass
class Result:
    signals: list[Signal] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    decisions: dict[int, Decision] = field(default_factory=dict)
    book: Book = field(default_factory=Book)
    state: dict[str, Any] = field(default_factory=dict)

    def sides(self) -> list[tuple[int, str, str]]:
        return [(s.ts, s.side, s.tag) for s in self.signals]


def check_decision(decision: Decision, ctx: Context) -> None:
    """Invariants every strategy keeps: short distinct tags, 8-decimal positive amounts, priced
    limits, exits that are sells, and sells covered by the position (spot)."""
    tags = [i.tag for i in decision.intents]
    assert len(set(tags)) == len(tags), f"duplicate tags {tags}"
    ids = {o.client_order_id for o in ctx.open_orders}
    assert set(decision.cancel) <= ids, "cancels an order that is not open"
    for i in decision.intents:
        assert TAG.match(i.tag), i.tag
        assert i.side in ("buy", "sell")
        assert isinstance(i.amount, Decimal) and i.amount > 0
        assert i.amount == i.amount.quantize(AMOUNT_QUANTUM), i.amount
        if i.type == "limit":
            assert isinstance(i.price, Decimal) and i.price > 0
        else:
            assert i.type == "market" and i.price is None
        if i.exit:
            assert i.side == "sell"
    if decision.state is not None:
        json.dumps(decision.state)
    if ctx.second is None:
        offered = sum(
            (o.remaining for o in ctx.open_orders if o.side == "sell" and o.client_order_id not in decision.cancel),
            Decimal(0),
        )
        offered += sum((i.amount for i in decision.intents if i.side == "sell"), Decimal(0))
        assert offered <= ctx.position.quantity, f"offers {offered} while holding {ctx.position.quantity}"


def replay(
    decide: Any,
    bars: Bars,
    params: dict[str, Any],
    *,
    size: int,
    start: int = 0,
    end: int | None = None,
    capital: Decimal = Decimal(1000),
    position: Decimal = Decimal(0),
    keep_decisions: bool = False,
) -> Result:
    """Run `decide` on every bar from `start` to `end` (exclusive), filling its orders."""
    end = len(bars) if end is None else end
    result = Result()
    book = result.book
    book.quantity = position
    if position > 0:
        book.average = to_decimal(bars.close[max(start - 1, 0)])
    state: dict[str, Any] = {}
    for i in range(start, end):
        ts = int(bars.ts[i])
        if i > start:
            _fill(book, bars, i, result)
        last = to_decimal(bars.close[i])
        ctx = Context(
            now_ms=ts + STEP_MS,
            symbol="BTC/USDT",
            params=params,
            bars=window(bars, i, size),
            quote=Quote(last, last, last),
            position=book.view(),
            open_orders=tuple(book.orders),
            state=state,
            capital=capital,
        )
        result.steps.append(Step(i, ts, book.quantity, ctx.open_orders))
        decision = decide(ctx)
        check_decision(decision, ctx)
        if keep_decisions:
            result.decisions[ts] = decision
        if decision.cancel:
            book.orders = [o for o in book.orders if o.client_order_id not in decision.cancel]
        for n, intent in enumerate(decision.intents):
            result.signals.append(
                Signal(ts, intent.side, intent.tag, intent.type, intent.amount, intent.price, intent.exit)
            )
            book.orders.append(
                OpenOrder(
                    client_order_id=f"{i}-{n}-{intent.tag}",
                    side=intent.side,
                    type=intent.type,
                    amount=intent.amount,
                    filled=Decimal(0),
                    price=intent.price,
                    tag=intent.tag,
                    created_ms=ctx.now_ms,
                )
            )
        if decision.state is not None:
            state = json.loads(json.dumps(decision.state))
    result.state = state
    return result


def _fill(book: Book, bars: Bars, i: int, result: Result) -> None:
    still_open = []
    open_, high, low = to_decimal(bars.open[i]), to_decimal(bars.high[i]), to_decimal(bars.low[i])
    for o in book.orders:
        price = None
        if o.type == "market":
            price = open_
        elif o.side == "buy" and low <= o.price:
            price = min(o.price, open_)
        elif o.side == "sell" and high >= o.price:
            price = max(o.price, open_)
        if price is None:
            still_open.append(o)
            continue
        book.apply(o.side, price, o.remaining)
        result.fills.append(Fill(int(bars.ts[i]), o.side, o.tag, price, o.remaining))
    book.orders = still_open


def replay_arbitrage(
    decide: Any,
    quotes_a: list[Quote],
    quotes_b: list[Quote],
    stamps: list[int],
    params: dict[str, Any],
    *,
    holding_a: Decimal,
    holding_b: Decimal,
) -> tuple[Result, Book, Book]:
    """Two accounts quoted by the given series; market orders fill at once at the quoted side
    (buys at the ask, sells at the bid) of their own account."""
    result = Result()
    a, b = Book(quantity=holding_a), Book(quantity=holding_b)
    for ts, qa, qb in zip(stamps, quotes_a, quotes_b, strict=True):
        ctx = Context(
            now_ms=ts + STEP_MS,
            symbol="BTC/USDT",
            params=params,
            bars=Bars.empty(),
            quote=qa,
            position=a.view(),
            second=Leg(qb, b.view()),
        )
        decision = decide(ctx)
        check_decision(decision, ctx)
        for intent in decision.intents:
            result.signals.append(
                Signal(ts, intent.side, intent.tag, intent.type, intent.amount, intent.price, intent.exit, intent.leg)
            )
            book, quote = (a, qa) if intent.leg == "primary" else (b, qb)
            price = quote.ask if intent.side == "buy" else quote.bid
            book.apply(intent.side, price, intent.amount)
            result.fills.append(Fill(ts, intent.side, intent.tag, price, intent.amount, intent.leg))
    return result, a, b
