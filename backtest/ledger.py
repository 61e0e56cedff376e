"""The backtester's books: cash, position, resting orders, fills and round trips of one run.
Money is Decimal throughout; the position moves through `bots.positions.apply_fill`, the same
arithmetic as a live bot's Position."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bots.positions import PositionState, apply_fill
from exchanges.fill_model import FillResult, FillTerms, q
from strategies.base import OpenOrder

ZERO = Decimal("0")
DAY_MS = 86_400_000
AVERAGE_QUANTUM = Decimal("1e-18")  # as a stored Position's average entry price


@dataclass(frozen=True)
class TradeRecord:
    """One round trip: from a flat position to a position and back to flat. `pnl` is net of the
    fees of both sides; `entry_price`/`exit_price` are the average fill prices."""

    entry_ms: int
    exit_ms: int | None
    side: str
    amount: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    pnl: Decimal
    fees: Decimal
    return_pct: Decimal
    entry_tag: str
    exit_tag: str

    def as_json(self) -> dict[str, Any]:
        return {
            "entry_ms": self.entry_ms,
            "exit_ms": self.exit_ms,
            "side": self.side,
            "amount": str(self.amount),
            "entry_price": str(self.entry_price),
            "exit_price": None if self.exit_price is None else str(self.exit_price),
            "pnl": str(self.pnl),
            "fees": str(self.fees),
            "return_pct": str(self.return_pct),
            "entry_tag": self.entry_tag,
            "exit_tag": self.exit_tag,
        }


@dataclass(frozen=True)
class FillRecord:
    ts_ms: int
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    maker: bool
    tag: str


@dataclass
class Working:
    """A resting order on the simulated exchange."""

    cid: str
    side: str
    type: str
    amount: Decimal
    price: Decimal
    tag: str
    created_ms: int
    filled: Decimal = ZERO
    reserved: Decimal = ZERO

    def view(self) -> OpenOrder:
        return OpenOrder(
            client_order_id=self.cid,
            side=self.side,
            type=self.type,
            amount=self.amount,
            filled=self.filled,
            price=self.price,
            tag=self.tag,
            created_ms=self.created_ms,
        )


class Ledger:
    """Cash, position, working orders and round trips of one run."""

    def __init__(self, capital: Decimal, terms: FillTerms) -> None:
        self.capital = capital
        self.cash = capital
        self.terms = terms
        self.position = PositionState()
        self.working: list[Working] = []
        self.fills: list[FillRecord] = []
        self.trades: list[TradeRecord] = []
        self.reserved_quote = ZERO
        self.reserved_base = ZERO
        self.realized_net = ZERO  # realized PnL minus all fees paid, closed trades and open one
        self.change_at: list[int] = [0]  # candle index from which (cash, quantity) holds
        self.change_cash: list[float] = [float(capital)]
        self.change_qty: list[float] = [0.0]
        self._open: dict[str, Any] | None = None
        self.losses = 0
        self.last_loss_ms: int | None = None
        self.day = -1
        self.day_trades = 0
        self.day_realized = ZERO
        self.peak = float(capital)
        self.peak_upto = 0  # candles already counted in `peak`
        self._seq = 0

    def roll_day(self, ts_ms: int) -> None:
        """Start a new UTC day's trade count and realized PnL when `ts_ms` is in a new day."""
        day = ts_ms // DAY_MS
        if day != self.day:
            self.day, self.day_trades, self.day_realized = day, 0, ZERO

    def next_cid(self, tag: str) -> str:
        self._seq += 1
        return f"bt{self._seq}:{tag}"

    def book(self, *, index: int, ts_ms: int, side: str, fill: FillResult, tag: str) -> None:
        """Apply one fill to the cash, the position and the round trip it belongs to."""
        before = self.position
        self.roll_day(ts_ms)
        if side == "buy":
            self.cash -= fill.notional + fill.fee
        else:
            self.cash += fill.notional - fill.fee
        after = apply_fill(before, side=side, price=fill.price, amount=fill.amount, fee=fill.fee)
        average = after.average_price.quantize(AVERAGE_QUANTUM) if after.quantity else ZERO
        self.position = PositionState(after.quantity, average, after.realized_pnl, after.fees)
        gained = (after.realized_pnl - before.realized_pnl) - fill.fee
        self.realized_net += gained
        self.day_realized += gained
        self.fills.append(FillRecord(ts_ms, side, fill.price, fill.amount, fill.fee, fill.maker, tag))
        if self.change_at[-1] == index:
            self.change_cash[-1], self.change_qty[-1] = float(self.cash), float(after.quantity)
        else:
            self.change_at.append(index)
            self.change_cash.append(float(self.cash))
            self.change_qty.append(float(after.quantity))
        self._track_trade(before, after, side=side, fill=fill, ts_ms=ts_ms, tag=tag)

    def _track_trade(self, before: PositionState, after: PositionState, *, side, fill, ts_ms, tag) -> None:
        t = self._open
        if before.quantity == 0:
            t = self._open = {
                "entry_ms": ts_ms,
                "side": "long" if side == "buy" else "short",
                "entry_side": side,
                "in_qty": ZERO,
                "in_cost": ZERO,
                "out_qty": ZERO,
                "out_value": ZERO,
                "fees": ZERO,
                "realized": before.realized_pnl,
                "entry_tag": tag,
            }
        if side == t["entry_side"]:
            t["in_qty"] += fill.amount
            t["in_cost"] += fill.price * fill.amount
        else:
            t["out_qty"] += fill.amount
            t["out_value"] += fill.price * fill.amount
        t["fees"] += fill.fee
        if after.quantity == 0:
            self._close_trade(after, exit_ms=ts_ms, exit_tag=tag)

    def _close_trade(self, after: PositionState, *, exit_ms: int | None, exit_tag: str, mark: Decimal = ZERO) -> None:
        t = self._open
        self._open = None
        entry_price = q(t["in_cost"] / t["in_qty"])
        exit_price = q(t["out_value"] / t["out_qty"]) if t["out_qty"] else None
        gross = after.realized_pnl - t["realized"]
        if exit_ms is None:  # still open at the end: marked at the last close
            gross += (mark - after.average_price) * after.quantity
            exit_price = mark
        pnl = q(gross - t["fees"])
        cost = t["in_cost"]
        self.trades.append(
            TradeRecord(
                entry_ms=t["entry_ms"],
                exit_ms=exit_ms,
                side=t["side"],
                amount=t["in_qty"],
                entry_price=entry_price,
                exit_price=exit_price,
                pnl=pnl,
                fees=q(t["fees"]),
                return_pct=(pnl / cost * 100).quantize(Decimal("0.0001")) if cost else ZERO,
                entry_tag=t["entry_tag"],
                exit_tag=exit_tag,
            )
        )
        if exit_ms is not None:
            if pnl < 0:
                self.losses += 1
                self.last_loss_ms = exit_ms
            else:
                self.losses = 0

    def finish(self, mark: Decimal) -> None:
        if self._open is not None:
            self._close_trade(self.position, exit_ms=None, exit_tag="open at end", mark=mark)
