"""Linear perpetuals on the paper exchange: margin, shorts, reduce-only and trigger orders,
funding and liquidation, booked on the account's settle-currency balance (USDT for BTC/USDT:USDT).

- Opening (or adding to) a position posts initial margin `amount x price / leverage` from the free
  balance into `locked`; the fee is paid from free. An order the free balance cannot cover is
  refused ("Margin is insufficient.") and leaves nothing behind.
- Reducing releases the margin pro rata and books the realized PnL into free.
- A resting limit order reserves the margin and maker fee of the part that would open.
- Trigger orders (stop-loss / take-profit) rest without margin and fire as reduce-only market
  orders when a candle reaches their price: a sell stop-loss when the low reaches it, a sell
  take-profit when the high does (the other way round for buys).
- Funding: at every funding time (every `paper_funding_interval_hours`, on the hour) an open
  position receives `-quantity x mark x rate` (`exchanges.perps.funding_payment`), with the rate
  from the stored FundingRate series or the account's `paper_funding_rate`, the mark being the
  close of the candle that ends at that time. Each payment is a PaperFunding row.
- Liquidation: when a candle's range reaches the liquidation price (`exchanges.perps`, margin =
  the posted margin when isolated, the posted margin plus the free balance when cross) the
  position is closed there by a liquidation trade; the posted margin is lost (what is left above
  the maintenance margin is returned for cross). Within a candle, trigger orders act before
  resting orders, and both before a liquidation (the price passes a stop on its way to the
  liquidation price).
- Prices are those of the spot pair's stored candles (see `ReplaySource.series`).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef

from exchanges import perps
from exchanges.errors import InsufficientFundsError, InvalidOrderError
from exchanges.fill_model import FillTerms, is_marketable, maker_fill, q, taker_fill
from exchanges.models import FundingRate, PaperBalance, PaperFunding, PaperOrder, PaperPosition, PaperTrade
from exchanges.perps import FundingEvent, PerpPosition
from exchanges.types import OrderRequest
from exchanges.venues import spot_symbol

ZERO = Decimal("0")
OPEN = ("open", "partially_filled")


def settle_asset(symbol: str) -> str:
    """The margin currency of a linear perpetual: BTC/USDC:USDC -> USDC."""
    return symbol.split(":", 1)[1] if ":" in symbol else spot_symbol(symbol).partition("/")[2]


def _opening_part(quantity: Decimal, delta: Decimal) -> Decimal:
    """How much of a signed order `delta` increases the position's size (after any reduction)."""
    if quantity == 0 or (quantity > 0) == (delta > 0):
        return abs(delta)
    return max(ZERO, abs(delta) - abs(quantity))


def _fires(order: PaperOrder, high: Decimal, low: Decimal) -> bool:
    stop = order.trigger_kind == "sl"
    if order.side == "sell":
        return low <= order.trigger_price if stop else high >= order.trigger_price
    return high >= order.trigger_price if stop else low <= order.trigger_price


class PerpBook:
    """The perpetual side of one paper account; `exchange` is its PaperExchange (clock, source)."""

    def __init__(self, exchange) -> None:
        self.exchange = exchange
        self.account = exchange.account

    @property
    def mmr(self) -> Decimal:
        return perps.maintenance_rate(self.account.paper_max_leverage)

    # -- rows -----------------------------------------------------------------------------------
    def locked_positions(self, symbols: set[str]) -> dict[str, PaperPosition]:
        """The rows, locked (made when missing), each with `has_open`: whether the account has
        open orders on that symbol, so matching a flat one without any costs no second query."""

        def lock() -> dict[str, PaperPosition]:
            working = PaperOrder.objects.filter(account=self.account, symbol=OuterRef("symbol"), status__in=OPEN)
            rows = (
                PaperPosition.objects.select_for_update(of=("self",))
                .filter(account=self.account, symbol__in=symbols)
                .annotate(has_open=Exists(working))
            )
            return {p.symbol: p for p in rows.order_by("symbol")}

        found = lock()
        if len(found) < len(symbols):
            for symbol in symbols - set(found):
                PaperPosition.objects.get_or_create(account=self.account, symbol=symbol)
            found = lock()
        return found

    # -- settings -------------------------------------------------------------------------------
    def set_leverage(self, symbol: str, *, leverage: Decimal, margin_mode: str) -> None:
        top = Decimal(self.account.paper_max_leverage)
        if margin_mode not in ("isolated", "cross"):
            raise InvalidOrderError("The margin mode is isolated or cross.")
        if leverage < 1 or leverage > top:
            raise InvalidOrderError(f"{symbol} allows leverage from 1x to {top}x, not {leverage}x.")
        with transaction.atomic():
            position = self.locked_positions({symbol})[symbol]
            if position.leverage == leverage and position.margin_mode == margin_mode:
                return
            if position.quantity != 0:
                raise InvalidOrderError(
                    f"Leverage and margin mode of {symbol} cannot change while a position is open: close it first."
                )
            position.leverage, position.margin_mode = leverage, margin_mode
            position.save(update_fields=["leverage", "margin_mode"])

    # -- orders ---------------------------------------------------------------------------------
    def accept(
        self, request: OrderRequest, order: PaperOrder, balance: PaperBalance, position: PaperPosition, price_now
    ) -> list[PaperTrade]:
        """Check one perpetual order and book it in memory; raise before changing anything."""
        buy = request.side == "buy"
        delta = request.amount if buy else -request.amount
        if request.trigger_price is not None:
            if request.trigger_kind not in ("sl", "tp"):
                raise InvalidOrderError("A trigger order is a stop-loss (sl) or a take-profit (tp).")
            if request.trigger_price <= 0:
                raise InvalidOrderError("A trigger order needs a positive trigger price.")
            order.type, order.price = "market", None
            order.trigger_price, order.trigger_kind = request.trigger_price, request.trigger_kind
            order.reduce_only = True
            return []
        if request.reduce_only:
            self._check_reduce(position, delta)
            order.reduce_only = True
        terms = FillTerms.of(self.account)
        opening = _opening_part(position.quantity, delta)
        marketable = is_marketable(side=request.side, type=request.type, price=request.price, reference=price_now)
        if not marketable:
            reserve = q(opening * request.price / position.leverage) + q(request.price * opening * terms.maker_fee)
            self._take(balance, reserve)
            balance.locked += reserve
            order.reserved = reserve
            return []
        fill = taker_fill(
            side=request.side,
            type=request.type,
            amount=request.amount,
            price=request.price,
            reference=price_now,
            terms=terms,
        )
        self._check_margin(position, balance, delta, fill.price, fill.fee)
        now = self.exchange.clock.now_ms()
        if position.quantity == 0:
            position.funded_until_ms = position.updated_ms = now
        return [self.book(order, position, balance, fill.price, fill.amount, fill.fee, now, maker=False)]

    @staticmethod
    def _check_reduce(position: PaperPosition, delta: Decimal) -> None:
        if position.quantity == 0 or (position.quantity > 0) == (delta > 0):
            raise InvalidOrderError("Reduce-only order rejected: it would open or increase the position.")
        if abs(delta) > abs(position.quantity):
            raise InvalidOrderError(
                f"Reduce-only order rejected: {abs(delta)} is more than the position ({abs(position.quantity)})."
            )

    def _check_margin(self, position, balance, delta: Decimal, price: Decimal, fee: Decimal) -> None:
        """Refuse before booking when the free balance (plus what reducing gives back) cannot pay
        the margin of the opening part and the fee."""
        qty = position.quantity
        back = ZERO
        if qty and (qty > 0) != (delta > 0):
            closing = min(abs(delta), abs(qty))
            direction = 1 if qty > 0 else -1
            back = position.margin * closing / abs(qty) + closing * (price - position.entry_price) * direction
        need = q(_opening_part(qty, delta) * price / position.leverage) + fee
        if balance.free + back < need:
            raise InsufficientFundsError(
                f"Margin is insufficient: {balance.asset} {balance.free} free, {q(need - back)} needed."
            )

    def _take(self, balance: PaperBalance, amount: Decimal) -> None:
        if balance.free < amount:
            raise InsufficientFundsError(
                f"Margin is insufficient: {balance.asset} {balance.free} free, {amount} needed."
            )
        balance.free -= amount

    def book(
        self,
        order: PaperOrder,
        position: PaperPosition,
        balance: PaperBalance,
        price: Decimal,
        amount: Decimal,
        fee: Decimal,
        ts_ms: int,
        *,
        maker: bool,
        liquidation: bool = False,
    ) -> PaperTrade:
        """Apply one trade to the position and the settle balance (in memory; the caller saves)."""
        if maker and order.reserved:
            share = min(order.reserved, q(order.reserved * amount / (order.amount - order.filled)))
            order.reserved -= share
            balance.locked -= share
            balance.free += share
        delta = amount if order.side == "buy" else -amount
        qty = position.quantity
        if qty and (qty > 0) != (delta > 0):
            closing = min(abs(delta), abs(qty))
            direction = 1 if qty > 0 else -1
            pnl = q(closing * (price - position.entry_price) * direction)
            released = position.margin if closing == abs(qty) else q(position.margin * closing / abs(qty))
            position.margin -= released
            balance.locked -= released
            balance.free += released + pnl
            position.realized_pnl += pnl
            qty += closing * (1 if delta > 0 else -1)
            if qty == 0:
                position.entry_price = ZERO
        opening = _opening_part(position.quantity, delta)
        if opening:
            margin = q(opening * price / position.leverage)
            balance.free -= margin
            balance.locked += margin
            position.margin += margin
            size = abs(qty)
            position.entry_price = q((size * position.entry_price + opening * price) / (size + opening))
            qty += opening if delta > 0 else -opening
        balance.free -= fee
        if balance.free < 0:
            # A loss beyond the margin (a gap through the liquidation price): the account is
            # emptied, never below zero.
            balance.free = ZERO
        position.quantity = qty
        position.updated_ms = max(position.updated_ms, ts_ms)
        order.filled += amount
        order.cost += q(price * amount)
        order.fee += fee
        order.updated_ms = ts_ms
        order.status = "filled" if order.filled >= order.amount else "partially_filled"
        if order.status == "filled" and order.reserved:
            balance.locked -= order.reserved
            balance.free += order.reserved
            order.reserved = ZERO
        return PaperTrade(
            account=self.account,
            order=order if order.pk else None,
            symbol=order.symbol,
            side=order.side,
            price=price,
            amount=amount,
            fee=fee,
            fee_currency=balance.asset,
            is_maker=maker,
            liquidation=liquidation,
            ts_ms=ts_ms,
        )

    # -- the passing of time --------------------------------------------------------------------
    def match(self, symbol: str, position: PaperPosition | None = None) -> None:
        """Bring the symbol up to now, candle by candle: trigger orders, resting orders, funding
        and liquidation (module docstring). `position` is the symbol's row when the caller's
        transaction already holds it locked (it is updated in place)."""
        source, now = self.exchange.source, self.exchange.clock.now_ms()
        step = source.step
        with transaction.atomic(savepoint=False):
            if position is None:
                position = self.locked_positions({symbol})[symbol]
            working = getattr(position, "has_open", True)
            if position.quantity == 0 and not working:
                return  # flat, nothing working: nothing can happen to it
            orders = []
            if working:
                orders = list(
                    PaperOrder.objects.select_for_update()
                    .filter(account=self.account, symbol=symbol, status__in=OPEN)
                    .order_by("pk")
                )
            if not orders and position.quantity == 0:
                return
            start = min([o.matched_until_ms for o in orders] + ([position.updated_ms] if position.quantity else []))
            if start > now - step:
                return
            asset = settle_asset(symbol)
            balance = self.exchange._locked_balances(asset)[asset]
            rates = self._rates(symbol, start, now)
            trades: list[PaperTrade] = []
            funding: list[PaperFunding] = []
            terms = FillTerms.of(self.account)
            hours = self.account.paper_funding_interval_hours
            for candle in source.between(symbol, start, now):
                end = candle.ts + step
                for order in orders:
                    if order.status not in OPEN or order.matched_until_ms > candle.ts:
                        continue
                    if order.trigger_price is not None and _fires(order, candle.high, candle.low):
                        trades.extend(self._fire(order, position, balance, terms, end))
                    elif order.trigger_price is None:
                        fill = maker_fill(
                            side=order.side,
                            price=order.price,
                            remaining=order.amount - order.filled,
                            high=candle.high,
                            low=candle.low,
                            volume=candle.volume,
                            terms=terms,
                        )
                        if fill is not None:
                            trades.extend(self._rest_fill(order, position, balance, fill, end))
                    order.matched_until_ms = end
                if position.quantity and candle.ts >= position.updated_ms:
                    for t in perps.funding_times(
                        since_ms=max(position.funded_until_ms, candle.ts), until_ms=end, interval_hours=hours
                    ):
                        funding.append(self._fund(position, balance, t, candle.close, rates))
                    trade = self._liquidate_if_reached(position, balance, orders, candle, end)
                    if trade is not None:
                        trades.append(trade)
                        orders.append(trade.order)
                position.updated_ms = max(position.updated_ms, end)
            for order in orders:
                order.matched_until_ms = max(order.matched_until_ms, now - now % step)
            PaperOrder.objects.bulk_update(
                orders, ["status", "filled", "cost", "fee", "reserved", "matched_until_ms", "updated_ms"]
            )
            PaperTrade.objects.bulk_create(trades)
            PaperFunding.objects.bulk_create(funding, ignore_conflicts=True)
            position.save()
            balance.save(update_fields=["free", "locked"])

    def _rest_fill(self, order, position, balance, fill, ts) -> list[PaperTrade]:
        amount = fill.amount
        if order.reduce_only:
            delta = amount if order.side == "buy" else -amount
            if position.quantity == 0 or (position.quantity > 0) == (delta > 0):
                self._cancel(order, balance)
                return []
            amount = min(amount, abs(position.quantity))
        opening = _opening_part(position.quantity, amount if order.side == "buy" else -amount)
        if position.quantity == 0 and opening:
            position.funded_until_ms = ts
        fee = q(fill.price * amount * FillTerms.of(self.account).maker_fee)
        return [self.book(order, position, balance, fill.price, amount, fee, ts, maker=True)]

    def _fire(self, order, position, balance, terms: FillTerms, ts: int) -> list[PaperTrade]:
        delta_sign = 1 if order.side == "buy" else -1
        if position.quantity == 0 or (position.quantity > 0) == (delta_sign > 0):
            self._cancel(order, balance)  # nothing left to protect
            return []
        amount = min(order.amount - order.filled, abs(position.quantity))
        slip = 1 + terms.slippage if order.side == "buy" else 1 - terms.slippage
        price = q(order.trigger_price * slip)
        fee = q(price * amount * terms.taker_fee)
        trade = self.book(order, position, balance, price, amount, fee, ts, maker=False)
        order.status = "filled"  # a fired trigger is done, even when the position was smaller
        return [trade]

    @staticmethod
    def _cancel(order: PaperOrder, balance: PaperBalance) -> None:
        if order.reserved:
            balance.locked -= order.reserved
            balance.free += order.reserved
            order.reserved = ZERO
        order.status = "canceled"

    def _rates(self, symbol: str, start_ms: int, end_ms: int) -> dict[int, Decimal]:
        from exchanges.market_data import ms_to_dt

        rows = FundingRate.objects.filter(
            exchange=self.exchange.source.exchange, symbol=symbol, ts__gt=ms_to_dt(start_ms), ts__lte=ms_to_dt(end_ms)
        ).values_list("ts", "rate")
        return {int(ts.timestamp() * 1000): rate for ts, rate in rows}

    def _fund(self, position, balance, t: int, mark: Decimal, rates: dict[int, Decimal]) -> PaperFunding:
        rate = rates.get(t, self.account.paper_funding_rate)
        amount = perps.funding_payment(quantity=position.quantity, mark=mark, rate=rate)
        if position.margin_mode == "isolated" and amount < 0:
            # An isolated position pays funding out of its own margin.
            paid = min(-amount, position.margin)
            position.margin -= paid
            balance.locked -= paid
            balance.free = max(ZERO, balance.free - (-amount - paid))
        else:
            balance.free = max(ZERO, balance.free + amount)
        position.funding += amount
        position.funded_until_ms = t
        return PaperFunding(
            account=self.account,
            symbol=position.symbol,
            ts_ms=t,
            rate=rate,
            quantity=position.quantity,
            mark_price=mark,
            amount=amount,
        )

    def liquidation_price(self, position: PaperPosition, free: Decimal) -> Decimal | None:
        margin = position.margin + (free if position.margin_mode == "cross" else ZERO)
        return perps.liquidation_price(
            quantity=position.quantity, entry=position.entry_price, margin=margin, mmr=self.mmr
        )

    def _liquidate_if_reached(self, position, balance, orders, candle, ts) -> PaperTrade | None:
        price = self.liquidation_price(position, balance.free)
        if not perps.is_liquidated(quantity=position.quantity, liquidation=price, low=candle.low, high=candle.high):
            return None
        size = abs(position.quantity)
        side = "sell" if position.quantity > 0 else "buy"
        order = PaperOrder(
            account=self.account,
            client_order_id=f"liq-{position.pk}-{ts}",
            symbol=position.symbol,
            side=side,
            type="market",
            amount=size,
            reduce_only=True,
            status="open",
            created_ms=ts,
            matched_until_ms=ts,
            updated_ms=ts,
        )
        order.save()
        maintenance = perps.maintenance_margin(quantity=size, mark=price, mmr=self.mmr)
        trade = self.book(order, position, balance, price, size, ZERO, ts, maker=False, liquidation=True)
        # At the liquidation price the margin plus the loss is the maintenance margin, which the
        # exchange keeps: isolated, the free balance ends where it was; cross, it ends empty.
        balance.free = max(ZERO, balance.free - maintenance)
        for other in orders:
            if other.status in OPEN and other.reduce_only:
                self._cancel(other, balance)
        return trade

    # -- views ----------------------------------------------------------------------------------
    def positions(self, symbols=None) -> list[PerpPosition]:
        rows = PaperPosition.objects.filter(account=self.account).exclude(quantity=0)
        if symbols:
            rows = rows.filter(symbol__in=list(symbols))
        for symbol in list(rows.values_list("symbol", flat=True)):
            self.match(symbol)
        free = {b.asset: b.free for b in PaperBalance.objects.filter(account=self.account)}
        out = []
        for p in rows.all():
            mark = self.exchange.source.last_price(p.symbol, self.exchange.clock.now_ms()) or p.entry_price
            out.append(
                PerpPosition(
                    symbol=p.symbol,
                    quantity=p.quantity,
                    entry_price=p.entry_price,
                    mark_price=mark,
                    unrealized_pnl=perps.unrealized_pnl(quantity=p.quantity, entry=p.entry_price, mark=mark),
                    liquidation_price=self.liquidation_price(p, free.get(settle_asset(p.symbol), ZERO)),
                    margin_used=p.margin,
                    leverage=p.leverage,
                    margin_mode=p.margin_mode,
                )
            )
        return out

    def funding_payments(self, symbol: str, since: int | None = None) -> list[FundingEvent]:
        self.match(symbol)
        rows = PaperFunding.objects.filter(account=self.account, symbol=symbol)
        if since is not None:
            rows = rows.filter(ts_ms__gte=since)
        return [
            FundingEvent(
                id=f"paper-{r.pk}",
                symbol=r.symbol,
                ts=r.ts_ms,
                amount=r.amount,
                rate=r.rate,
                quantity=r.quantity,
                mark_price=r.mark_price,
            )
            for r in rows.order_by("ts_ms")
        ]
