"""The paper exchange: real candles replayed, balances and orders in our database.

Market orders fill at the next price (the open of the next candle) worsened by the account's
slippage; limit orders rest and fill at their price when a later candle trades through it, at
most `paper_participation` of that candle's volume per candle (so thin candles give partial
fills). Fees are charged in the quote currency. The fill rule itself is `exchanges.fill_model`,
which the backtester applies too. It answers through the same interface, and with
the same errors, as a real exchange.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from django.db import IntegrityError, transaction

from exchanges.client import ExchangeClient
from exchanges.errors import (
    DuplicateOrderError,
    ExchangeError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
)
from exchanges.fill_model import QUANTUM, FillTerms, is_marketable, maker_fill, q, resting_reserve, taker_fill
from exchanges.market_data import ReplaySource
from exchanges.models import ExchangeAccount, PaperBalance, PaperOrder, PaperTrade
from exchanges.paper_perps import PerpBook
from exchanges.perps import FundingEvent, PerpPosition
from exchanges.types import Balance, Candle, ExchangeOrder, ExchangeTrade, Market, OrderBook, OrderRequest, Ticker
from exchanges.venues import is_perp_symbol, spot_symbol

OPEN = ("open", "partially_filled")


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a spot pair or of a linear perpetual (BTC/USDT:USDT -> BTC, USDT)."""
    base, _, quote = spot_symbol(symbol).partition("/")
    if not base or not quote:
        raise InvalidOrderError(f"{symbol!r} is not a market symbol like BTC/USDT.")
    return base, quote


def paper_balance_set(*, account: ExchangeAccount, asset: str, free: Decimal) -> PaperBalance:
    """Fund (or reset) a paper account's free balance of one asset."""
    if free < 0:
        raise InvalidOrderError("A balance cannot be negative.")
    balance, _ = PaperBalance.objects.update_or_create(account=account, asset=asset, defaults={"free": free})
    return balance


class PaperExchange(ExchangeClient):
    atomic_batches = True  # create_orders is one database transaction

    def trigger_orders(self, symbol: str) -> bool:
        return is_perp_symbol(symbol)

    def __init__(self, account: ExchangeAccount, *, source: ReplaySource, clock) -> None:
        self.account = account
        self.source = source
        self.clock = clock
        self.perps = PerpBook(self)

    # -- market data --------------------------------------------------------------------------------
    def markets(self) -> dict[str, Market]:
        out = {}
        for symbol in self.source.symbols():
            base, quote = split_symbol(symbol)
            out[symbol] = Market(
                symbol=symbol,
                base=base,
                quote=quote,
                amount_step=QUANTUM,
                price_step=QUANTUM,
                min_amount=QUANTUM,
                min_notional=Decimal("0"),
            )
            # Every pair is also a linear perpetual settled in its quote currency.
            out[f"{symbol}:{quote}"] = Market(
                symbol=f"{symbol}:{quote}",
                base=base,
                quote=quote,
                amount_step=QUANTUM,
                price_step=QUANTUM,
                min_amount=QUANTUM,
                min_notional=Decimal("0"),
                type="swap",
                settle=quote,
                max_leverage=Decimal(self.account.paper_max_leverage),
            )
        return out

    def _price(self, symbol: str) -> Decimal:
        price = self.source.next_price(symbol, self.clock.now_ms())
        if price is None:
            raise InvalidOrderError(f"The paper exchange has no market data for {symbol}.")
        return price

    def ticker(self, symbol: str) -> Ticker:
        now = self.clock.now_ms()
        last = self.source.last_price(symbol, now)
        if last is None:
            raise InvalidOrderError(f"The paper exchange has no market data for {symbol}.")
        return Ticker(symbol=symbol, last=last, bid=last, ask=last, ts=now)

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        # Candles carry no depth: one level each side at the last price, sized by the last volume.
        candles = self.source.completed(symbol, self.clock.now_ms(), 1)
        if not candles:
            return OrderBook(symbol=symbol, bids=[], asks=[])
        c = candles[-1]
        return OrderBook(symbol=symbol, bids=[(c.close, c.volume)], asks=[(c.close, c.volume)], ts=self.clock.now_ms())

    def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int = 500) -> list[Candle]:
        if timeframe != self.source.timeframe:
            raise InvalidOrderError(f"The paper exchange replays {self.source.timeframe} candles only.")
        now = self.clock.now_ms()
        if since is None:
            return self.source.completed(symbol, now, limit)
        return self.source.between(symbol, since, now)[:limit]

    # -- account ------------------------------------------------------------------------------------
    def balances(self) -> dict[str, Balance]:
        return {
            b.asset: Balance(asset=b.asset, free=b.free, used=b.locked)
            for b in PaperBalance.objects.filter(account=self.account)
        }

    def _locked_balances(self, *assets: str) -> dict[str, PaperBalance]:
        def lock() -> dict[str, PaperBalance]:
            # Ordered by asset: a fixed lock order, so two orders never deadlock each other.
            rows = PaperBalance.objects.select_for_update().filter(account=self.account, asset__in=assets)
            return {b.asset: b for b in rows.order_by("asset")}

        found = lock()
        if len(found) < len(set(assets)):
            for asset in set(assets) - set(found):
                PaperBalance.objects.get_or_create(account=self.account, asset=asset)
            found = lock()
        return found

    # -- orders -------------------------------------------------------------------------------------
    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        answer = self.create_orders([request])[0]
        if isinstance(answer, ExchangeError):
            raise answer
        return answer

    def create_orders(self, requests: list[OrderRequest]) -> list[ExchangeOrder | ExchangeError]:
        """All in one transaction: balances locked once, orders and trades inserted in bulk. An
        order the account cannot pay for, or that is invalid, gets its error and leaves no trace."""
        answers: list[ExchangeOrder | ExchangeError | None] = [None] * len(requests)
        assets = set()
        perp_symbols = set()
        for request in requests:
            try:
                base, quote = split_symbol(request.symbol)
            except InvalidOrderError:
                continue
            if is_perp_symbol(request.symbol):
                perp_symbols.add(request.symbol)
                assets.add(quote)
            else:
                assets.update((base, quote))
        try:
            with transaction.atomic():
                # Positions before balances, the order matching takes them in too.
                positions = self.perps.locked_positions(perp_symbols) if perp_symbols else {}
                for symbol in sorted(perp_symbols):
                    # Funding, stops and liquidation up to now before anything new.
                    self.perps.match(symbol, position=positions[symbol])
                before = {symbol: _position_state(p) for symbol, p in positions.items()}
                balances = self._locked_balances(*assets) if assets else {}
                placed: list[tuple[int, PaperOrder, list[PaperTrade]]] = []
                for i, request in enumerate(requests):
                    try:
                        order, trades = self._accept(request, balances, positions)
                    except (InvalidOrderError, InsufficientFundsError) as exc:
                        answers[i] = exc
                        continue
                    placed.append((i, order, trades))
                PaperOrder.objects.bulk_create([order for _, order, _ in placed])
                trades = []
                for _, order, its in placed:
                    for trade in its:
                        trade.order = order
                        trades.append(trade)
                PaperTrade.objects.bulk_create(trades)
                if balances:
                    self._save_balances(balances)
                for symbol, position in positions.items():
                    if _position_state(position) != before[symbol]:
                        position.save()
        except IntegrityError:
            if len(requests) == 1:
                return [
                    DuplicateOrderError(
                        f"Duplicate order sent: client order id {requests[0].client_order_id} is still open."
                    )
                ]
            return [a for request in requests for a in self.create_orders([request])]
        for i, order, its in placed:
            answers[i] = self._view(order, trades=its)
        return answers

    def _accept(
        self, request: OrderRequest, balances: dict[str, PaperBalance], positions: dict | None = None
    ) -> tuple[PaperOrder, list]:
        """Check one order and book it in memory (order, its immediate trades, balances)."""
        base, quote = split_symbol(request.symbol)
        if request.side not in ("buy", "sell") or request.type not in ("market", "limit"):
            raise InvalidOrderError("side must be buy or sell and type market or limit.")
        if request.amount <= 0:
            raise InvalidOrderError("Order amount must be positive.")
        if request.type == "limit" and (request.price is None or request.price <= 0):
            raise InvalidOrderError("A limit order needs a positive price.")
        price_now = self._price(request.symbol)
        now = self.clock.now_ms()
        acc = self.account
        buy = request.side == "buy"
        marketable = is_marketable(side=request.side, type=request.type, price=request.price, reference=price_now)
        order = PaperOrder(
            account=acc,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            price=request.price,
            amount=request.amount,
            status="open",
            created_ms=now,
            matched_until_ms=now,
            updated_ms=now,
        )
        if is_perp_symbol(request.symbol):
            position = positions[request.symbol]
            snapshot = (position.quantity, position.entry_price, position.margin, position.realized_pnl)
            balance = balances[quote]
            before = (balance.free, balance.locked)
            try:
                return order, self.perps.accept(request, order, balance, position, price_now)
            except (InvalidOrderError, InsufficientFundsError):
                position.quantity, position.entry_price, position.margin, position.realized_pnl = snapshot
                balance.free, balance.locked = before
                raise
        if request.reduce_only or request.trigger_price is not None:
            raise InvalidOrderError("Reduce-only and trigger orders are for perpetuals; a spot order cannot be one.")
        if not marketable:
            reserve = resting_reserve(
                side=request.side, price=request.price, amount=request.amount, terms=FillTerms.of(acc)
            )
            held = balances[quote if buy else base]
            self._take(held, reserve)
            held.locked += reserve
            order.reserved = reserve
            return order, []
        # Takes liquidity at once, at the next price (exchanges.fill_model).
        fill = taker_fill(
            side=request.side,
            type=request.type,
            amount=request.amount,
            price=request.price,
            reference=price_now,
            terms=FillTerms.of(acc),
        )
        self._take(balances[quote if buy else base], fill.notional + fill.fee if buy else request.amount)
        return order, [self._book(order, balances, fill.price, fill.amount, fill.fee, now, maker=False)]

    # -- perpetuals -----------------------------------------------------------------------------------
    def set_leverage(self, symbol: str, *, leverage: Decimal, margin_mode: str) -> None:
        if not is_perp_symbol(symbol):
            raise InvalidOrderError(f"{symbol} is not a perpetual market: leverage applies to perpetuals only.")
        self._price(symbol)  # a market the paper exchange has data for
        self.perps.set_leverage(symbol, leverage=leverage, margin_mode=margin_mode)

    def positions(self, symbols: Collection[str] | None = None) -> list[PerpPosition]:
        return self.perps.positions(symbols)

    def funding_payments(self, symbol: str, since: int | None = None) -> list[FundingEvent]:
        return self.perps.funding_payments(symbol, since)

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        self._match(symbol)
        with transaction.atomic():
            order = self._find(symbol, order_id, client_order_id, lock=True)
            if order.status not in OPEN:
                raise InvalidOrderError(f"Order {order.pk} is {order.status}; only open orders can be canceled.")
            base, quote = split_symbol(order.symbol)
            balances = self._locked_balances(base, quote)
            self._release(order, balances)
            self._save_balances(balances)
            order.status = "canceled"
            order.updated_ms = self.clock.now_ms()
            order.save(update_fields=["status", "reserved", "updated_ms"])
        return self._view(order)

    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        self._match(symbol)
        return self._view(self._find(symbol, order_id, client_order_id))

    def open_orders(
        self, symbol: str | None = None, client_order_ids: Collection[str] | None = None
    ) -> list[ExchangeOrder]:
        orders = PaperOrder.objects.filter(account=self.account, status__in=OPEN)
        if symbol:
            orders = orders.filter(symbol=symbol)
        if client_order_ids is not None:
            # Many bots share an account and a symbol: a bot's sync reads its own orders only.
            orders = orders.filter(client_order_id__in=list(client_order_ids))
        for sym in {o.symbol for o in orders}:
            self._match(sym)
        return [self._view(o) for o in orders.all()]

    def orders_since(self, symbol: str, since: int) -> list[ExchangeOrder]:
        self._match(symbol)
        rows = PaperOrder.objects.filter(account=self.account, symbol=symbol, created_ms__gte=since)
        return [self._view(o) for o in rows]

    def my_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[ExchangeTrade]:
        self._match(symbol)
        rows = PaperTrade.objects.filter(account=self.account, symbol=symbol).select_related("order")
        if since is not None:
            rows = rows.filter(ts_ms__gte=since)
        rows = rows.order_by("ts_ms", "id")
        if limit:
            rows = rows[:limit]
        return [
            ExchangeTrade(
                id=str(t.pk),
                order_id=str(t.order_id),
                symbol=t.symbol,
                side=t.side,
                price=t.price,
                amount=t.amount,
                ts=t.ts_ms,
                fee=t.fee,
                fee_currency=t.fee_currency,
                is_maker=t.is_maker,
                client_order_id=t.order.client_order_id,
                liquidation=t.liquidation,
            )
            for t in rows
        ]

    # -- matching -----------------------------------------------------------------------------------
    def _match(self, symbol: str) -> None:
        """Fill resting orders against the candles that closed since each was last matched."""
        if is_perp_symbol(symbol):
            self.perps.match(symbol)
            return
        now = self.clock.now_ms()
        step = self.source.step
        pending = list(
            PaperOrder.objects.filter(
                account=self.account, symbol=symbol, status__in=OPEN, matched_until_ms__lte=now - step
            ).values_list("pk", flat=True)
        )
        for pk in pending:
            with transaction.atomic():
                order = PaperOrder.objects.select_for_update().get(pk=pk)
                if order.status not in OPEN:
                    continue
                base, quote = split_symbol(order.symbol)
                balances = self._locked_balances(base, quote)
                trades = []
                terms = FillTerms.of(self.account)
                for candle in self.source.between(symbol, order.matched_until_ms, now):
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
                        trades.append(
                            self._book(order, balances, fill.price, fill.amount, fill.fee, candle.ts + step, maker=True)
                        )
                    order.matched_until_ms = candle.ts + step
                    if order.status not in OPEN:
                        break
                order.matched_until_ms = max(order.matched_until_ms, now - now % step)
                order.save()
                if trades:
                    PaperTrade.objects.bulk_create(trades)
                    self._save_balances(balances)

    # -- ledger -------------------------------------------------------------------------------------
    @staticmethod
    def _take(balance: PaperBalance, amount: Decimal) -> None:
        if balance.free < amount:
            raise InsufficientFundsError(
                f"Account has insufficient balance for requested action: {balance.asset} {balance.free} free, "
                f"{amount} needed."
            )
        balance.free -= amount

    def _book(
        self,
        order: PaperOrder,
        balances: dict[str, PaperBalance],
        price: Decimal,
        amount: Decimal,
        fee: Decimal,
        ts_ms: int,
        *,
        maker: bool,
    ) -> PaperTrade:
        """Book one trade on the order and balances in memory and return it unsaved; the caller
        persists all three. Taker fills were already debited by the caller; maker fills draw on the
        order's reservation."""
        base, quote = split_symbol(order.symbol)
        notional = q(price * amount)
        if order.side == "buy":
            if maker:
                spent = min(order.reserved, notional + fee)
                order.reserved -= spent
                balances[quote].locked -= spent
            balances[base].free += amount
        else:
            if maker:
                order.reserved -= amount
                balances[base].locked -= amount
            balances[quote].free += notional - fee
        order.filled += amount
        order.cost += notional
        order.fee += fee
        order.updated_ms = ts_ms
        order.status = "filled" if order.filled >= order.amount else "partially_filled"
        if order.status == "filled":
            self._release(order, balances)
        return PaperTrade(
            account=self.account,
            order=order if order.pk else None,
            symbol=order.symbol,
            side=order.side,
            price=price,
            amount=amount,
            fee=fee,
            fee_currency=quote,
            is_maker=maker,
            ts_ms=ts_ms,
        )

    @staticmethod
    def _save_balances(balances: dict[str, PaperBalance]) -> None:
        PaperBalance.objects.bulk_update(list(balances.values()), ["free", "locked"])

    @staticmethod
    def _release(order: PaperOrder, balances: dict[str, PaperBalance]) -> None:
        """Give back whatever is still reserved (rounding leftovers included); the caller saves."""
        if order.reserved:
            base, quote = split_symbol(order.symbol)
            held = balances[quote if order.side == "buy" or is_perp_symbol(order.symbol) else base]
            held.locked -= order.reserved
            held.free += order.reserved
            order.reserved = Decimal("0")

    def _find(self, symbol: str, order_id: str | None, client_order_id: str | None, *, lock: bool = False):
        rows = PaperOrder.objects.filter(account=self.account, symbol=symbol)
        if lock:
            rows = rows.select_for_update()
        if order_id:
            rows = rows.filter(pk=int(order_id)) if str(order_id).isdigit() else rows.none()
        elif client_order_id:
            # The newest order with that client id (ids may be reused once an order is closed).
            rows = rows.filter(client_order_id=client_order_id).order_by("-pk")
        else:
            raise InvalidOrderError("Give an order id or a client order id.")
        order = rows.first()
        if order is None:
            raise OrderNotFoundError(f"Order does not exist: {order_id or client_order_id} on {symbol}.")
        return order

    @staticmethod
    def _view(o: PaperOrder, trades: list[PaperTrade] | None = None) -> ExchangeOrder:
        return ExchangeOrder(
            id=str(o.pk),
            client_order_id=o.client_order_id,
            symbol=o.symbol,
            side=o.side,
            type=o.type,
            amount=o.amount,
            filled=o.filled,
            status=o.status,
            price=o.price,
            average=q(o.cost / o.filled) if o.filled else None,
            fee=o.fee,
            fee_currency=split_symbol(o.symbol)[1],
            ts=o.created_ms,
            raw={"paper_order_id": o.pk, "liquidation": o.client_order_id.startswith("liq-")},
            trades=None
            if trades is None
            else [
                ExchangeTrade(
                    id=str(t.pk),
                    order_id=str(o.pk),
                    symbol=t.symbol,
                    side=t.side,
                    price=t.price,
                    amount=t.amount,
                    ts=t.ts_ms,
                    fee=t.fee,
                    fee_currency=t.fee_currency,
                    is_maker=t.is_maker,
                    client_order_id=o.client_order_id,
                    liquidation=t.liquidation,
                )
                for t in trades
            ],
        )


def _position_state(position) -> tuple:
    """What placing orders may change on a paper position (saved only when it did)."""
    return (
        position.quantity,
        position.entry_price,
        position.margin,
        position.realized_pnl,
        position.funding,
        position.funded_until_ms,
        position.updated_ms,
    )
