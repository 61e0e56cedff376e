"""A loopback Binance spot REST API v3 for tests, spoken well enough for the real, unmodified ccxt client.

Stdlib only (`ThreadingHTTPServer` + threads), Decimal for all money. Paths, parameters, JSON shapes, HTTP
statuses and error codes follow Binance's spot API docs (rest-api.md, errors.md, filters.md)::

    with BinanceServer() as server:
        ex = make_ccxt_client(server)
        server.set_price("BTC/USDT", Decimal("30000"))
        ex.create_order("BTC/USDT", "market", "buy", 0.1, params={"newClientOrderId": "a-1"})
        server.inject("POST /api/v3/order", "timeout", seconds=1)

Simplifications: one account; depth is synthesised around the last price; MARKET and marketable LIMIT orders
fill at once at the last price (taker); resting LIMIT orders fill at their own price (maker) when `set_price`
crosses them or a test calls `fill`. Supported order types: LIMIT (GTC, IOC, FOK), LIMIT_MAKER, MARKET.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

ZERO = Decimal(0)
EIGHT_DP = Decimal("0.00000001")
DAY_MS = 86_400_000
OPEN = ("NEW", "PARTIALLY_FILLED")
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")  # Binance's rule for newClientOrderId
DECIMAL_RE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS, "M": 30 * DAY_MS}
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
# Request-level faults fire before anything is processed; the others alter one endpoint's answer.
TRANSPORT_FAULTS = ("429", "418", "500", "502", "503", "timeout", "timeout_after")
SEMANTIC_FAULTS = {
    "not_found": ("GET", "/api/v3/order"),
    "insufficient_funds": ("POST", "/api/v3/order"),
    "invalid_order": ("POST", "/api/v3/order"),
    "duplicate_trades": ("GET", "/api/v3/myTrades"),
    "shuffle_trades": ("GET", "/api/v3/myTrades"),
}


def fmt(value: Decimal) -> str:
    """Binance answers amounts as strings with 8 decimals."""
    return f"{value.quantize(EIGHT_DP):f}"


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_DOWN) * step


def now_ms() -> int:
    return int(time.time() * 1000)


class BinanceError(Exception):
    """An error answer: HTTP status and Binance's {"code", "msg"} body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def bad_param(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def insufficient() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.")


@dataclass(frozen=True)
class MarketSpec:
    """One spot symbol and its filters: PRICE_FILTER, LOT_SIZE, and NOTIONAL or (pre-2023) MIN_NOTIONAL."""

    base: str
    quote: str
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")  # NOTIONAL only
    notional_filter: str = "NOTIONAL"
    status: str = "TRADING"

    @property
    def id(self) -> str:
        return self.base + self.quote


DEFAULT_MARKETS = (
    MarketSpec("BTC", "USDT"),
    MarketSpec("ETH", "USDT", step_size=Decimal("0.0001"), min_qty=Decimal("0.0001")),
    MarketSpec("ETH", "BTC", tick_size=Decimal("0.00001"), min_price=Decimal("0.00001"), max_price=Decimal("1000"),
               step_size=Decimal("0.0001"), min_qty=Decimal("0.0001"), min_notional=Decimal("0.0001")),
)  # fmt: skip
DEFAULT_PRICES = {"BTC/USDT": "30000", "ETH/USDT": "2000", "ETH/BTC": "0.06"}
DEFAULT_BALANCES = {"USDT": "100000", "BTC": "1", "ETH": "10"}


@dataclass
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    locked: Decimal = ZERO  # funds still locked for the unfilled rest: quote for a BUY, base for a SELL

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def to_json(self) -> dict[str, Any]:
        """The shape of GET /api/v3/order, openOrders and allOrders."""
        # fmt: off
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1, "clientOrderId": self.client_order_id,
            "price": fmt(self.price), "origQty": fmt(self.orig_qty), "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote), "status": self.status, "timeInForce": self.time_in_force,
            "type": self.type, "side": self.side, "stopPrice": fmt(ZERO), "icebergQty": fmt(ZERO), "time": self.time,
            "updateTime": self.update_time, "isWorking": True, "workingTime": self.time,
            "origQuoteOrderQty": fmt(self.orig_quote_qty), "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        # fmt: on


@dataclass
class Trade:
    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def to_json(self) -> dict[str, Any]:
        """The shape of GET /api/v3/myTrades."""
        # fmt: off
        return {
            "symbol": self.symbol, "id": self.id, "orderId": self.order_id, "orderListId": -1,
            "price": fmt(self.price), "qty": fmt(self.qty), "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission), "commissionAsset": self.commission_asset, "time": self.time,
            "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True,
        }
        # fmt: on


@dataclass
class Fault:
    method: str | None  # None: any
    path: str | None  # None: any
    kind: str
    remaining: int
    kw: dict[str, Any]

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and self.path in (None, path)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or a str sent as text/html
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: float | None = None  # sleep this long, then close the connection without answering


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            reply = self.server.app._serve(self.command, self.path, self.headers, body)
            if reply.drop_after is not None:
                self.server.app._stopping.wait(reply.drop_after)
                self.close_connection = True
                return
            is_json = not isinstance(reply.body, str)
            data = (json.dumps(reply.body, separators=(",", ":")) if is_json else reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json;charset=UTF-8" if is_json else "text/html")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client is gone (timed out, killed): fine
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 (http.server's naming)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: BinanceServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("loopback Binance: error while serving %s", client_address, exc_info=True)


class BinanceServer:
    """The fake exchange: `start()`/`stop()` or a context manager; thread-safe (one lock guards all state)."""

    def __init__(
        self,
        *,
        markets: Iterable[MarketSpec] = DEFAULT_MARKETS,
        balances: Mapping[str, Decimal | str | int] | None = None,
        prices: Mapping[str, Decimal | str | int] | None = None,
        candles: Mapping[tuple[str, str], Iterable[tuple]] | None = None,
        api_key: str = "loopback-api-key",
        api_secret: str = "loopback-api-secret",  # noqa: S107 (a test fixture)
        commission_rate: Decimal | str = "0.001",
        commission_in: str = "quote",  # "quote": always the quote asset; "received": the asset bought
        market_fill_parts: int = 1,  # MARKET orders fill in this many trades
    ) -> None:
        self.markets = {m.id: m for m in markets}
        self.api_key, self.api_secret = api_key, api_secret
        self.commission_rate, self.commission_in = dec(commission_rate), commission_in
        self.market_fill_parts = market_fill_parts
        self.on_order_created: Callable[[dict[str, Any]], None] | None = None
        self._initial = (
            dict(DEFAULT_BALANCES if balances is None else balances),
            dict(DEFAULT_PRICES if prices is None else prices),
            dict(candles or {}),
        )
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> BinanceServer:
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.app = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a timeout fault
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BinanceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- test controls -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the constructor's balances, prices and candles; no orders, trades, faults, requests, hook."""
        balances, prices, candles = self._initial
        with self._lock:
            self._orders: dict[int, Order] = {}
            self._trades: list[Trade] = []
            self._faults: list[Fault] = []
            self._requests: list[tuple[str, str]] = []
            self._next_order_id, self._next_trade_id = 1_000_001, 5_000_001  # apart: mixing them up fails
            self.on_order_created = None
            self._balances: dict[str, list[Decimal]] = {a: [dec(v), ZERO] for a, v in balances.items()}
            self._prices: dict[str, Decimal] = {}
            self._stats: dict[str, dict[str, Decimal]] = {}  # 24h open/high/low per symbol id
            self._candles: dict[tuple[str, str], list[tuple]] = {}
            for symbol, price in prices.items():
                self.set_price(symbol, price)
            for (symbol, interval), rows in candles.items():
                self.set_candles(symbol, interval, rows)

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """Set the last price ("BTC/USDT" or "BTCUSDT"); resting LIMIT orders it crosses fill at their price."""
        price = dec(price)
        with self._lock:
            sid = self._symbol_id(symbol)
            self._prices[sid] = price
            stats = self._stats.setdefault(sid, {"open": price, "high": price, "low": price})
            stats["high"], stats["low"] = max(stats["high"], price), min(stats["low"], price)
            for order in sorted(self._orders.values(), key=lambda o: o.order_id):
                if order.symbol == sid and order.status in OPEN and order.type != "MARKET":
                    if (price <= order.price) if order.side == "BUY" else (price >= order.price):
                        self._fill(order, order.remaining, order.price, maker=True)

    def set_candles(self, symbol: str, interval: str, candles: Iterable[tuple]) -> None:
        """Klines for /api/v3/klines, as (open_time_ms, open, high, low, close, volume) rows."""
        with self._lock:
            rows = sorted((int(c[0]), *(dec(x) for x in c[1:6])) for c in candles)
            self._candles[(self._symbol_id(symbol), interval)] = rows

    def fill(self, order: int | str, qty: Decimal | str | None = None, price: Decimal | str | None = None) -> dict:
        """Fill an open order (order id, or client order id) by `qty` (default: all that is left), as maker."""
        with self._lock:
            found = self._orders.get(int(order)) if str(order).isdigit() else self._by_client_id(str(order))
            if found is None or found.status not in OPEN:
                raise ValueError(f"no open order {order!r}")
            qty = found.remaining if qty is None else dec(qty)
            if not ZERO < qty <= found.remaining:
                raise ValueError(f"cannot fill {qty} of the {found.remaining} left")
            self._fill(found, qty, found.price if price is None else dec(price), maker=True)
            return found.to_json()

    def inject(self, target: str, fault: str, times: int = 1, **kw: Any) -> None:
        """Queue a fault for the requests matching `target`: "POST /api/v3/order", "/api/v3/order" or "*".

        Faults fire in the order injected, one per matching request, and expire after `times`. kw: `seconds`
        (timeout, timeout_after; default 5), `retry_after` (429, 418), `msg` (invalid_order), `body` (5xx).
        """
        method_part, _, path = target.strip().rpartition(" ")
        method, path_or_any = method_part.upper() or None, None if path == "*" else path
        if path_or_any is not None and not path_or_any.startswith("/"):
            raise ValueError(f"bad fault target {target!r}")
        if fault in SEMANTIC_FAULTS:
            want = SEMANTIC_FAULTS[fault]
            if method not in (None, want[0]) or path_or_any not in (None, want[1]):
                raise ValueError(f"fault {fault!r} only applies to {want[0]} {want[1]}")
            method, path_or_any = want
        elif fault not in TRANSPORT_FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.append(Fault(method, path_or_any, fault, times, kw))

    # -- inspection --------------------------------------------------------------------------------------
    @property
    def orders(self) -> dict[int, dict[str, Any]]:
        """Every order by order id, as GET /api/v3/order answers it."""
        with self._lock:
            return {oid: o.to_json() for oid, o in self._orders.items()}

    @property
    def trades(self) -> list[dict[str, Any]]:
        """Every trade, oldest first, as GET /api/v3/myTrades answers it."""
        with self._lock:
            return [t.to_json() for t in self._trades]

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, faulted ones included."""
        with self._lock:
            return list(self._requests)

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """(free, locked)."""
        with self._lock:
            free, locked = self._balances.get(asset, (ZERO, ZERO))
            return free, locked

    # -- dispatch ----------------------------------------------------------------------------------------
    def _serve(self, method: str, raw_path: str, headers: Mapping[str, str], body: str) -> Reply:
        split = urlsplit(raw_path)
        path = split.path
        with self._lock:
            self._requests.append((method, path))
            fault = self._take_fault(method, path, TRANSPORT_FAULTS)
        if fault is not None and fault.kind != "timeout_after":
            return self._transport_fault(fault)
        created = None
        try:
            if (method, path) not in ROUTES:
                return Reply(404, f"<html><body>loopback Binance: no route {method} {path}</body></html>")
            handler, signed = ROUTES[(method, path)]
            params = dict(parse_qsl(body, keep_blank_values=True))
            params.update(parse_qsl(split.query, keep_blank_values=True))  # the query string wins
            if signed:
                self._authenticate(headers, split.query, body, params)
            with self._lock:
                result = handler(self, params, self._take_fault(method, path, SEMANTIC_FAULTS))
            if isinstance(result, tuple):  # POST /api/v3/order: (answer, the stored order)
                result, created = result
            reply = Reply(200, result)
        except BinanceError as exc:
            reply = Reply(exc.status, {"code": exc.code, "msg": exc.msg})
        except Exception as exc:  # a bug here: say so rather than drop the connection
            log.exception("loopback Binance: %s %s failed", method, path)
            reply = Reply(500, {"code": -1000, "msg": f"loopback Binance bug: {exc!r}"})
        hook = self.on_order_created
        if created is not None and hook is not None:
            try:  # after the order is stored, before the answer is written
                hook(created)
            except Exception:
                log.exception("loopback Binance: on_order_created hook failed")
        if fault is not None:  # timeout_after: the request was processed, its answer is lost
            return Reply(drop_after=float(fault.kw.get("seconds", 5)))
        return reply

    def _take_fault(self, method: str, path: str, kinds: Iterable[str]) -> Fault | None:
        """The first fault matching the request, if it is one of `kinds`; consumed. Keeps injection order."""
        fault = next((f for f in self._faults if f.matches(method, path)), None)
        if fault is None or fault.kind not in kinds:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)
        return fault

    @staticmethod
    def _transport_fault(fault: Fault) -> Reply:
        kind, kw = fault.kind, fault.kw
        if kind == "timeout":
            return Reply(drop_after=float(kw.get("seconds", 5)))
        if kind == "429":
            msg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
            msg += "Please use WebSocket Streams for live updates to avoid polling the API."
            return Reply(429, {"code": -1003, "msg": msg}, {"Retry-After": str(kw.get("retry_after", 1))})
        if kind == "418":
            retry_after = int(kw.get("retry_after", 120))
            msg = f"Way too much request weight used; IP banned until {now_ms() + retry_after * 1000}. "
            msg += "Please use WebSocket Streams for live updates to avoid bans."
            return Reply(418, {"code": -1003, "msg": msg}, {"Retry-After": str(retry_after)})
        # Binance documents the message "Service Unavailable." for 503, with no code; other 5xx come from its
        # gateway as HTML. Without a "code", ccxt falls back to its HTTP status table.
        default = {"503": {"msg": "Service Unavailable."}}.get(kind, f"<html><body><h1>{kind}</h1></body></html>")
        return Reply(int(kind), kw.get("body", default))

    def _authenticate(self, headers: Mapping[str, str], query: str, body: str, params: dict[str, str]) -> None:
        """SIGNED endpoints: the API key header, the HMAC-SHA256 signature, then the timestamp."""
        key = headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.get("signature") or ""
        if not signature:
            raise bad_param("signature")
        # Signed payload: the query string then the body, as sent, without the signature (no separator).
        unsigned = [
            "&".join(p for p in raw.split("&") if p and not p.startswith("signature=")) for raw in (query, body)
        ]
        expected = hmac.new(self.api_secret.encode(), "".join(unsigned).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):  # HMAC signatures are case-insensitive
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        timestamp = self._int(params, "timestamp", required=True) or 0
        recv_window = self._num(params, "recvWindow") or 5000
        if recv_window > 60000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000.")
        server_time = now_ms()
        if timestamp >= server_time + 1000:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_time - timestamp > recv_window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # -- helpers (lock held) -----------------------------------------------------------------------------
    def _symbol_id(self, symbol: str) -> str:
        if symbol.replace("/", "") not in self.markets:
            raise KeyError(f"unknown symbol {symbol!r}")
        return symbol.replace("/", "")

    def _maybe_market(self, params: dict[str, str]) -> MarketSpec | None:
        sid = params.get("symbol")
        if sid and sid not in self.markets:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return self.markets[sid] if sid else None

    def _market(self, params: dict[str, str]) -> MarketSpec:
        market = self._maybe_market(params)
        if market is None:
            raise bad_param("symbol")
        return market

    @staticmethod
    def _num(params: dict[str, str], name: str) -> Decimal | None:
        if not params.get(name):
            return None
        try:
            value = Decimal(params[name])
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or value < 0:
            msg = f"Illegal characters found in parameter '{name}'; legal range is '{DECIMAL_RE}'."
            raise BinanceError(400, -1100, msg)
        return value

    @staticmethod
    def _int(params: dict[str, str], name: str, required: bool = False, default: int | None = None) -> int | None:
        raw = params.get(name) or ""
        if not raw.isdigit():
            if raw or required:
                raise bad_param(name)
            return default
        return int(raw)

    def _by_client_id(self, client_id: str) -> Order | None:
        """A client id may be reused once its order is done: the open order with it, else the newest."""
        same = [o for o in self._orders.values() if o.client_order_id == client_id]
        return ([o for o in same if o.status in OPEN] or same or [None])[-1]

    def _lookup(self, params: dict[str, str], missing: BinanceError) -> Order:
        market = self._market(params)
        order_id, client_id = self._int(params, "orderId"), params.get("origClientOrderId")
        if order_id is None and not client_id:
            msg = "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            raise BinanceError(400, -1102, msg)
        order = self._orders.get(order_id) if order_id is not None else self._by_client_id(client_id or "")
        # With both, the order is found by id and its client id must then match.
        if order is None or order.symbol != market.id or (client_id and order.client_order_id != client_id):
            raise missing
        return order

    def _move(self, asset: str, free: Decimal, locked: Decimal = ZERO) -> None:
        balance = self._balances.setdefault(asset, [ZERO, ZERO])
        balance[0] += free
        balance[1] += locked

    def _commission(self, market: MarketSpec, side: str, qty: Decimal, quote_qty: Decimal) -> tuple[Decimal, str]:
        if self.commission_in == "received" and side == "BUY":
            return (qty * self.commission_rate).quantize(EIGHT_DP), market.base
        return (quote_qty * self.commission_rate).quantize(EIGHT_DP), market.quote

    def _fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool) -> None:
        market, quote_qty = self.markets[order.symbol], qty * price
        if order.side == "BUY":  # a resting order's funds were locked at its own price
            release = min(order.locked, qty * order.price)
            self._move(market.quote, release - quote_qty, -release)
            self._move(market.base, qty)
        else:
            release = min(order.locked, qty)
            self._move(market.base, release - qty, -release)
            self._move(market.quote, quote_qty)
        order.locked -= release
        commission, asset = self._commission(market, order.side, qty, quote_qty)
        self._move(asset, -commission)
        t = now_ms()
        trade_id, self._next_trade_id = self._next_trade_id, self._next_trade_id + 1
        is_buyer = order.side == "BUY"
        self._trades.append(
            Trade(trade_id, order.order_id, order.symbol, price, qty, commission, asset, t, is_buyer, maker)
        )
        order.executed_qty += qty
        order.cum_quote += quote_qty
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.update_time = t

    @staticmethod
    def _check_filters(market: MarketSpec, qty: Decimal, price: Decimal | None, notional_price: Decimal) -> None:
        notional = qty * notional_price
        max_notional = market.max_notional if market.notional_filter == "NOTIONAL" else notional
        failed = None
        if price is not None and (not market.min_price <= price <= market.max_price or price % market.tick_size):
            failed = "PRICE_FILTER"
        elif not market.min_qty <= qty <= market.max_qty or qty % market.step_size:
            failed = "LOT_SIZE"
        elif not market.min_notional <= notional <= max_notional:
            failed = market.notional_filter
        if failed:
            raise BinanceError(400, -1013, f"Filter failure: {failed}")

    # -- endpoints (lock held) ---------------------------------------------------------------------------
    def _ping(self, params: dict[str, str], fault: Fault | None) -> Any:
        return {}

    def _time(self, params: dict[str, str], fault: Fault | None) -> Any:
        return {"serverTime": now_ms()}

    def _exchange_info(self, params: dict[str, str], fault: Fault | None) -> Any:
        one = self._maybe_market(params)
        symbols = []
        for m in [one] if one else self.markets.values():
            notional: dict[str, Any] = {"filterType": m.notional_filter, "minNotional": fmt(m.min_notional)}
            if m.notional_filter == "NOTIONAL":
                notional.update(applyMinToMarket=True, maxNotional=fmt(m.max_notional), applyMaxToMarket=False)
            else:
                notional["applyToMarket"] = True
            notional["avgPriceMins"] = 0  # 0: MARKET orders are checked against the last price
            # fmt: off
            symbols.append({
                "symbol": m.id, "status": m.status, "baseAsset": m.base, "baseAssetPrecision": 8,
                "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": False, "cancelReplaceAllowed": False, "amendAllowed": False,
                "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": fmt(m.min_price), "maxPrice": fmt(m.max_price),
                     "tickSize": fmt(m.tick_size)},
                    {"filterType": "LOT_SIZE", "minQty": fmt(m.min_qty), "maxQty": fmt(m.max_qty),
                     "stepSize": fmt(m.step_size)},
                    notional,
                ],
                "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            })
            # fmt: on
        limits = [("REQUEST_WEIGHT", "MINUTE", 1, 6000), ("ORDERS", "SECOND", 10, 100), ("ORDERS", "DAY", 1, 200000)]
        rate_limits = [dict(zip(("rateLimitType", "interval", "intervalNum", "limit"), x, strict=True)) for x in limits]
        return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": rate_limits, "exchangeFilters": [],
                "symbols": symbols}  # fmt: skip

    def _ticker_24hr(self, params: dict[str, str], fault: Fault | None) -> Any:
        m = self._maybe_market(params)
        if m is None:
            return [self._ticker_24hr({"symbol": sid}, None) for sid in self.markets]
        last, t = self._prices.get(m.id, ZERO), now_ms()
        stats = self._stats.get(m.id, {"open": last, "high": last, "low": last})
        trades = [x for x in self._trades if x.symbol == m.id and x.time > t - DAY_MS]
        volume, quote_volume = sum((x.qty for x in trades), ZERO), sum((x.qty * x.price for x in trades), ZERO)
        change, open_ = last - stats["open"], stats["open"]
        # fmt: off
        return {
            "symbol": m.id, "priceChange": fmt(change), "priceChangePercent": f"{change * 100 / (open_ or 1):.3f}",
            "weightedAvgPrice": fmt(quote_volume / volume if volume else last), "prevClosePrice": fmt(open_),
            "lastPrice": fmt(last), "lastQty": fmt(trades[-1].qty if trades else ZERO),
            "bidPrice": fmt(max(last - m.tick_size, ZERO)), "bidQty": "1.00000000",
            "askPrice": fmt(last + m.tick_size), "askQty": "1.00000000", "openPrice": fmt(open_),
            "highPrice": fmt(stats["high"]), "lowPrice": fmt(stats["low"]), "volume": fmt(volume),
            "quoteVolume": fmt(quote_volume), "openTime": t - DAY_MS, "closeTime": t,
            "firstId": trades[0].id if trades else -1, "lastId": trades[-1].id if trades else -1, "count": len(trades),
        }
        # fmt: on

    def _ticker_price(self, params: dict[str, str], fault: Fault | None) -> Any:
        one = self._maybe_market(params)
        prices = [{"symbol": m.id, "price": fmt(self._prices.get(m.id, ZERO))} for m in self.markets.values()]
        return next(p for p in prices if p["symbol"] == one.id) if one else prices

    def _depth(self, params: dict[str, str], fault: Fault | None) -> Any:
        """A synthetic book around the last price: levels one tick apart, growing sizes."""
        m = self._market(params)
        levels, last = min(self._int(params, "limit", default=100) or 100, 5000), self._prices.get(m.id, ZERO)
        size = floor_to(Decimal("0.5"), m.step_size)
        bids = [[fmt(last - i * m.tick_size), fmt(size * i)] for i in range(1, levels + 1) if last > i * m.tick_size]
        asks = [[fmt(last + i * m.tick_size), fmt(size * i)] for i in range(1, levels + 1)]
        return {"lastUpdateId": len(self._trades) + 1, "bids": bids, "asks": asks}

    def _klines(self, params: dict[str, str], fault: Fault | None) -> Any:
        m, interval = self._market(params), params.get("interval") or ""
        if interval not in INTERVALS:
            raise BinanceError(400, -1120, "Invalid interval.") if interval else bad_param("interval")
        limit = min(self._int(params, "limit", default=500) or 500, 1000)
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        rows = [r for r in self._candles.get((m.id, interval), []) if (start or 0) <= r[0] <= (end or r[0])]
        rows = rows[:limit] if start is not None else rows[-limit:]  # no startTime: the most recent
        span = int(interval[:-1]) * UNIT_MS[interval[-1]]
        # open time, open, high, low, close, volume, close time, quote volume, trades, taker base and quote volumes
        return [[t, *(fmt(x) for x in (o, h, lo, c, v)), t + span - 1, fmt(v * c), 1, fmt(v / 2), fmt(v * c / 2), "0"]
                for t, o, h, lo, c, v in rows]  # fmt: skip

    def _account(self, params: dict[str, str], fault: Fault | None) -> Any:
        omit_zero = params.get("omitZeroBalances") == "true"
        balances = [{"asset": a, "free": fmt(f), "locked": fmt(lk)}
                    for a, (f, lk) in sorted(self._balances.items()) if f or lk or not omit_zero]  # fmt: skip
        rate = fmt(self.commission_rate)
        bps = int(self.commission_rate * 10000)
        # fmt: off
        return {
            "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(ZERO), "seller": fmt(ZERO)},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms(), "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": 354937868,
        }
        # fmt: on

    def _new_order(self, params: dict[str, str], fault: Fault | None) -> Any:
        m = self._market(params)
        side, otype, tif = params.get("side"), params.get("type"), params.get("timeInForce")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.") if side else bad_param("side")
        if otype not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(400, -1116, "Invalid orderType.") if otype else bad_param("type")
        client_id = params.get("newClientOrderId") or "loop" + secrets.token_hex(9)
        if not CLIENT_ID_RE.match(client_id):
            msg = f"Illegal characters found in parameter 'newClientOrderId'; legal range is '{CLIENT_ID_RE.pattern}'."
            raise BinanceError(400, -1100, msg)
        qty, quote_order_qty, price = (self._num(params, n) for n in ("quantity", "quoteOrderQty", "price"))
        last = self._prices.get(m.id, ZERO)
        if otype == "MARKET":
            if qty is None and quote_order_qty is None:
                msg = "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                raise BinanceError(400, -1102, msg)
            if qty is None and quote_order_qty is not None:  # spend (BUY) or receive (SELL) about this much quote
                if not last:
                    raise BinanceError(400, -2010, "Order book liquidity is less than symbol minimum quantity.")
                qty = floor_to(quote_order_qty / last, m.step_size)
        else:
            missing = [n for n, v in (("timeInForce", tif or otype == "LIMIT_MAKER"), ("price", price)) if not v]
            if missing or qty is None:
                raise bad_param(missing[0] if missing else "quantity")
            if tif not in (None, "GTC", "IOC", "FOK"):
                raise BinanceError(400, -1115, "Invalid timeInForce.")
        assert qty is not None
        if fault is not None and fault.kind == "invalid_order":
            raise BinanceError(400, -1013, str(fault.kw.get("msg", "Filter failure: LOT_SIZE")))
        self._check_filters(m, qty, price, price if price is not None else last)
        # Client ids are unique among open orders only: a reuse after FILLED or CANCELED is a new order.
        if any(o.client_order_id == client_id and o.status in OPEN for o in self._orders.values()):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        crosses = price is not None and (price >= last if side == "BUY" else price <= last)
        taker = last > 0 and (otype == "MARKET" or crosses)
        if otype == "LIMIT_MAKER" and taker:
            raise BinanceError(400, -2010, "Order would immediately match and take.")
        cost = qty * (last if taker or price is None else price)
        if self.commission_in == "quote":  # BUY: the quote commission must be payable too
            cost += self._commission(m, side, qty, cost)[0]
        have = self._balances.get(m.quote if side == "BUY" else m.base, [ZERO])[0]
        if have < (cost if side == "BUY" else qty) or (fault is not None and fault.kind == "insufficient_funds"):
            raise insufficient()

        t, order_id = now_ms(), self._next_order_id
        self._next_order_id += 1
        order = Order(order_id, client_id, m.id, side, otype, tif or "GTC", price or ZERO, qty,
                      quote_order_qty or ZERO, t, update_time=t)  # fmt: skip
        self._orders[order_id] = order
        first_trade = self._next_trade_id
        if taker:  # fills at once at the last price; a MARKET order maybe in several trades
            parts = max(1, self.market_fill_parts) if otype == "MARKET" else 1
            chunk = floor_to(qty / parts, m.step_size)
            for i in range(parts):
                part = order.remaining if i == parts - 1 else min(chunk, order.remaining)
                if part > 0:
                    self._fill(order, part, last, maker=False)
        elif otype == "MARKET" or tif in ("IOC", "FOK"):
            order.status = "EXPIRED"  # nothing to match against
        else:  # resting: lock its funds
            order.locked = qty * order.price if side == "BUY" else qty
            self._move(m.quote if side == "BUY" else m.base, -order.locked, order.locked)

        answer: dict[str, Any] = {"symbol": m.id, "orderId": order_id, "orderListId": -1, "clientOrderId": client_id,
                                  "transactTime": t}  # fmt: skip
        response_type = params.get("newOrderRespType") or "FULL"  # ACK, RESULT or FULL
        if response_type != "ACK":
            hidden = ("time", "updateTime", "stopPrice", "icebergQty", "isWorking")
            answer.update((k, v) for k, v in order.to_json().items() if k not in hidden)
        if response_type == "FULL":
            fills = [x for x in self._trades if x.id >= first_trade and x.order_id == order_id]
            answer["fills"] = [{"price": fmt(x.price), "qty": fmt(x.qty), "commission": fmt(x.commission),
                                "commissionAsset": x.commission_asset, "tradeId": x.id} for x in fills]  # fmt: skip
        return answer, order.to_json()

    def _get_order(self, params: dict[str, str], fault: Fault | None) -> Any:
        missing = BinanceError(400, -2013, "Order does not exist.")
        order = self._lookup(params, missing)
        if fault is not None:  # not_found: the lag before a fresh order is visible to queries
            raise missing
        return order.to_json()

    def _cancel_order(self, params: dict[str, str], fault: Fault | None) -> Any:
        order = self._lookup(params, BinanceError(400, -2011, "Unknown order sent."))
        if order.status not in OPEN:  # Binance answers the same for an order already filled or canceled
            raise BinanceError(400, -2011, "Unknown order sent.")
        m = self.markets[order.symbol]
        self._move(m.quote if order.side == "BUY" else m.base, order.locked, -order.locked)
        order.locked, order.status, order.update_time = ZERO, "CANCELED", now_ms()
        hidden = ("time", "updateTime", "stopPrice", "icebergQty", "isWorking", "workingTime")
        answer = {k: v for k, v in order.to_json().items() if k not in hidden}
        # Like Binance: clientOrderId is the cancel request's own id; the order's is origClientOrderId.
        cancel_id = params.get("newClientOrderId") or "cancel" + secrets.token_hex(8)
        answer.update(origClientOrderId=order.client_order_id, clientOrderId=cancel_id, transactTime=order.update_time)
        return answer

    def _open_orders(self, params: dict[str, str], fault: Fault | None) -> Any:
        m = self._maybe_market(params)
        return [o.to_json() for o in self._orders.values() if o.status in OPEN and (m is None or o.symbol == m.id)]

    def _page(self, params: dict[str, str], rows: list, from_id: int | None) -> list:
        """startTime/endTime (at most 24 h apart), from-id and limit, as allOrders and myTrades apply them."""
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        if start is not None and end is not None and end - start > DAY_MS:
            raise BinanceError(400, -1127, "More than 24 hours between startTime and endTime.")
        limit = min(self._int(params, "limit", default=500) or 500, 1000)
        if from_id is not None:  # rows with an id >= from_id, oldest first; the time window is ignored
            return [r for r in rows if r[0] >= from_id][:limit]
        rows = [r for r in rows if (start or 0) <= r[1] <= (end or r[1])]
        return rows[:limit] if start is not None else rows[-limit:]  # no start: the most recent

    def _all_orders(self, params: dict[str, str], fault: Fault | None) -> Any:
        m = self._market(params)
        rows = [(o.order_id, o.time, o) for o in self._orders.values() if o.symbol == m.id]
        return [o.to_json() for _, _, o in self._page(params, rows, self._int(params, "orderId"))]

    def _my_trades(self, params: dict[str, str], fault: Fault | None) -> Any:
        m, order_id = self._market(params), self._int(params, "orderId")
        rows = [(t.id, t.time, t) for t in self._trades if t.symbol == m.id and order_id in (None, t.order_id)]
        answer = [t.to_json() for _, _, t in self._page(params, rows, self._int(params, "fromId"))]
        if fault is not None and fault.kind == "duplicate_trades" and answer:
            answer.insert(1, dict(answer[0]))
        if fault is not None and fault.kind == "shuffle_trades":
            answer.reverse()
        return answer


Endpoint = Callable[[BinanceServer, dict[str, str], Fault | None], Any]
ROUTES: dict[tuple[str, str], tuple[Endpoint, bool]] = {  # (method, path) -> (handler, signed)
    ("GET", "/api/v3/ping"): (BinanceServer._ping, False),
    ("GET", "/api/v3/time"): (BinanceServer._time, False),
    ("GET", "/api/v3/exchangeInfo"): (BinanceServer._exchange_info, False),
    ("GET", "/api/v3/ticker/24hr"): (BinanceServer._ticker_24hr, False),
    ("GET", "/api/v3/ticker/price"): (BinanceServer._ticker_price, False),
    ("GET", "/api/v3/depth"): (BinanceServer._depth, False),
    ("GET", "/api/v3/klines"): (BinanceServer._klines, False),
    ("GET", "/api/v3/account"): (BinanceServer._account, True),
    ("POST", "/api/v3/order"): (BinanceServer._new_order, True),
    ("GET", "/api/v3/order"): (BinanceServer._get_order, True),
    ("DELETE", "/api/v3/order"): (BinanceServer._cancel_order, True),
    ("GET", "/api/v3/openOrders"): (BinanceServer._open_orders, True),
    ("GET", "/api/v3/allOrders"): (BinanceServer._all_orders, True),
    ("GET", "/api/v3/myTrades"): (BinanceServer._my_trades, True),
}


def make_ccxt_client(
    server: Any, *, api_key: str | None = None, secret: str | None = None, timeout: int = 2000, **options: Any
) -> Any:
    """The real ccxt binance client with every API URL pointed at `server` (needs base_url, api_key, api_secret).

    `options` are extra ccxt options, e.g. fetchOpenOrders={"warnWithoutSymbol": False}.
    """
    import ccxt

    exchange = ccxt.binance(
        {
            "apiKey": server.api_key if api_key is None else api_key,
            "secret": server.api_secret if secret is None else secret,
            "enableRateLimit": False,
            "timeout": timeout,
            "options": {
                "fetchMarkets": {"types": ["spot"]},  # only GET /api/v3/exchangeInfo, no fapi/dapi exchangeInfo
                "fetchCurrencies": False,  # no GET /sapi/v1/capital/config/getall
                "fetchMargins": False,  # no GET /sapi/v1/margin/allPairs and isolated/allPairs in load_markets
                "adjustForTimeDifference": False,  # (already ccxt's default) no GET /api/v3/time in load_markets
                **options,
            },
        }
    )
    base = server.base_url.rstrip("/")
    exchange.urls["api"] = {  # scheme and host replaced, path kept: https://api.binance.com/api/v3 -> base/api/v3
        name: base + urlsplit(url).path if isinstance(url, str) and url.startswith("http") else url
        for name, url in exchange.urls["api"].items()
    }
    return exchange
