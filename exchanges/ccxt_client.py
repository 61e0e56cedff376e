"""`CcxtClient`: the exchange interface over ccxt, one instance per exchange account.

Credentials are decrypted only in memory when the client is built; ccxt's rate limiter is on;
markets are loaded once per process and exchange (and refreshed hourly), not per client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt
from django.conf import settings

from exchanges.client import ExchangeClient, to_decimal
from exchanges.errors import ExchangeError, InvalidOrderError, map_ccxt_error
from exchanges.types import Balance, Candle, ExchangeOrder, ExchangeTrade, Market, OrderBook, OrderRequest, Ticker

T = TypeVar("T")
MARKETS_TTL_SECONDS = 3600
_markets_cache: dict[tuple, tuple[float, dict, dict]] = {}
_markets_lock = threading.Lock()

# ccxt's unified order status -> ours (a partially filled open order is told apart by `filled`).
_STATUS = {
    "open": "open",
    "closed": "filled",
    "canceled": "canceled",
    "cancelled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
}


def _rewrite_urls(urls: Any, base_url: str) -> Any:
    """Point every API URL at `base_url`, keeping its path (loopback test servers, proxies)."""
    if isinstance(urls, dict):
        return {k: _rewrite_urls(v, base_url) for k, v in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        path = urlsplit(urls).path
        return base_url.rstrip("/") + path
    return urls


class CcxtClient(ExchangeClient):
    def __init__(
        self,
        *,
        exchange_id: str,
        api_key: str = "",
        secret: str = "",
        password: str = "",
        testnet: bool = False,
        timeout_ms: int | None = None,
    ) -> None:
        try:
            exchange_class = getattr(ccxt, exchange_id)
        except AttributeError:
            raise InvalidOrderError(f"ccxt does not support the exchange {exchange_id!r}.") from None
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": timeout_ms or settings.EXCHANGE_TIMEOUT_MS,
            # Spot only, and no private currency listing while loading markets.
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                # Reconciliation lists all open orders of an account in one call, on purpose.
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            },
        }
        if api_key:
            config.update(apiKey=api_key, secret=secret)
        if password:
            config["password"] = password
        self.exchange_id = exchange_id
        self.api: ccxt.Exchange = exchange_class(config)
        if testnet:
            self.api.set_sandbox_mode(True)
        override = settings.EXCHANGE_URL_OVERRIDES.get(exchange_id)
        if override:
            self.api.urls["api"] = _rewrite_urls(self.api.urls["api"], override)
        self._cache_key = (exchange_id, testnet, override)

    @classmethod
    def from_account(cls, account) -> CcxtClient:
        return cls(
            exchange_id=account.exchange,
            api_key=account.api_key,
            secret=account.api_secret,
            password=account.passphrase,
            testnet=account.is_testnet,
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from None

    def _load_markets(self) -> None:
        if self.api.markets:
            return
        with _markets_lock:
            cached = _markets_cache.get(self._cache_key)
        if cached and cached[0] > time.monotonic():
            self.api.set_markets(cached[1], cached[2])
            return
        self._call(self.api.load_markets)
        with _markets_lock:
            _markets_cache[self._cache_key] = (
                time.monotonic() + MARKETS_TTL_SECONDS,
                self.api.markets,
                self.api.currencies,
            )

    # -- reads ------------------------------------------------------------------------------------
    def markets(self) -> dict[str, Market]:
        self._load_markets()
        out = {}
        for symbol, m in self.api.markets.items():
            precision, limits = m.get("precision") or {}, m.get("limits") or {}
            out[symbol] = Market(
                symbol=symbol,
                base=m["base"],
                quote=m["quote"],
                amount_step=to_decimal(precision.get("amount")),
                price_step=to_decimal(precision.get("price")),
                min_amount=to_decimal((limits.get("amount") or {}).get("min")),
                min_notional=to_decimal((limits.get("cost") or {}).get("min")),
            )
        return out

    def ticker(self, symbol: str) -> Ticker:
        self._load_markets()
        t = self._call(self.api.fetch_ticker, symbol)
        return Ticker(
            symbol=symbol,
            last=to_decimal(t["last"]),
            bid=to_decimal(t.get("bid")),
            ask=to_decimal(t.get("ask")),
            ts=t.get("timestamp") or 0,
        )

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        self._load_markets()
        book = self._call(self.api.fetch_order_book, symbol, limit)
        return OrderBook(
            symbol=symbol,
            bids=[(to_decimal(p), to_decimal(a)) for p, a, *_ in book["bids"]],
            asks=[(to_decimal(p), to_decimal(a)) for p, a, *_ in book["asks"]],
            ts=book.get("timestamp"),
        )

    def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int = 500) -> list[Candle]:
        self._load_markets()
        rows = self._call(self.api.fetch_ohlcv, symbol, timeframe, since, limit)
        return [Candle(int(r[0]), *(to_decimal(x) for x in r[1:6])) for r in rows]

    def balances(self) -> dict[str, Balance]:
        raw = self._call(self.api.fetch_balance)
        out = {}
        for asset, free in (raw.get("free") or {}).items():
            used = (raw.get("used") or {}).get(asset) or 0
            out[asset] = Balance(asset=asset, free=to_decimal(free) or 0, used=to_decimal(used) or 0)
        return out

    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        self._load_markets()
        params = {} if order_id else {"clientOrderId": client_order_id}
        return self._order(self._call(self.api.fetch_order, order_id, symbol, params))

    def open_orders(
        self, symbol: str | None = None, client_order_ids: Collection[str] | None = None
    ) -> list[ExchangeOrder]:
        self._load_markets()  # exchanges answer every open order: the hint is not used
        return [self._order(o) for o in self._call(self.api.fetch_open_orders, symbol)]

    def orders_since(self, symbol: str, since: int) -> list[ExchangeOrder]:
        self._load_markets()
        return [self._order(o) for o in self._call(self.api.fetch_orders, symbol, since)]

    def my_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[ExchangeTrade]:
        self._load_markets()
        return [self._trade(t) for t in self._call(self.api.fetch_my_trades, symbol, since, limit)]

    # -- writes -----------------------------------------------------------------------------------
    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        self._load_markets()
        try:
            raw = self._create(request)
        except ccxt.BadRequest as exc:
            # Exchanges file order-validation failures (filters, precision) as bad requests.
            raise InvalidOrderError(f"{type(exc).__name__}: {exc}") from None
        order = self._order(raw)
        if order.client_order_id is None:
            order.client_order_id = request.client_order_id
        return order

    def _create(self, request: OrderRequest) -> dict:
        try:
            return self.api.create_order(
                request.symbol,
                request.type,
                request.side,
                str(request.amount),
                None if request.price is None else str(request.price),
                {"clientOrderId": request.client_order_id},
            )
        except ccxt.BadRequest:
            raise
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from None

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        self._load_markets()
        params = {} if order_id else {"clientOrderId": client_order_id}
        return self._order(self._call(self.api.cancel_order, order_id, symbol, params))

    # -- conversion -------------------------------------------------------------------------------
    @staticmethod
    def _order(o: dict) -> ExchangeOrder:
        try:
            amount = to_decimal(o.get("amount")) or to_decimal(0)
            filled = to_decimal(o.get("filled")) or to_decimal(0)
            status = _STATUS.get(o.get("status") or "open", "open")
            if status == "open" and filled > 0:
                status = "partially_filled"
            fee = o.get("fee") or {}
            return ExchangeOrder(
                id=str(o["id"]),
                client_order_id=o.get("clientOrderId"),
                symbol=o["symbol"],
                side=o["side"],
                type=o.get("type") or "limit",
                amount=amount,
                filled=filled,
                status=status,
                price=to_decimal(o.get("price")),
                average=to_decimal(o.get("average")),
                fee=to_decimal(fee.get("cost")) or to_decimal(0),
                fee_currency=fee.get("currency") or "",
                ts=o.get("timestamp"),
                raw=o.get("info") or {},
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ExchangeError(f"The exchange sent an order we cannot read: {exc!r}") from None

    @staticmethod
    def _trade(t: dict) -> ExchangeTrade:
        try:
            fee = t.get("fee") or {}
            return ExchangeTrade(
                id=str(t["id"]),
                order_id=str(t["order"]),
                symbol=t["symbol"],
                side=t["side"],
                price=to_decimal(t["price"]),
                amount=to_decimal(t["amount"]),
                ts=int(t["timestamp"]),
                fee=to_decimal(fee.get("cost")) or to_decimal(0),
                fee_currency=fee.get("currency") or "",
                is_maker=None if t.get("takerOrMaker") is None else t["takerOrMaker"] == "maker",
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ExchangeError(f"The exchange sent a trade we cannot read: {exc!r}") from None
