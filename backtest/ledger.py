"""The backtester's books: cash, position, resting orders, fills and round trips of one run.
Money is Decimal throughout; the position moves through `bots.positions.apply_fill`, the same
arithmetic as a live bot's Position.

`Ledger` books spot trading (a buy pays the notional, a sell needs the base). `PerpLedger` books
a linear perpetual as the paper exchange does (`exchanges/paper_perps.py`), with the formulas of
`exchanges.perps`: an entry posts initial margin `amount x price / leverage` from the free cash,
a reduction releases it pro rata with the realized PnL, funding is paid or received at each
funding time, and a position whose candle reaches its liquidation price is closed there with its
margin lost."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from bots.positions import PositionState, apply_fill
from exchanges import perps
from exchanges.fill_model import FillResult, FillTerms, q, resting_reserve
from strategies.base import OpenOrder

ZERO = Decimal("0")
DAY_MS = 86_400_000
AVERAGE_QUANTUM = Decimal("1e-18")  # as a stored Position's average entry price
NEAR = 1e-9  # relative float margin before a liquidation is confirmed in Decimal


def dec(value: float) -> Decimal:
    """A candle value as the paper exchange holds it (the decimal text of the stored number)."""
    return Decimal(repr(float(value)))


@dataclass(frozen=True)
class PerpTerms:
    """How a perpetual is traded in a run: leverage, margin mode, the funding rate charged every
    `funding_interval_hours`, and the market's maximum leverage (which sets the maintenance rate)."""

    leverage: Decimal = Decimal("1")
    margin_mode: str = "isolated"  # isolated | cross
    funding_rate: Decimal = ZERO  # per interval; longs pay a positive rate
    funding_interval_hours: int = 8
    max_leverage: Decimal = Decimal("50")

    @property
    def maintenance_rate(self) -> Decimal:
        return perps.maintenance_rate(self.max_leverage)

    def as_json(self) -> dict[str, Any]:
        return {
            "leverage": str(self.leverage),
            "margin_mode": self.margin_mode,
            "funding_rate": str(self.funding_rate),
            "funding_interval_hours": self.funding_interval_hours,
            "max_leverage": str(self.max_leverage),
            "maintenance_rate": str(self.maintenance_rate),
        }


@dataclass(frozen=True)
class TradeRecord:
    """One round trip: from a flat position to a position and back to flat. `pnl` is net of the
    fees of both sides (and, on a perpetual, of the funding and of a liquidation's lost margin);
    `entry_price`/`exit_price` are the average fill prices. `funding` is None on spot."""

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
    funding: Decimal | None = None
    liquidated: bool = False

    def as_json(self) -> dict[str, Any]:
        out = {
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
        if self.funding is not None:
            out |= {"funding": str(self.funding), "liquidated": self.liquidated}
        return out


@dataclass(frozen=True)
class FillRecord:
    ts_ms: int
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    maker: bool
    tag: str
    liquidation: bool = False


@dataclass(frozen=True)
class FundingRecord:
    """One funding payment: `amount` received (negative: paid) at funding time `ts_ms`."""

    ts_ms: int
    rate: Decimal
    quantity: Decimal
    mark: Decimal
    amount: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts_ms,
            "rate": str(self.rate),
            "quantity": str(self.quantity),
            "mark": str(self.mark),
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class LiquidationRecord:
    """A position closed by liquidation: at `price`, on the candle opening at `candle_ms` (the
    fill is booked at that candle's close, `ts_ms`); `margin_lost` is what the account lost."""

    ts_ms: int
    candle_ms: int
    side: str
    quantity: Decimal
    entry_price: Decimal
    price: Decimal
    margin_lost: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts_ms,
            "candle_ms": self.candle_ms,
            "side": self.side,
            "quantity": str(self.quantity),
            "entry_price": str(self.entry_price),
            "price": str(self.price),
            "margin_lost": str(self.margin_lost),
        }


@dataclass
class Working:
    """A resting order on the simulated exchange. `exit` orders of a perpetual are reduce-only."""

    cid: str
    side: str
    type: str
    amount: Decimal
    price: Decimal
    tag: str
    created_ms: int
    filled: Decimal = ZERO
    reserved: Decimal = ZERO
    exit: bool = False

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
    """Cash, position, working orders and round trips of one spot run."""

    perp = False

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
        self.realized_net = ZERO  # realized PnL minus all fees paid (plus funding), closed trades and open one
        self.change_at: list[int] = [0]  # candle index from which (cash, quantity) holds
        self.change_cash: list[float] = [float(capital)]  # equity at a close = cash + quantity x close
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

    # -- what the account can pay for -----------------------------------------------------------
    def refusal(self, *, side: str, fill: FillResult, exit: bool) -> str | None:
        """Why the account cannot take this immediate fill (None: it can). Spot: a buy needs the
        free quote, a sell the free base."""
        if side == "buy" and self.cash - self.reserved_quote < fill.notional + fill.fee:
            return "insufficient_funds"
        if side == "sell" and self.position.quantity - self.reserved_base < fill.amount:
            return "insufficient_funds"
        return None

    def reserve(self, *, side: str, price: Decimal, amount: Decimal, exit: bool) -> tuple[Decimal, str | None]:
        """Hold back what a resting order needs: (the amount held, None) or (0, the refusal)."""
        reserve = resting_reserve(side=side, price=price, amount=amount, terms=self.terms)
        if side == "buy":
            if self.cash - self.reserved_quote < reserve:
                return ZERO, "insufficient_funds"
            self.reserved_quote += reserve
        else:
            if self.position.quantity - self.reserved_base < reserve:
                return ZERO, "insufficient_funds"
            self.reserved_base += reserve
        return reserve, None

    def consume(self, w: Working, fill: FillResult) -> FillResult | None:
        """Take a resting order's fill out of its reservation; the fill to book (None: cancel it)."""
        if w.side == "buy":
            spent = min(w.reserved, fill.notional + fill.fee)
            w.reserved -= spent
            self.reserved_quote -= spent
        else:
            w.reserved -= fill.amount
            self.reserved_base -= fill.amount
        return fill

    def release(self, w: Working) -> None:
        """Give back what is still reserved for a working order."""
        if w.side == "buy":
            self.reserved_quote -= w.reserved
        else:
            self.reserved_base -= w.reserved
        w.reserved = ZERO

    def equity(self, mark: Decimal) -> Decimal:
        return self.cash + self.position.quantity * mark

    # -- booking --------------------------------------------------------------------------------
    def book(self, *, index: int, ts_ms: int, side: str, fill: FillResult, tag: str) -> None:
        """Apply one fill to the cash, the position and the round trip it belongs to."""
        self._apply(index=index, ts_ms=ts_ms, side=side, price=fill.price, amount=fill.amount, fee=fill.fee, tag=tag)
        self.fills.append(FillRecord(ts_ms, side, fill.price, fill.amount, fill.fee, fill.maker, tag))

    def _settle(self, before: PositionState, side: str, price: Decimal, amount: Decimal, fee: Decimal) -> None:
        if side == "buy":
            self.cash -= q(price * amount) + fee
        else:
            self.cash += q(price * amount) - fee

    def _apply(self, *, index: int, ts_ms: int, side: str, price: Decimal, amount: Decimal, fee: Decimal, tag: str):
        before = self.position
        self.roll_day(ts_ms)
        self._settle(before, side, price, amount, fee)
        after = apply_fill(before, side=side, price=price, amount=amount, fee=fee)
        average = after.average_price.quantize(AVERAGE_QUANTUM) if after.quantity else ZERO
        self.position = PositionState(after.quantity, average, after.realized_pnl, after.fees)
        gained = (after.realized_pnl - before.realized_pnl) - fee
        self.realized_net += gained
        self.day_realized += gained
        self._changed(index)
        self._track_trade(before, after, side=side, price=price, amount=amount, fee=fee, ts_ms=ts_ms, tag=tag)

    def _base(self) -> float:
        """The part of the equity that does not move with the price (equity = it + qty x close)."""
        return float(self.cash)

    def _changed(self, index: int) -> None:
        base, qty = self._base(), float(self.position.quantity)
        if self.change_at[-1] == index:
            self.change_cash[-1], self.change_qty[-1] = base, qty
        else:
            self.change_at.append(index)
            self.change_cash.append(base)
            self.change_qty.append(qty)

    def _track_trade(self, before: PositionState, after: PositionState, *, side, price, amount, fee, ts_ms, tag):
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
                "funding": ZERO,
                "lost": ZERO,  # a liquidation's margin beyond the price loss
                "realized": before.realized_pnl,
                "entry_tag": tag,
            }
        if side == t["entry_side"]:
            t["in_qty"] += amount
            t["in_cost"] += price * amount
        else:
            t["out_qty"] += amount
            t["out_value"] += price * amount
        t["fees"] += fee
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
        pnl = q(gross + t["funding"] - t["lost"] - t["fees"])
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
                funding=t["funding"] if self.perp else None,
                liquidated=exit_tag == "liquidation",
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


def _opening(quantity: Decimal, delta: Decimal) -> Decimal:
    """How much of a signed order `delta` increases the position's size (after any reduction)."""
    if quantity == 0 or (quantity > 0) == (delta > 0):
        return abs(delta)
    return max(ZERO, abs(delta) - abs(quantity))


class PerpLedger(Ledger):
    """The books of a linear perpetual: `cash` is the free settle balance plus what resting orders
    hold back (`reserved_quote`), `margin` is posted for the open position, and the equity is
    cash + margin + unrealized PnL. `settle` brings funding and liquidation up to a candle."""

    perp = True

    def __init__(
        self, capital: Decimal, terms: FillTerms, market: PerpTerms, *, ts: np.ndarray, high, low, close, step_ms: int
    ) -> None:
        super().__init__(capital, terms)
        self.market = market
        self.mmr = market.maintenance_rate
        self.margin = ZERO
        self.funding: list[FundingRecord] = []
        self.funding_total = ZERO
        self.liquidations: list[LiquidationRecord] = []
        self.settled = 0  # the first candle whose funding and liquidation are not settled yet
        self._ts, self._high, self._low, self._close = ts.tolist(), high, low, close
        self._high_l, self._low_l, self._close_l = high.tolist(), low.tolist(), close.tolist()
        self._step = step_ms
        self._cross = market.margin_mode == "cross"
        self._liq: Decimal | None = None
        self._liq_stale = True
        self._fund_at: list[int] = []  # candles with a funding time in (open, close]
        if market.funding_rate:
            interval = market.funding_interval_hours * perps.HOUR_MS
            crossed = (ts + step_ms) // interval - ts // interval
            self._fund_at = np.flatnonzero(crossed > 0).tolist()

    @property
    def free(self) -> Decimal:
        return self.cash - self.reserved_quote

    # -- what the account can pay for -----------------------------------------------------------
    def _reduce_refusal(self, delta: Decimal) -> str | None:
        qty = self.position.quantity
        if qty == 0 or (qty > 0) == (delta > 0) or abs(delta) > abs(qty):
            return "reduce_only"
        return None

    def refusal(self, *, side: str, fill: FillResult, exit: bool) -> str | None:
        """An exit is reduce-only: it may not open, increase or flip the position. An entry needs
        the initial margin of the part that opens plus the fee, from the free cash and what the
        part that reduces gives back (the paper exchange's check)."""
        delta = fill.amount if side == "buy" else -fill.amount
        if exit:
            return self._reduce_refusal(delta)
        qty = self.position.quantity
        back = ZERO
        if qty and (qty > 0) != (delta > 0):
            closing = min(fill.amount, abs(qty))
            direction = 1 if qty > 0 else -1
            back = self.margin * closing / abs(qty) + closing * (fill.price - self.position.average_price) * direction
        need = q(_opening(qty, delta) * fill.price / self.market.leverage) + fill.fee
        return "margin_refused" if self.free + back < need else None

    def reserve(self, *, side: str, price: Decimal, amount: Decimal, exit: bool) -> tuple[Decimal, str | None]:
        """A resting entry holds the margin and maker fee of the part that would open; a resting
        exit holds nothing."""
        delta = amount if side == "buy" else -amount
        if exit:
            return ZERO, self._reduce_refusal(delta)
        opening = _opening(self.position.quantity, delta)
        reserve = q(opening * price / self.market.leverage) + q(price * opening * self.terms.maker_fee)
        if self.free < reserve:
            return ZERO, "margin_refused"
        self.reserved_quote += reserve
        self._liq_stale = True
        return reserve, None

    def consume(self, w: Working, fill: FillResult) -> FillResult | None:
        if w.reserved:
            share = min(w.reserved, q(w.reserved * fill.amount / (w.amount - w.filled)))
            w.reserved -= share
            self.reserved_quote -= share
            self._liq_stale = True
        if not w.exit:
            return fill
        qty = self.position.quantity
        if qty == 0 or (qty > 0) == (w.side == "buy"):
            return None  # nothing left for a reduce-only order to reduce
        amount = min(fill.amount, abs(qty))
        return FillResult(fill.price, amount, q(fill.price * amount * self.terms.maker_fee), True)

    def release(self, w: Working) -> None:
        self.reserved_quote -= w.reserved
        w.reserved = ZERO
        self._liq_stale = True

    def equity(self, mark: Decimal) -> Decimal:
        p = self.position
        return self.cash + self.margin + (p.quantity * (mark - p.average_price) if p.quantity else ZERO)

    # -- booking --------------------------------------------------------------------------------
    def book(self, *, index: int, ts_ms: int, side: str, fill: FillResult, tag: str) -> None:
        """Apply one fill; a fill that crosses zero closes the position, then opens the rest (the
        fee shared pro rata), so each round trip stays whole."""
        qty = self.position.quantity
        closing = min(fill.amount, abs(qty)) if qty and (qty > 0) != (side == "buy") else ZERO
        parts = [(fill.amount, fill.fee)]
        if ZERO < closing < fill.amount:
            fee = q(fill.fee * closing / fill.amount)
            parts = [(closing, fee), (fill.amount - closing, fill.fee - fee)]
        for amount, fee in parts:
            self._apply(index=index, ts_ms=ts_ms, side=side, price=fill.price, amount=amount, fee=fee, tag=tag)
        self.fills.append(FillRecord(ts_ms, side, fill.price, fill.amount, fill.fee, fill.maker, tag))

    def _settle(self, before: PositionState, side: str, price: Decimal, amount: Decimal, fee: Decimal) -> None:
        qty = before.quantity
        if qty and (qty > 0) != (side == "buy"):
            released = self.margin if amount == abs(qty) else q(self.margin * amount / abs(qty))
            direction = 1 if qty > 0 else -1
            self.margin -= released
            self.cash += released + q(amount * (price - before.average_price) * direction)
        else:
            posted = q(amount * price / self.market.leverage)
            self.margin += posted
            self.cash -= posted
        self.cash -= fee
        self._liq_stale = True

    def _base(self) -> float:
        p = self.position
        return float(self.cash + self.margin - p.quantity * p.average_price)

    # -- the passing of time --------------------------------------------------------------------
    def settle(self, a: int, b: int) -> int | None:
        """Funding and liquidation on candles a..b (inclusive) for the position held over them, in
        the paper exchange's order within a candle: funding at its close, then the liquidation
        check against its range. Returns the candle of a liquidation (which ends the stretch)."""
        fund_at, n = self._fund_at, len(self._ts)
        while a <= b and self.position.quantity:
            k = bisect.bisect_left(fund_at, a)
            if k < len(fund_at) and fund_at[k] == a:
                self._fund(a)
                k += 1
            end = min(b, (fund_at[k] if k < len(fund_at) else n) - 1)
            hit = self._reached(a, end)
            if hit is not None:
                self._liquidate(hit)
                self.settled = hit + 1
                return hit
            a = end + 1
        self.settled = max(self.settled, b + 1)
        return None

    def liquidation_price(self) -> Decimal | None:
        """`exchanges.perps.liquidation_price` on the posted margin (isolated) or the posted
        margin and the free cash (cross)."""
        if self._liq_stale:
            p = self.position
            margin = self.margin + (self.free if self._cross else ZERO)
            self._liq = perps.liquidation_price(quantity=p.quantity, entry=p.average_price, margin=margin, mmr=self.mmr)
            self._liq_stale = False
        return self._liq

    def _reached(self, a: int, b: int) -> int | None:
        """The first candle of a..b whose range reaches the liquidation price."""
        liq = self.liquidation_price()
        if liq is None or b < a:
            return None
        qty = self.position.quantity
        long = qty > 0
        if b - a < 16:
            level = float(liq) * (1 + NEAR if long else 1 - NEAR)
            side = self._low_l if long else self._high_l
            near = [j for j in range(a, b + 1) if (side[j] <= level if long else side[j] >= level)]
        else:
            near = a + (
                np.flatnonzero(self._low[a : b + 1] <= float(liq) * (1 + NEAR))
                if long
                else np.flatnonzero(self._high[a : b + 1] >= float(liq) * (1 - NEAR))
            )
            near = near.tolist()
        for j in near:  # the float test is a filter; Decimal decides
            if perps.is_liquidated(quantity=qty, liquidation=liq, low=dec(self._low_l[j]), high=dec(self._high_l[j])):
                return j
        return None

    def _fund(self, k: int) -> None:
        """Every funding time within candle k, marked at its close: the position receives
        `-quantity x mark x rate`; an isolated position pays out of its margin first."""
        p = self.position
        mark = dec(self._close_l[k])
        rate = self.market.funding_rate
        opened = self._open
        for t in perps.funding_times(
            since_ms=self._ts[k], until_ms=self._ts[k] + self._step, interval_hours=self.market.funding_interval_hours
        ):
            amount = perps.funding_payment(quantity=p.quantity, mark=mark, rate=rate)
            if amount < 0 and not self._cross:
                paid = min(-amount, self.margin)
                self.margin -= paid
                self.cash -= -amount - paid
            else:
                self.cash += amount
            self.roll_day(t)
            self.funding_total += amount
            self.realized_net += amount
            self.day_realized += amount
            opened["funding"] += amount
            self.funding.append(FundingRecord(t, rate, p.quantity, mark, amount))
        self._liq_stale = True
        self._changed(k)

    def _liquidate(self, j: int) -> None:
        """Close the position at its liquidation price on candle j: no fee, the margin (cross: the
        margin and the free cash) is lost, so the cash ends where it was (cross: at what resting
        orders hold back)."""
        p = self.position
        price = self.liquidation_price()
        size = abs(p.quantity)
        side = "sell" if p.quantity > 0 else "buy"
        ts_ms = self._ts[j] + self._step
        for w in [w for w in self.working if w.exit]:  # reduce-only: nothing left to reduce
            self.release(w)
            self.working.remove(w)
        gross = q(size * (price - p.average_price) * (1 if p.quantity > 0 else -1))
        lost_margin = self.margin + (self.free if self._cross else ZERO)
        kept = max(ZERO, lost_margin + gross)  # what the exchange keeps beyond the price loss
        self.cash -= kept
        self.realized_net -= kept
        self.roll_day(ts_ms)
        self.day_realized -= kept
        self._open["lost"] += kept
        self.liquidations.append(
            LiquidationRecord(
                ts_ms=ts_ms,
                candle_ms=self._ts[j],
                side="long" if p.quantity > 0 else "short",
                quantity=p.quantity,
                entry_price=p.average_price,
                price=price,
                margin_lost=lost_margin,
            )
        )
        self._apply(index=j, ts_ms=ts_ms, side=side, price=price, amount=size, fee=ZERO, tag="liquidation")
        self.fills.append(FillRecord(ts_ms, side, price, size, ZERO, False, "liquidation", liquidation=True))
