"""DEX accounts behind the one exchange interface, so bots trade Jupiter through Gateway like any
exchange.

- Market data. The bid is the price Gateway quotes to sell `quote_amount` of the base token, the
  ask the price to buy it. Each price read is folded into a one-minute candle (exchange
  `jupiter`, no volume: Gateway reports none), and candles of longer timeframes are built from
  those, so price strategies warm up from what was seen. The order book is that one level.
- Live (`jupiter`): a market order is one swap from the account's wallet (`dex.swaps`), under
  the order's client id as its intent key, with the account's slippage limit. An answer that was
  lost leaves the order open; the swap is polled until it is confirmed, failed or expired, and is
  never sent again meanwhile. A swap cannot be canceled once sent.
- Paper (`jupiter_paper`): the same quote, filled at once at the quoted price less the account's
  paper taker fee, in the paper ledger (balances, orders and trades), without funds or a wallet.

Limit, reduce-only and trigger orders are refused: a swap is a market order with a slippage
limit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection
from decimal import Decimal

from django.db import IntegrityError, connection, transaction

from core.errors import ApplicationError
from dex.client import GatewayClient
from dex.models import DEX_LIVE, DexAccount, DexSwap, SwapSide, SwapStatus
from exchanges.client import ExchangeClient
from exchanges.errors import (
    AuthError,
    DuplicateOrderError,
    ExchangeError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
)
from exchanges.market_data import timeframe_ms
from exchanges.models import Candle, ExchangeAccount, PaperBalance, PaperOrder, PaperTrade
from exchanges.types import Balance, ExchangeOrder, ExchangeTrade, Market, OrderBook, OrderRequest, Ticker
from exchanges.types import Candle as CandleData

PRICE_SOURCE = DEX_LIVE  # the Candle.exchange of prices seen through Gateway (shared by paper and live)
MINUTE = 60_000
QUANTUM = Decimal("0.00000001")
SWAP_STATUS = {
    SwapStatus.NEW: "open",
    SwapStatus.QUOTED: "open",
    SwapStatus.SUBMITTED: "open",
    SwapStatus.CONFIRMED: "filled",
    SwapStatus.FAILED: "rejected",
    SwapStatus.EXPIRED: "expired",
}


def pair_tokens(symbol: str) -> tuple[str, str]:
    base, _, quote = (symbol or "").partition("/")
    if not base or not quote or ":" in quote:
        raise InvalidOrderError(f"{symbol!r} is not a DEX pair like SOL/USDC.")
    return base, quote


def _now_ms() -> int:
    return int(time.time() * 1000)


def price_record(symbol: str, price: Decimal, ts_ms: int) -> None:
    """Fold one price into its one-minute candle (created at the first price of the minute)."""
    table = Candle._meta.db_table
    bucket = ts_ms - ts_ms % MINUTE
    ts = dt.datetime.fromtimestamp(bucket / 1000, tz=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (exchange, symbol, timeframe, ts, open, high, low, close, volume) "
            "VALUES (%s, %s, '1m', %s, %s, %s, %s, %s, 0) "
            "ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET "
            f"high = GREATEST({table}.high, EXCLUDED.high), low = LEAST({table}.low, EXCLUDED.low), "
            "close = EXCLUDED.close",
            [PRICE_SOURCE, symbol, ts, price, price, price, price],
        )


def candles_read(symbol: str, timeframe: str, since: int | None, limit: int, now_ms: int) -> list[CandleData]:
    """Candles of `timeframe` built from the one-minute candles of seen prices, oldest first."""
    step = timeframe_ms(timeframe)  # whole minutes, or it refuses the timeframe
    start = since - since % step if since is not None else now_ms - now_ms % step - step * limit
    rows = Candle.objects.filter(
        exchange=PRICE_SOURCE,
        symbol=symbol,
        timeframe="1m",
        ts__gte=dt.datetime.fromtimestamp(start / 1000, tz=dt.UTC),
    ).order_by("ts")
    out: list[CandleData] = []
    for row in rows.values_list("ts", "open", "high", "low", "close"):
        ts = int(row[0].timestamp() * 1000)
        bucket = ts - ts % step
        if out and out[-1].ts == bucket:
            last = out[-1]
            out[-1] = CandleData(bucket, last.open, max(last.high, row[2]), min(last.low, row[3]), row[4], Decimal(0))
        else:
            if len(out) == limit:
                break
            out.append(CandleData(bucket, row[1], row[2], row[3], row[4], Decimal(0)))
    return out


class JupiterClient(ExchangeClient):
    """A live DEX account: swaps from its wallet through Gateway."""

    def __init__(self, account: ExchangeAccount, dex: DexAccount | None = None) -> None:
        self.account = account
        if dex is None:
            dex = DexAccount.objects.select_related("connection", "wallet").filter(account=account).first()
        if dex is None:
            raise InvalidOrderError(f"Exchange account {account.label} has no DEX settings (Gateway and wallet).")
        self.dex = dex
        self._gateway: GatewayClient | None = None

    @property
    def gateway(self) -> GatewayClient:
        if self._gateway is None:
            from django.conf import settings

            self._gateway = GatewayClient.for_connection(
                self.dex.connection, timeout=float(getattr(settings, "DEX_GATEWAY_TIMEOUT", 30))
            )
        return self._gateway

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None

    # -- market data --------------------------------------------------------------------------------
    def _pairs(self) -> list[str]:
        return [p for p in (self.dex.pairs or []) if isinstance(p, str)]

    def markets(self) -> dict[str, Market]:
        out = {}
        for symbol in self._pairs():
            base, quote = pair_tokens(symbol)
            out[symbol] = Market(symbol=symbol, base=base, quote=quote, min_amount=QUANTUM, min_notional=Decimal(0))
        return out

    def _quote(self, symbol: str, side: str, amount: Decimal) -> dict:
        base, quote = pair_tokens(symbol)
        return self.gateway.quote_swap(
            network=self.dex.connection.network,
            base=base,
            quote=quote,
            amount=amount,
            side=side,
            slippage_bps=self.dex.slippage_bps,
        )

    @staticmethod
    def _price_of(answer: dict) -> Decimal:
        try:
            price = Decimal(str(answer["price"]))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            raise InvalidOrderError("Gateway's quote has no price.") from None
        if not price.is_finite() or price <= 0:
            raise InvalidOrderError(f"Gateway quoted a price that is not positive ({answer.get('price')!r}).")
        return price

    def ticker(self, symbol: str) -> Ticker:
        size = self.dex.quote_amount
        bid = self._price_of(self._quote(symbol, SwapSide.SELL, size))
        ask = self._price_of(self._quote(symbol, SwapSide.BUY, size))
        now = _now_ms()
        last = ((bid + ask) / 2).quantize(QUANTUM)
        price_record(symbol, last, now)
        return Ticker(symbol=symbol, last=last, bid=bid, ask=ask, ts=now)

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        ticker = self.ticker(symbol)
        size = self.dex.quote_amount
        return OrderBook(symbol=symbol, bids=[(ticker.bid, size)], asks=[(ticker.ask, size)], ts=ticker.ts)

    def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int = 500) -> list[CandleData]:
        return candles_read(symbol, timeframe, since, limit, _now_ms())

    def signing_check(self) -> None:
        """Verification: Gateway holds the wallet's key (live), and quotes every pair."""
        if self.dex.wallet_id is not None and self.dex.wallet.address not in self.gateway.wallets():
            raise AuthError(f"Gateway holds no key for wallet {self.dex.wallet.address}: add the wallet again.")
        for symbol in self._pairs():
            self.ticker(symbol)

    # -- account ------------------------------------------------------------------------------------
    def _tokens(self) -> list[str]:
        tokens: list[str] = []
        for symbol in self._pairs():
            for token in pair_tokens(symbol):
                if token not in tokens:
                    tokens.append(token)
        return tokens

    def balances(self) -> dict[str, Balance]:
        wallet = self.dex.wallet
        read = self.gateway.balances(network=self.dex.connection.network, address=wallet.address, tokens=self._tokens())
        return {k: Balance(asset=k, free=v, used=Decimal(0)) for k, v in read.items()}

    # -- orders -------------------------------------------------------------------------------------
    @staticmethod
    def _check(request: OrderRequest) -> tuple[str, str]:
        base, quote = pair_tokens(request.symbol)
        if request.type != "market":
            raise InvalidOrderError("A DEX swap is a market order with a slippage limit: limit orders are not taken.")
        if request.reduce_only or request.trigger_price is not None:
            raise InvalidOrderError("A DEX swap cannot be reduce-only or a trigger order.")
        if request.side not in ("buy", "sell"):
            raise InvalidOrderError("side must be buy or sell.")
        if request.amount <= 0:
            raise InvalidOrderError("Order amount must be positive.")
        return base, quote

    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        from dex.swaps import swap_execute

        base, quote = self._check(request)
        try:
            swap = swap_execute(
                wallet=self.dex.wallet,
                base=base,
                quote=quote,
                side=request.side,
                amount=request.amount,
                slippage_bps=self.dex.slippage_bps,
                intent_key=request.client_order_id,
            )
        except ApplicationError as exc:
            raise InvalidOrderError(exc.message) from None
        if swap.status == SwapStatus.FAILED and not swap.signature:
            raise InvalidOrderError(swap.error or "Gateway refused the swap.")
        return self._view(swap)

    def _swaps(self):
        return DexSwap.objects.filter(wallet_id=self.dex.wallet_id).select_related("wallet__connection")

    def _find(self, symbol: str, order_id: str | None, client_order_id: str | None) -> DexSwap:
        rows = self._swaps()
        if client_order_id:
            swap = rows.filter(intent_key=client_order_id).first()
        elif order_id and order_id.startswith("swap") and order_id[4:].isdigit():
            swap = rows.filter(pk=int(order_id[4:])).first()
        else:
            swap = None
        if swap is None or f"{swap.base}/{swap.quote}" != symbol:
            raise OrderNotFoundError(f"No swap {client_order_id or order_id} for {symbol} from this wallet.")
        return swap

    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        from dex.swaps import swap_refresh

        swap = self._find(symbol, order_id, client_order_id)
        if swap.status == SwapStatus.SUBMITTED:
            swap = swap_refresh(swap=swap)
        return self._view(swap)

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        swap = self._find(symbol, order_id, client_order_id)
        if SWAP_STATUS[swap.status] == "open":
            raise InvalidOrderError("A swap that was sent cannot be canceled: it confirms, fails or expires.")
        return self._view(swap)

    def open_orders(
        self, symbol: str | None = None, client_order_ids: Collection[str] | None = None
    ) -> list[ExchangeOrder]:
        rows = self._swaps().filter(status__in=(SwapStatus.NEW, SwapStatus.QUOTED, SwapStatus.SUBMITTED))
        if symbol:
            base, quote = pair_tokens(symbol)
            rows = rows.filter(base=base, quote=quote)
        if client_order_ids is not None:
            rows = rows.filter(intent_key__in=list(client_order_ids))
        return [self._view(s) for s in rows]

    def orders_since(self, symbol: str, since: int) -> list[ExchangeOrder]:
        base, quote = pair_tokens(symbol)
        after = dt.datetime.fromtimestamp(since / 1000, tz=dt.UTC)
        rows = self._swaps().filter(base=base, quote=quote, created_at__gte=after).order_by("created_at")
        return [self._view(s) for s in rows]

    def my_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[ExchangeTrade]:
        base, quote = pair_tokens(symbol)
        rows = self._swaps().filter(base=base, quote=quote, status=SwapStatus.CONFIRMED).order_by("finished_at")
        if since is not None:
            rows = rows.filter(finished_at__gte=dt.datetime.fromtimestamp(since / 1000, tz=dt.UTC))
        trades = [t for swap in rows for t in self._view(swap).trades or []]
        return trades[:limit] if limit else trades

    def _view(self, swap: DexSwap) -> ExchangeOrder:
        status = SWAP_STATUS[swap.status]
        buy = swap.side == SwapSide.BUY
        base_amount, quote_amount = (swap.amount_out, swap.amount_in) if buy else (swap.amount_in, swap.amount_out)
        trades: list[ExchangeTrade] = []
        filled, average = Decimal(0), None
        ts = int(swap.created_at.timestamp() * 1000)
        if status == "filled":
            filled = min(swap.amount, base_amount) if base_amount else swap.amount
            if base_amount and quote_amount:
                average = quote_amount / base_amount
            elif swap.quoted_price:
                average = swap.quoted_price
            fee, fee_currency = self._network_fee(swap)
            done = int((swap.finished_at or swap.created_at).timestamp() * 1000)
            if average is not None:
                trades.append(
                    ExchangeTrade(
                        id=swap.signature or f"swap{swap.pk}",
                        order_id=f"swap{swap.pk}",
                        symbol=f"{swap.base}/{swap.quote}",
                        side=swap.side,
                        price=average,
                        amount=filled,
                        ts=done,
                        fee=fee,
                        fee_currency=fee_currency,
                        is_maker=False,
                        client_order_id=swap.intent_key,
                    )
                )
        fee, fee_currency = self._network_fee(swap)
        return ExchangeOrder(
            id=f"swap{swap.pk}",
            client_order_id=swap.intent_key,
            symbol=f"{swap.base}/{swap.quote}",
            side=swap.side,
            type="market",
            amount=swap.amount,
            filled=filled,
            status=status,
            price=swap.quoted_price,
            average=average,
            fee=fee,
            fee_currency=fee_currency,
            ts=ts,
            raw={"signature": swap.signature, "swap_status": swap.status, "error": swap.error},
            trades=trades if status == "filled" else None,
        )

    @staticmethod
    def _network_fee(swap: DexSwap) -> tuple[Decimal, str]:
        """The transaction fee is paid in SOL. A position counts a fee in its base or quote only, so
        on a pair without SOL it is left on the swap row, not charged to the fill."""
        if swap.fee and "SOL" in (swap.base, swap.quote):
            return swap.fee, "SOL"
        return Decimal(0), ""


class JupiterPaperClient(JupiterClient):
    """A paper DEX account: Gateway's quotes, fills simulated in the paper ledger."""

    atomic_batches = False

    def balances(self) -> dict[str, Balance]:
        return {
            b.asset: Balance(asset=b.asset, free=b.free, used=b.locked)
            for b in PaperBalance.objects.filter(account=self.account)
        }

    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        base, quote = self._check(request)
        if PaperOrder.objects.filter(account=self.account, client_order_id=request.client_order_id).exists():
            raise DuplicateOrderError(f"Duplicate order sent: client order id {request.client_order_id} exists.")
        price = self._price_of(self._quote(request.symbol, request.side, request.amount))
        now = _now_ms()
        price_record(request.symbol, price, now)
        amount = request.amount
        cost = (amount * price).quantize(QUANTUM)
        fee = (cost * self.account.paper_taker_fee).quantize(QUANTUM)
        buy = request.side == "buy"
        try:
            with transaction.atomic():
                rows = {
                    b.asset: b
                    for b in PaperBalance.objects.select_for_update()
                    .filter(account=self.account, asset__in=[base, quote])
                    .order_by("asset")
                }
                for asset in (base, quote):
                    rows.setdefault(asset, PaperBalance(account=self.account, asset=asset, free=Decimal(0)))
                pay, need = (rows[quote], cost + fee) if buy else (rows[base], amount)
                if pay.free < need:
                    raise InsufficientFundsError(
                        f"Paper balance too low: {need.normalize():f} {pay.asset} needed, "
                        f"{pay.free.normalize():f} free."
                    )
                pay.free -= need
                get, gained = (rows[base], amount) if buy else (rows[quote], cost - fee)
                get.free += gained
                for row in rows.values():
                    row.save()
                order = PaperOrder.objects.create(
                    account=self.account,
                    client_order_id=request.client_order_id,
                    symbol=request.symbol,
                    side=request.side,
                    type="market",
                    amount=amount,
                    filled=amount,
                    cost=cost,
                    fee=fee,
                    status="filled",
                    created_ms=now,
                    matched_until_ms=now,
                    updated_ms=now,
                )
                PaperTrade.objects.create(
                    account=self.account,
                    order=order,
                    symbol=request.symbol,
                    side=request.side,
                    price=price,
                    amount=amount,
                    fee=fee,
                    fee_currency=quote,
                    ts_ms=now,
                )
        except IntegrityError:
            raise DuplicateOrderError(f"Duplicate order sent: client order id {request.client_order_id}.") from None
        return self._paper_view(order)

    def _paper_rows(self, symbol: str | None = None):
        rows = PaperOrder.objects.filter(account=self.account).prefetch_related("trades")
        return rows.filter(symbol=symbol) if symbol else rows

    def _paper_find(self, symbol: str, order_id: str | None, client_order_id: str | None) -> PaperOrder:
        rows = self._paper_rows(symbol)
        if client_order_id:
            order = rows.filter(client_order_id=client_order_id).order_by("-id").first()
        elif order_id and order_id.isdigit():
            order = rows.filter(pk=int(order_id)).first()
        else:
            order = None
        if order is None:
            raise OrderNotFoundError(f"Paper DEX order {client_order_id or order_id} not found.")
        return order

    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        return self._paper_view(self._paper_find(symbol, order_id, client_order_id))

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        order = self._paper_find(symbol, order_id, client_order_id)
        raise InvalidOrderError(f"Order {order.pk} is {order.status}; a swap fills at once and cannot be canceled.")

    def open_orders(
        self, symbol: str | None = None, client_order_ids: Collection[str] | None = None
    ) -> list[ExchangeOrder]:
        return []  # a paper swap fills or is refused at once

    def orders_since(self, symbol: str, since: int) -> list[ExchangeOrder]:
        return [self._paper_view(o) for o in self._paper_rows(symbol).filter(created_ms__gte=since)]

    def my_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[ExchangeTrade]:
        rows = PaperTrade.objects.filter(account=self.account, symbol=symbol).select_related("order")
        if since is not None:
            rows = rows.filter(ts_ms__gte=since)
        rows = rows.order_by("ts_ms", "id")
        if limit:
            rows = rows[:limit]
        return [self._paper_trade(t, t.order) for t in rows]

    @staticmethod
    def _paper_trade(trade: PaperTrade, order: PaperOrder) -> ExchangeTrade:
        return ExchangeTrade(
            id=f"dexpaper{trade.pk}",
            order_id=str(order.pk),
            symbol=trade.symbol,
            side=trade.side,
            price=trade.price,
            amount=trade.amount,
            ts=trade.ts_ms,
            fee=trade.fee,
            fee_currency=trade.fee_currency,
            is_maker=False,
            client_order_id=order.client_order_id,
        )

    def _paper_view(self, order: PaperOrder) -> ExchangeOrder:
        trades = [self._paper_trade(t, order) for t in order.trades.all()]
        average = (order.cost / order.filled) if order.filled else None
        return ExchangeOrder(
            id=str(order.pk),
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            amount=order.amount,
            filled=order.filled,
            status=order.status,
            average=average,
            fee=order.fee,
            fee_currency=pair_tokens(order.symbol)[1],
            ts=order.created_ms,
            trades=trades,
        )


def live_client(account: ExchangeAccount) -> ExchangeClient:
    client = JupiterClient(account)
    if client.dex.wallet_id is None:
        raise ExchangeError(f"DEX account {account.label} has no wallet: a live DEX account swaps from one.")
    return client


def paper_client(account: ExchangeAccount) -> ExchangeClient:
    return JupiterPaperClient(account)
