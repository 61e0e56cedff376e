"""`CcxtClient`: the exchange interface over ccxt, one instance per exchange account.

Credentials are decrypted only in memory when the client is built; ccxt's rate limiter is on;
markets are loaded once per process and exchange (and refreshed hourly), not per client.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt
from django.conf import settings

from exchanges import venues
from exchanges.client import ExchangeClient, to_decimal
from exchanges.errors import AuthError, ExchangeError, InvalidOrderError, OrderNotFoundError, map_ccxt_error
from exchanges.perps import FundingEvent, PerpPosition
from exchanges.types import Balance, Candle, ExchangeOrder, ExchangeTrade, Market, OrderBook, OrderRequest, Ticker

T = TypeVar("T")
MARKETS_TTL_SECONDS = 3600
_markets_cache: dict[tuple, tuple[float, dict, dict]] = {}
_markets_lock = threading.Lock()
# Hyperliquid's answer when the signature recovers to an address that is neither the account nor an API
# wallet approved for it (a wrong private key); ccxt files it as an invalid order.
_HYPERLIQUID_UNKNOWN_SIGNER = re.compile(r"User or API Wallet 0x[0-9a-fA-F]{40} does not exist")

# ccxt's unified order status -> ours (a partially filled open order is told apart by `filled`).
_STATUS = {
    "open": "open",
    "closed": "filled",
    "canceled": "canceled",
    "cancelled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
}


def _strict_json(fetch: Callable[..., Any]) -> Callable[..., Any]:
    """ccxt hands back a body that looks like JSON but does not parse (a cut-off answer) as text, which the
    exchange classes then read as an empty answer: a zero balance, no open orders, no order. It is a failed
    exchange of messages instead, whose outcome is unknown."""

    def checked(url, method="GET", headers=None, body=None):
        answer = fetch(url, method, headers, body)
        if isinstance(answer, str) and answer[:1] in ("{", "["):
            try:
                json.loads(answer)
            except ValueError:
                raise ccxt.NetworkError(f"{method} {url} answered with a body that is not valid JSON") from None
        return answer

    return checked


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
        wallet_address: str = "",
        private_key: str = "",
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
            # Spot and linear perpetuals only, and no private currency listing while loading markets.
            "options": {
                "fetchMarkets": {"types": venues.market_types(exchange_id)},
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
        if exchange_id == "hyperliquid":
            # ccxt would charge a builder fee for itself on every order and set a referral code
            # on the account: neither is the account owner's choice, so both are off.
            config["options"].update(builderFee=False, refSet=True)
        if wallet_address:
            config["walletAddress"] = wallet_address
        if private_key:
            config["privateKey"] = private_key
        self.exchange_id = exchange_id
        self.api: ccxt.Exchange = exchange_class(config)
        self.api.fetch = _strict_json(self.api.fetch)
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
            wallet_address=account.wallet_address,
            private_key=account.private_key,
            testnet=account.is_testnet,
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            raise self._mapped(exc) from None

    def _mapped(self, exc: Exception) -> ExchangeError:
        if self.exchange_id == "hyperliquid" and _HYPERLIQUID_UNKNOWN_SIGNER.search(str(exc)):
            return AuthError(f"AuthenticationError: the private key does not sign for this account: {exc}")
        return map_ccxt_error(exc)

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
            swap = bool(m.get("swap")) and bool(m.get("linear", True))
            out[symbol] = Market(
                symbol=symbol,
                base=m["base"],
                quote=m["quote"],
                amount_step=to_decimal(precision.get("amount")),
                price_step=to_decimal(precision.get("price")),
                min_amount=to_decimal((limits.get("amount") or {}).get("min")),
                min_notional=to_decimal((limits.get("cost") or {}).get("min")),
                type="swap" if swap else "spot",
                settle=(m.get("settle") or "") if swap else "",
                contract_size=to_decimal(m.get("contractSize")) or to_decimal(1) if swap else to_decimal(1),
                max_leverage=to_decimal((limits.get("leverage") or {}).get("max")) if swap else None,
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
        params = {} if order_id else {"clientOrderId": self._venue_cid(client_order_id)}
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
        # Hyperliquid answers a placement with the order id and what filled, nothing else: the rest is the
        # request's, and an order that filled its whole amount is filled (not still open).
        order.symbol, order.side = order.symbol or request.symbol, order.side or request.side
        if raw.get("status") is None:
            order.amount = request.amount
            if order.filled >= request.amount:
                order.status = "filled"
        return order

    def _create(self, request: OrderRequest) -> dict:
        params: dict[str, Any] = {"clientOrderId": self._venue_cid(request.client_order_id)}
        price = request.price
        if request.reduce_only or request.trigger_price is not None:
            params["reduceOnly"] = True
        if request.trigger_price is not None:
            if request.trigger_kind not in ("sl", "tp"):
                raise InvalidOrderError("A trigger order is a stop-loss (sl) or a take-profit (tp).")
            params["stopLossPrice" if request.trigger_kind == "sl" else "takeProfitPrice"] = str(request.trigger_price)
        if request.type == "market" and price is None and self.exchange_id == "hyperliquid":
            # Hyperliquid has no market order: ccxt sends an IOC limit whose price it derives from
            # this reference and its slippage setting (`defaultSlippage`, 5%).
            price = request.trigger_price or self.ticker(request.symbol).last
        try:
            return self.api.create_order(
                request.symbol,
                request.type,
                request.side,
                str(request.amount),
                None if price is None else str(price),
                params,
            )
        except ccxt.BadRequest:
            raise
        except ccxt.BaseError as exc:
            raise self._mapped(exc) from None

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        self._load_markets()
        params = {} if order_id else {"clientOrderId": self._venue_cid(client_order_id)}
        raw = self._call(self.api.cancel_order, order_id, symbol, params)
        if raw.get("id") is None:
            # Hyperliquid answers a cancel with "success" alone: the order itself says where it stands.
            return self.fetch_order(symbol=symbol, order_id=order_id, client_order_id=client_order_id)
        return self._order(raw)

    def signing_check(self) -> None:
        if self.exchange_id != "hyperliquid":
            return
        # A signed cancel of an order that cannot exist: the exchange checks the signature first,
        # so "no such order" proves the key signs for the wallet, and changes nothing.
        self._load_markets()
        symbol = next((s for s, m in self.api.markets.items() if m.get("swap")), None)
        if symbol is None:
            return
        try:
            self.cancel_order(symbol=symbol, client_order_id="0x" + "0" * 32)
        except (OrderNotFoundError, InvalidOrderError):
            return

    # -- perpetuals -------------------------------------------------------------------------------
    def trigger_orders(self, symbol: str) -> bool:
        has = self.api.has
        return venues.is_perp_symbol(symbol) and bool(has.get("createStopLossOrder") or has.get("createTriggerOrder"))

    def set_leverage(self, symbol: str, *, leverage: Decimal, margin_mode: str) -> None:
        self._load_markets()
        market = self.api.markets.get(symbol)
        if market is None or not market.get("swap"):
            raise InvalidOrderError(f"{symbol} is not a perpetual market on {self.exchange_id}.")
        if margin_mode not in ("isolated", "cross"):
            raise InvalidOrderError("The margin mode is isolated or cross.")
        top = to_decimal(((market.get("limits") or {}).get("leverage") or {}).get("max"))
        if top is not None and leverage > top:
            raise InvalidOrderError(
                f"{symbol} on {self.exchange_id} allows at most {top:f}x leverage, not {leverage:f}x."
            )
        if self.exchange_id == "hyperliquid":
            if leverage != leverage.to_integral_value():
                raise InvalidOrderError("Hyperliquid takes whole-number leverage.")
            # One updateLeverage action sets both the margin mode and the leverage.
            self._refusable(self.api.set_margin_mode, margin_mode, symbol, {"leverage": int(leverage)})
            return
        self._refusable(self.api.set_margin_mode, margin_mode, symbol)
        self._refusable(self.api.set_leverage, float(leverage), symbol)

    def _refusable(self, fn: Callable[..., Any], *args) -> None:
        """A settings call: 'nothing to change' answers are success; a refusal is an invalid order
        with the exchange's reason."""
        try:
            fn(*args)
        except ccxt.BadRequest as exc:
            text = str(exc).lower()
            if "no need to change" in text or "not modified" in text or "leverage not modified" in text:
                return
            raise InvalidOrderError(f"{self.exchange_id} refused: {exc}") from None
        except ccxt.BaseError as exc:
            if type(exc) is ccxt.ExchangeError and self.exchange_id == "hyperliquid":
                # Its refusals of a setting ("Invalid leverage value", "Cannot switch leverage type with open
                # position.") are not in ccxt's table, which raises them as a plain ExchangeError.
                raise InvalidOrderError(f"{self.exchange_id} refused: {exc}") from None
            raise self._mapped(exc) from None

    def positions(self, symbols: Collection[str] | None = None) -> list[PerpPosition]:
        self._load_markets()
        rows = self._call(self.api.fetch_positions, list(symbols) if symbols else None)
        out = []
        for p in rows:
            try:
                size = to_decimal(p.get("contracts")) or to_decimal(0)
                size *= to_decimal(p.get("contractSize")) or to_decimal(1)
                if size == 0:
                    continue
                out.append(
                    PerpPosition(
                        symbol=p["symbol"],
                        quantity=size if p.get("side") == "long" else -size,
                        entry_price=to_decimal(p.get("entryPrice")) or to_decimal(0),
                        mark_price=to_decimal(p.get("markPrice")),
                        unrealized_pnl=to_decimal(p.get("unrealizedPnl")),
                        liquidation_price=to_decimal(p.get("liquidationPrice")),
                        margin_used=to_decimal(p.get("collateral")) or to_decimal(p.get("initialMargin")),
                        leverage=to_decimal(p.get("leverage")),
                        margin_mode=p.get("marginMode") or "",
                    )
                )
            except (KeyError, TypeError, ArithmeticError) as exc:
                raise ExchangeError(f"The exchange sent a position we cannot read: {exc!r}") from None
        return out

    def funding_payments(self, symbol: str, since: int | None = None) -> list[FundingEvent]:
        self._load_markets()
        if since is None and self.exchange_id == "hyperliquid":
            since = 0  # its userFunding requires a start time
        rows = self._call(self.api.fetch_funding_history, symbol, since)
        if self.exchange_id == "hyperliquid":
            # userFunding lists the payments of every coin, and ccxt labels them all with the symbol asked for.
            coin = (self.api.markets.get(symbol) or {}).get("baseName")
            rows = [f for f in rows if ((f.get("info") or {}).get("delta") or {}).get("coin") == coin]
        out = []
        for f in rows:
            try:
                ts = int(f["timestamp"])
                raw_id = str(f.get("id") or "")
                info = f.get("info") or {}
                delta = info.get("delta") or {} if isinstance(info, dict) else {}
                out.append(
                    FundingEvent(
                        # Some venues give every funding row the same (zero) hash: the time is unique.
                        id=raw_id if raw_id.strip("0x") else str(ts),
                        symbol=f.get("symbol") or symbol,
                        ts=ts,
                        amount=to_decimal(f["amount"]),
                        rate=to_decimal(delta.get("fundingRate")),
                        quantity=to_decimal(delta.get("szi")),
                    )
                )
            except (KeyError, TypeError, ArithmeticError) as exc:
                raise ExchangeError(f"The exchange sent a funding payment we cannot read: {exc!r}") from None
        return sorted(out, key=lambda e: e.ts)

    def _venue_cid(self, client_order_id: str | None) -> str | None:
        return None if client_order_id is None else venues.to_venue_cid(self.exchange_id, client_order_id)

    # -- conversion -------------------------------------------------------------------------------
    def _order(self, o: dict) -> ExchangeOrder:
        try:
            amount = to_decimal(o.get("amount")) or to_decimal(0)
            filled = to_decimal(o.get("filled")) or to_decimal(0)
            status = _STATUS.get(o.get("status") or "open", "open")
            if status == "open" and filled > 0:
                status = "partially_filled"
            fee = o.get("fee") or {}
            return ExchangeOrder(
                id=str(o["id"]),
                client_order_id=venues.from_venue_cid(self.exchange_id, o.get("clientOrderId")),
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

    def _trade(self, t: dict) -> ExchangeTrade:
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
                client_order_id=venues.from_venue_cid(self.exchange_id, t.get("clientOrderId")),
                liquidation=venues.is_liquidation_trade(self.exchange_id, t.get("info"), t.get("clientOrderId")),
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ExchangeError(f"The exchange sent a trade we cannot read: {exc!r}") from None
