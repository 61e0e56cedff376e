"""Position arithmetic on plain Decimals (average cost, signed quantity), and its application to
Position rows. A position is always the ordered sum of its fills: `position_rebuild` replays them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import transaction

from bots.models import Fill, Position

ZERO = Decimal("0")


@dataclass(frozen=True)
class PositionState:
    quantity: Decimal = ZERO  # signed: negative is short
    average_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # before fees
    fees: Decimal = ZERO  # in quote currency


def apply_fill(state: PositionState, *, side: str, price: Decimal, amount: Decimal, fee: Decimal) -> PositionState:
    """The position after one fill. Increasing moves the average cost; reducing realizes
    (price - average) per unit closed; crossing zero opens the remainder at the fill price."""
    delta = amount if side == "buy" else -amount
    q, avg = state.quantity, state.average_price
    fees = state.fees + fee
    if q == 0 or (q > 0) == (delta > 0):
        new_q = q + delta
        new_avg = (abs(q) * avg + amount * price) / abs(new_q)
        return replace(state, quantity=new_q, average_price=new_avg, fees=fees)
    closing = min(abs(delta), abs(q))
    direction = 1 if q > 0 else -1
    realized = state.realized_pnl + closing * (price - avg) * direction
    new_q = q + delta
    if new_q == 0:
        new_avg = ZERO
    elif (new_q > 0) != (q > 0):
        new_avg = price  # flipped: the remainder is a new position at this price
    else:
        new_avg = avg
    return PositionState(quantity=new_q, average_price=new_avg, realized_pnl=realized, fees=fees)


def unrealized_pnl(state: PositionState, mark: Decimal) -> Decimal:
    return (mark - state.average_price) * state.quantity


def fee_in_quote(fill: Fill) -> Decimal:
    """Fees are booked in the quote currency; a fee charged in the base asset is valued at the fill price."""
    base = fill.symbol.split("/")[0]
    return fill.fee * fill.price if fill.fee_currency == base else fill.fee


def _state(position: Position) -> PositionState:
    return PositionState(position.quantity, position.average_entry_price, position.realized_pnl, position.fees_paid)


def _store(position: Position, state: PositionState) -> None:
    position.quantity = state.quantity
    position.average_entry_price = state.average_price.quantize(Decimal("1e-18"))
    position.realized_pnl = state.realized_pnl
    position.fees_paid = state.fees


def _replay(
    position: Position | None, fills: Iterable[Fill], *, bot_id: int, symbol: str, touched: list | None = None
) -> Position | None:
    """Apply fills in order onto `position` (opening one when needed), saving each round trip as it
    closes (new ones in one insert); returns the still-open position, saved, or None. Every
    position written is appended to `touched` when given."""
    closed_new: list[Position] = []
    for fill in fills:
        if position is None:
            position = Position(organization_id=fill.organization_id, bot_id=bot_id, symbol=symbol, opened_at=fill.ts)
        state = apply_fill(
            _state(position), side=fill.side, price=fill.price, amount=fill.amount, fee=fee_in_quote(fill)
        )
        _store(position, state)
        position.last_fill_at = max(position.last_fill_at or fill.ts, fill.ts)
        if state.quantity == 0:
            position.closed_at, position.exit_reason = fill.ts, position.exit_reason or "flat"
            if position.pk:
                position.save()
            else:
                closed_new.append(position)
            if touched is not None:
                touched.append(position)
            position = None
    if closed_new:
        Position.objects.bulk_create(closed_new)
    if position is not None:
        position.save()
        if touched is not None:
            touched.append(position)
    return position


def position_apply_fills(*, fills: list[Fill]) -> list[Position]:
    """Add newly stored fills to their bots' open positions (opening one where needed). When a new
    fill is older than one already applied, the position is rebuilt from all fills instead, so the
    result never depends on the order in which the exchange reported them. Returns the positions
    written (for the live update)."""
    touched: list[Position] = []
    groups: dict[tuple[int, str], list[Fill]] = {}
    for fill in fills:
        if fill.bot_id is not None:
            groups.setdefault((fill.bot_id, fill.symbol), []).append(fill)
    for (bot_id, symbol), new in groups.items():
        new.sort(key=lambda f: (f.ts, f.pk))
        # Part of the caller's transaction when there is one (no savepoint needed: any failure
        # there rolls the fills back too).
        with transaction.atomic(savepoint=False):
            position = (
                Position.objects.select_for_update()
                .filter(bot_id=bot_id, symbol=symbol, closed_at__isnull=True)
                .first()
            )
            if position is not None and position.last_fill_at is not None:
                # Every earlier fill is in this position or in closed ones before it.
                latest_before = position.last_fill_at
            else:
                latest_before = (
                    Fill.objects.filter(bot_id=bot_id, symbol=symbol)
                    .exclude(pk__in=[f.pk for f in new])
                    .order_by("-ts")
                    .values_list("ts", flat=True)
                    .first()
                )
            if latest_before is not None and new[0].ts < latest_before:
                position_rebuild(bot_id=bot_id, symbol=symbol, touched=touched)
            else:
                _replay(position, new, bot_id=bot_id, symbol=symbol, touched=touched)
    return touched


def position_rebuild(*, bot_id: int, symbol: str, touched: list | None = None) -> Position | None:
    """Replay every fill of a bot and symbol in time order into position rows (one per round trip)."""
    with transaction.atomic():
        Position.objects.filter(bot_id=bot_id, symbol=symbol).select_for_update().delete()
        fills = Fill.objects.filter(bot_id=bot_id, symbol=symbol).order_by("ts", "pk")
        return _replay(None, fills, bot_id=bot_id, symbol=symbol, touched=touched)
