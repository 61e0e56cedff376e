"""A loopback Hyperliquid API (perpetuals) for tests, spoken well enough for the real, unmodified ccxt client.

Stdlib plus what ccxt ships (its keccak and msgpack); Decimal for all money. Request and answer shapes, the
signing scheme and the error strings follow Hyperliquid's API docs (info endpoint, exchange endpoint, error
responses, signing)::

    with HyperliquidServer() as server:
        client = CcxtClient(exchange_id="hyperliquid", wallet_address=server.wallet_address,
                            private_key=server.private_key)      # with EXCHANGE_URL_OVERRIDES pointed here
        server.set_mark("BTC", "31000")
        server.pay_funding("BTC", "0.0001")
        server.inject("clearinghouseState", "429")

Every POST /exchange is verified the way Hyperliquid does it: the action is re-serialized in Hyperliquid's own
field order (msgpack), hashed with the nonce and the vault flag (keccak) into the phantom agent's connectionId,
and the EIP-712 signature (domain "Exchange", chainId 1337) is recovered to an address; user-signed actions
(approveBuilderFee) use the "HyperliquidSignTransaction" domain. The recovered address must be an account or an
API wallet approved for one, else {"status":"err","response":"User or API Wallet 0x... does not exist."}.

Simplifications: perpetuals only (a spot universe is listed so markets load, but spot orders are refused); no
order book of other traders: an order that crosses the mark fills at once at the mark (taker), a resting limit
order fills at its own price (maker) when `set_mark` crosses it; trigger orders (tpsl sl/tp) fire when the mark
crosses their trigger price; a resting order fills without a second margin check; the liquidation price is
reported but enforced only when a test calls `liquidate`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ccxt.static_dependencies.keccak import SHA3
from ccxt.static_dependencies.msgpack import packb

from exchanges import perps

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)
USD_DP = Decimal("0.000001")  # Hyperliquid books USDC with 6 decimals
MIN_NOTIONAL = Decimal(10)
HOUR_MS = 3_600_000
ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
CLOID_RE = re.compile(r"^0x[0-9a-fA-F]{32}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M")
UNIT_MS = {"m": 60_000, "h": HOUR_MS, "d": 24 * HOUR_MS, "w": 7 * 24 * HOUR_MS, "M": 30 * 24 * HOUR_MS}
OPEN = ("open", "triggered")
# Request-level faults fire before anything is processed; "unknown_oid" alters orderStatus's answer.
TRANSPORT_FAULTS = ("429", "500", "502", "503", "504", "timeout", "timeout_after", "malformed")
SEMANTIC_FAULTS = {"unknown_oid": "orderStatus"}
DEFAULT_TAKER_FEE = Decimal("0.00045")  # Hyperliquid's base tier for perpetuals
DEFAULT_MAKER_FEE = Decimal("0.00015")


def now_ms() -> int:
    return int(time.time() * 1000)


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def fmt(value: Decimal) -> str:
    """Hyperliquid writes numbers as decimal strings without trailing zeros, integers as "30000.0"."""
    text = format(value.normalize(), "f")
    if text in ("-0", "0"):
        return "0.0"
    return text if "." in text else text + ".0"


def usd(value: Decimal) -> Decimal:
    return value.quantize(USD_DP, rounding=ROUND_DOWN)


def fmt_usd(value: Decimal) -> str:
    return fmt(usd(value))


# -- secp256k1, keccak and EIP-712: enough to recover who signed ------------------------------------------
_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
    1,
)
_INFINITY = (0, 1, 0)


def keccak(data: bytes) -> bytes:
    return bytes(SHA3(data))


def _double(p: tuple[int, int, int]) -> tuple[int, int, int]:
    """Jacobian doubling on y^2 = x^3 + 7."""
    x, y, z = p
    if z == 0 or y == 0:
        return _INFINITY
    yy = y * y % _P
    s = 4 * x * yy % _P
    m = 3 * x * x % _P
    x3 = (m * m - 2 * s) % _P
    return x3, (m * (s - x3) - 8 * yy * yy) % _P, 2 * y * z % _P


def _add(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1z1, z2z2 = p[2] * p[2] % _P, q[2] * q[2] % _P
    u1, u2 = p[0] * z2z2 % _P, q[0] * z1z1 % _P
    s1, s2 = p[1] * z2z2 * q[2] % _P, q[1] * z1z1 * p[2] % _P
    if u1 == u2:
        return _double(p) if s1 == s2 else _INFINITY
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    hh = h * h % _P
    hhh = h * hh % _P
    x3 = (r * r - hhh - 2 * u1 * hh) % _P
    return x3, (r * (u1 * hh - x3) - s1 * hhh) % _P, h * p[2] * q[2] % _P


def _multiply(k: int, p: tuple[int, int, int]) -> tuple[int, int, int]:
    out = _INFINITY
    for bit in bin(k)[2:]:
        out = _double(out)
        if bit == "1":
            out = _add(out, p)
    return out


def _address(point: tuple[int, int, int]) -> str:
    zi = pow(point[2], -1, _P)
    x, y = point[0] * zi * zi % _P, point[1] * zi * zi * zi % _P
    return "0x" + keccak(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[-20:].hex()


def address_of(private_key: str) -> str:
    """The (lowercase) address of a hex private key."""
    secret = int(private_key.removeprefix("0x"), 16)
    if not 0 < secret < _N:
        raise ValueError("not a secp256k1 private key")
    return _address(_multiply(secret, _G))


def recover_signer(digest: bytes, signature: Mapping[str, Any]) -> str:
    """The address whose key made `signature` ({"r", "s", "v"}) over the 32-byte digest."""
    r, s, v = int(str(signature["r"]), 16), int(str(signature["s"]), 16), int(signature["v"])
    recovery = v - 27 if v >= 27 else v
    if not (0 < r < _N and 0 < s < _N) or recovery not in (0, 1, 2, 3):
        raise ValueError("malformed signature")
    x = r + (_N if recovery & 2 else 0)
    y_squared = (pow(x, 3, _P) + 7) % _P
    y = pow(y_squared, (_P + 1) // 4, _P)
    if x >= _P or y * y % _P != y_squared:
        raise ValueError("the signature's point is not on the curve")
    if y & 1 != recovery & 1:
        y = _P - y
    z, r_inv = int.from_bytes(digest, "big"), pow(r, -1, _N)
    return _address(_add(_multiply(-z * r_inv % _N, _G), _multiply(s * r_inv % _N, (x, y, 1))))


def _eip712_word(kind: str, value: Any) -> bytes:
    if kind == "string":
        return keccak(str(value).encode())
    if kind == "bytes32":
        return bytes(value)
    if kind == "address":
        return bytes(12) + bytes.fromhex(str(value).removeprefix("0x").lower())
    if kind.startswith("uint"):
        return int(value).to_bytes(32, "big")
    if kind == "bool":
        return int(bool(value)).to_bytes(32, "big")
    raise ValueError(f"EIP-712 type {kind!r} is not used by Hyperliquid")


def _eip712_struct(name: str, fields: list[tuple[str, str]], values: Mapping[str, Any]) -> bytes:
    type_hash = keccak(f"{name}({','.join(f'{kind} {key}' for key, kind in fields)})".encode())
    return keccak(type_hash + b"".join(_eip712_word(kind, values[key]) for key, kind in fields))


def eip712_digest(
    *, domain_name: str, chain_id: int, primary: str, fields: list[tuple[str, str]], message: Mapping[str, Any]
) -> bytes:
    domain_fields = [
        ("name", "string"),
        ("version", "string"),
        ("chainId", "uint256"),
        ("verifyingContract", "address"),
    ]
    domain = {"name": domain_name, "version": "1", "chainId": chain_id, "verifyingContract": ZERO_ADDRESS}
    separator = _eip712_struct("EIP712Domain", domain_fields, domain)
    return keccak(b"\x19\x01" + separator + _eip712_struct(primary, fields, message))


def action_hash(action: Any, nonce: int, vault: str | None, expires_after: int | None) -> bytes:
    """The phantom agent's connectionId: keccak(msgpack(action) || nonce (8 bytes) || vault flag [|| vault]
    [|| 0x00 || expiresAfter (8 bytes)])."""
    data = packb(action) + nonce.to_bytes(8, "big")
    data += b"\x00" if vault is None else b"\x01" + bytes.fromhex(vault.removeprefix("0x"))
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak(data)


# -- the wire format: Hyperliquid's field order, which is what gets hashed ---------------------------------
class WireError(Exception):
    """The JSON body does not deserialize into Hyperliquid's types (HTTP 422, plain text)."""


def _req(obj: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise WireError(f"missing field `{key}`")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise WireError(f"invalid type for `{key}`: expected an integer")
    if not isinstance(value, kind):
        raise WireError(f"invalid type for `{key}`")
    return value


def _cloid(value: Any) -> str:
    if not isinstance(value, str) or not CLOID_RE.match(value):
        raise WireError("invalid cloid: expected 0x and 32 hex digits")
    return value.lower()  # parsed into 16 bytes and written back in lowercase


def _order_wire(raw: Any) -> dict[str, Any]:
    kind = _req(raw, "t", dict)
    if "limit" in kind:
        tif = _req(kind["limit"], "tif", str)
        if tif not in ("Alo", "Ioc", "Gtc"):
            raise WireError(f"unknown variant `{tif}`, expected one of `Alo`, `Ioc`, `Gtc`")
        order_type: dict[str, Any] = {"limit": {"tif": tif}}
    elif "trigger" in kind:
        trigger = kind["trigger"]
        tpsl = _req(trigger, "tpsl", str)
        if tpsl not in ("tp", "sl"):
            raise WireError(f"unknown variant `{tpsl}`, expected `tp` or `sl`")
        order_type = {
            "trigger": {"isMarket": _req(trigger, "isMarket", bool), "triggerPx": _req(trigger, "triggerPx", str),
                        "tpsl": tpsl}
        }  # fmt: skip
    else:
        raise WireError("unknown order type: expected `limit` or `trigger`")
    wire = {
        "a": _req(raw, "a", int),
        "b": _req(raw, "b", bool),
        "p": _req(raw, "p", str),
        "s": _req(raw, "s", str),
        "r": _req(raw, "r", bool),
        "t": order_type,
    }
    if raw.get("c") is not None:
        wire["c"] = _cloid(raw["c"])
    return wire


def canonical_action(action: Any) -> dict[str, Any]:
    """The L1 action rebuilt in Hyperliquid's field order (raises WireError like its deserializer)."""
    kind = _req(action, "type", str)
    if kind == "order":
        grouping = _req(action, "grouping", str)
        if grouping not in ("na", "normalTpsl", "positionTpsl"):
            raise WireError(f"unknown variant `{grouping}`")
        out: dict[str, Any] = {"type": "order", "orders": [_order_wire(o) for o in _req(action, "orders", list)],
                               "grouping": grouping}  # fmt: skip
        if action.get("builder") is not None:
            builder = action["builder"]
            address = _req(builder, "b", str)
            if not ADDRESS_RE.match(address):
                raise WireError("invalid builder address")
            out["builder"] = {"b": address.lower(), "f": _req(builder, "f", int)}
        return out
    if kind == "cancel":
        cancels = [{"a": _req(c, "a", int), "o": _req(c, "o", int)} for c in _req(action, "cancels", list)]
        return {"type": "cancel", "cancels": cancels}
    if kind == "cancelByCloid":
        cancels = [{"asset": _req(c, "asset", int), "cloid": _cloid(_req(c, "cloid", str))}
                   for c in _req(action, "cancels", list)]  # fmt: skip
        return {"type": "cancelByCloid", "cancels": cancels}
    if kind == "updateLeverage":
        return {"type": "updateLeverage", "asset": _req(action, "asset", int), "isCross": _req(action, "isCross", bool),
                "leverage": _req(action, "leverage", int)}  # fmt: skip
    if kind == "setReferrer":
        return {"type": "setReferrer", "code": _req(action, "code", str)}
    if kind == "noop":
        return {"type": "noop"}
    raise WireError(f"unknown variant `{kind}`")


# User-signed actions: EIP-712 over the action's own fields, domain "HyperliquidSignTransaction".
USER_SIGNED = {
    "approveBuilderFee": (
        "HyperliquidTransaction:ApproveBuilderFee",
        [("hyperliquidChain", "string"), ("maxFeeRate", "string"), ("builder", "address"), ("nonce", "uint64")],
    ),
}


# -- state ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerpSpec:
    """One perpetual of the universe: its coin, size decimals and maximum leverage."""

    name: str
    sz_decimals: int
    max_leverage: int
    only_isolated: bool = False

    @property
    def mmr(self) -> Decimal:
        return perps.maintenance_rate(self.max_leverage)


DEFAULT_PERPS = (PerpSpec("BTC", 5, 50), PerpSpec("ETH", 4, 25))
DEFAULT_MARKS = {"BTC": "30000", "ETH": "2000"}
# Well-known test keys (never funded anywhere): keccak of a label.
DEFAULT_PRIVATE_KEY = "0x" + keccak(b"loopback hyperliquid wallet").hex()


@dataclass
class Position:
    szi: Decimal = ZERO
    entry: Decimal = ZERO
    isolated_margin: Decimal = ZERO  # isolated positions: the margin posted for them
    funding_all: Decimal = ZERO  # funding paid (positive) since the account began, since open, since change
    funding_open: Decimal = ZERO
    funding_change: Decimal = ZERO


@dataclass
class Order:
    oid: int
    user: str
    coin: str
    asset: int
    is_buy: bool
    limit_px: Decimal
    orig_sz: Decimal
    reduce_only: bool
    tif: str | None  # Gtc | Ioc | Alo; None for a trigger order
    timestamp: int
    cloid: str | None = None
    trigger_px: Decimal | None = None
    tpsl: str = ""  # tp | sl for a trigger order
    trigger_is_market: bool = False
    builder_fee: int = 0  # tenths of a basis point
    sz: Decimal = ZERO  # remaining
    status: str = "open"
    history: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_trigger(self) -> bool:
        return self.trigger_px is not None

    @property
    def order_type(self) -> str:
        if not self.is_trigger:
            return "Limit"
        return ("Stop" if self.tpsl == "sl" else "Take Profit") + (" Market" if self.trigger_is_market else " Limit")

    @property
    def triggers_below(self) -> bool:
        """A sell stop-loss and a buy take-profit fire when the mark falls to the trigger; the others when it
        rises to it."""
        return (self.tpsl == "sl") != self.is_buy

    def set_status(self, status: str, t: int | None = None) -> None:
        self.status = status
        self.history.append((status, t or now_ms()))

    def frontend(self) -> dict[str, Any]:
        """The shape of frontendOpenOrders and of orderStatus / historicalOrders' "order"."""
        # fmt: off
        return {
            "coin": self.coin, "side": "B" if self.is_buy else "A", "limitPx": fmt(self.limit_px),
            "sz": fmt(self.sz), "oid": self.oid, "timestamp": self.timestamp,
            "triggerCondition": (
                f"Price {'below' if self.triggers_below else 'above'} {self.trigger_px.normalize():f}"
                if self.trigger_px is not None else "N/A"
            ),
            "isTrigger": self.is_trigger, "triggerPx": fmt(self.trigger_px or ZERO), "children": [],
            "isPositionTpsl": False, "reduceOnly": self.reduce_only, "orderType": self.order_type,
            "origSz": fmt(self.orig_sz), "tif": self.tif, "cloid": self.cloid,
        }
        # fmt: on


@dataclass
class Fill:
    tid: int
    oid: int
    user: str
    coin: str
    px: Decimal
    sz: Decimal
    is_buy: bool
    time: int
    start_position: Decimal
    direction: str
    closed_pnl: Decimal
    fee: Decimal
    builder_fee: Decimal
    crossed: bool
    hash: str
    cloid: str | None
    liquidation: dict[str, Any] | None = None  # set on the fill that liquidated the position

    def to_json(self) -> dict[str, Any]:
        """The shape of userFills and userFillsByTime."""
        # fmt: off
        answer = {
            "coin": self.coin, "px": fmt(self.px), "sz": fmt(self.sz), "side": "B" if self.is_buy else "A",
            "time": self.time, "startPosition": fmt(self.start_position), "dir": self.direction,
            "closedPnl": fmt_usd(self.closed_pnl), "hash": self.hash, "oid": self.oid, "crossed": self.crossed,
            "fee": fmt_usd(self.fee), "tid": self.tid, "feeToken": "USDC", "cloid": self.cloid,
            "liquidationMarkPx": None,
        }
        # fmt: on
        if self.builder_fee:
            answer["builderFee"] = fmt_usd(self.builder_fee)
        if self.liquidation is not None:
            answer["liquidation"] = self.liquidation
        return answer


@dataclass
class Account:
    """One trading account: USDC collateral (cross balance, without isolated margin or unrealized PnL)."""

    address: str
    balance: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, tuple[str, int]] = field(default_factory=dict)  # coin -> (cross | isolated, value)
    builders: dict[str, int] = field(default_factory=dict)  # approved builder -> max fee (tenths of a bp)
    referrer: str | None = None
    funding: list[dict[str, Any]] = field(default_factory=list)


class HyperliquidError(Exception):
    """An answer other than success: HTTP status and body (JSON, or str for plain text)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status, self.body = status, body


def refused(message: str) -> HyperliquidError:
    """Hyperliquid's refusal of a whole request: 200 {"status": "err", "response": message}."""
    return HyperliquidError(200, {"status": "err", "response": message})


class OrderRefused(Exception):
    """One order of a batch refused: its status entry is {"error": message}; `status` is what orderStatus says."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Fault:
    target: str | None  # None: any request; "/info" or "/exchange"; else an info or action type
    kind: str
    remaining: int
    kw: dict[str, Any]

    def matches(self, path: str, kind: str | None) -> bool:
        return self.target in (None, path, kind)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or a str sent as text
    drop_after: float | None = None  # sleep this long, then close the connection without answering
    raw: bytes | None = None  # sent as is, as application/json (malformed answers)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            reply = self.server.app._serve(self.command, self.path, body)
            if reply.drop_after is not None:
                self.server.app._stopping.wait(reply.drop_after)
                self.close_connection = True
                return
            if reply.raw is not None:
                data, content_type = reply.raw, "application/json"
            elif isinstance(reply.body, str):
                data, content_type = reply.body.encode(), "text/plain; charset=utf-8"
            else:
                data, content_type = json.dumps(reply.body, separators=(",", ":")).encode(), "application/json"
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client is gone (timed out, killed): fine
            self.close_connection = True

    do_GET = do_POST = _handle  # noqa: N815 (http.server's naming)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: HyperliquidServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("loopback Hyperliquid: error while serving %s", client_address, exc_info=True)


class HyperliquidServer:
    """The fake exchange: `start()`/`stop()` or a context manager; thread-safe (one lock guards all state).

    `accounts` maps private keys to their USDC collateral; the first is `private_key` / `wallet_address`.
    """

    def __init__(
        self,
        *,
        markets: Iterable[PerpSpec] = DEFAULT_PERPS,
        marks: Mapping[str, Decimal | str | int] | None = None,
        accounts: Mapping[str, Decimal | str | int] | None = None,
        testnet: bool = False,
        taker_fee: Decimal | str = DEFAULT_TAKER_FEE,
        maker_fee: Decimal | str = DEFAULT_MAKER_FEE,
    ) -> None:
        self.universe = list(markets)
        self.testnet = testnet
        self.taker_fee, self.maker_fee = dec(taker_fee), dec(maker_fee)
        accounts = {DEFAULT_PRIVATE_KEY: "100000"} if accounts is None else accounts
        self.private_key = next(iter(accounts))
        self.wallet_address = address_of(self.private_key)
        self.on_order_created: Callable[[dict[str, Any]], None] | None = None
        self._initial = (dict(DEFAULT_MARKS if marks is None else marks), dict(accounts))
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> HyperliquidServer:
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

    def __enter__(self) -> HyperliquidServer:
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
        """Back to the constructor's marks and accounts; no orders, fills, funding, faults, requests, hook."""
        marks, accounts = self._initial
        with self._lock:
            self._accounts: dict[str, Account] = {}
            self._agents: dict[str, str] = {}  # API wallet -> master
            self._orders: dict[int, Order] = {}
            self._fills: list[Fill] = []
            self._funding_rates: list[dict[str, Any]] = []
            self._candles: dict[tuple[str, str], list[tuple]] = {}
            self._faults: list[Fault] = []
            self._requests: list[tuple[str, str | None]] = []
            self._nonces: dict[str, set[int]] = {}
            self._next_oid, self._next_tid = 90_000_000_001, 700_000_000_000_001  # apart: mixing them up fails
            self._last_funding_time = 0
            self.on_order_created = None
            self._marks = {coin: dec(px) for coin, px in marks.items()}
            self._day_open = dict(self._marks)
            for key, usdc in accounts.items():
                self.add_account(private_key=key, usdc=usdc)

    def add_account(self, *, private_key: str, usdc: Decimal | str | int = 0) -> str:
        """A funded account for the key; returns its address."""
        address = address_of(private_key)
        with self._lock:
            self._accounts[address] = Account(address=address, balance=dec(usdc))
        return address

    def add_agent(self, *, master: str, private_key: str) -> str:
        """Approve an API wallet (agent) to sign for `master`, as approveAgent does; returns its address."""
        agent = address_of(private_key)
        with self._lock:
            self._agents[agent] = self._account(master).address
        return agent

    def set_mark(self, coin: str, price: Decimal | str | int) -> None:
        """Set a coin's mark (and oracle and mid) price. Resting limit orders it crosses fill at their own price;
        trigger orders whose trigger it reaches fire."""
        with self._lock:
            self._spec(coin)
            self._marks[coin] = dec(price)
            self._match(coin)

    def mark(self, coin: str) -> Decimal:
        with self._lock:
            return self._marks[coin]

    def liquidate(self, coin: str, user: str | None = None) -> Decimal:
        """Move the mark to the position's liquidation price and close the whole position there, as the
        exchange's liquidator does: one fill with no client order id, carrying a `liquidation` object. Returns the
        price. (The maintenance margin left over stays with the account here; the exchange keeps it.)"""
        with self._lock:
            account = self._account(user or self.wallet_address)
            position = account.positions.get(coin)
            if position is None or position.szi == 0:
                raise ValueError(f"no {coin} position to liquidate")
            exact = self._figures(account)["positions"][coin]["liquidation"]
            # Prices carry five significant figures; rounded toward the mark, so it is reached.
            step = Decimal(1).scaleb(exact.adjusted() - 4)
            price = exact.quantize(step, rounding=ROUND_UP if position.szi > 0 else ROUND_DOWN)
            self._marks[coin] = price
            order = Order(
                oid=self._next_oid, user=account.address, coin=coin, asset=self.universe.index(self._spec(coin)),
                is_buy=position.szi < 0, limit_px=price, orig_sz=abs(position.szi), reduce_only=True, tif="Ioc",
                timestamp=now_ms(),
            )  # fmt: skip
            order.sz = order.orig_sz
            self._next_oid += 1
            self._orders[order.oid] = order  # the liquidator's order is in the account's history
            self._fill(order, order.sz, price, taker=True)
            self._fills[-1].liquidation = {"liquidatedUser": account.address, "markPx": fmt(price), "method": "market"}
            return price

    def set_candles(self, coin: str, interval: str, candles: Iterable[tuple]) -> None:
        """Candles for candleSnapshot, as (open_time_ms, open, high, low, close, volume) rows."""
        with self._lock:
            self._candles[(coin, interval)] = sorted((int(c[0]), *(dec(x) for x in c[1:6])) for c in candles)

    def pay_funding(self, coin: str, rate: Decimal | str, *, time_ms: int | None = None) -> list[dict[str, Any]]:
        """Settle one funding time of `coin` at `rate` against the mark: every position pays szi x mark x rate
        (longs pay shorts when the rate is positive), booked as userFunding entries; returns them."""
        rate = dec(rate)
        with self._lock:
            self._spec(coin)
            t = max(time_ms or now_ms(), self._last_funding_time + 1)  # each funding time is distinct
            self._last_funding_time = t
            mark = self._marks[coin]
            self._funding_rates.append({"coin": coin, "fundingRate": fmt(rate), "premium": "0.0", "time": t})
            booked = []
            for account in self._accounts.values():
                position = account.positions.get(coin)
                if position is None or position.szi == 0:
                    continue
                received = usd(-position.szi * mark * rate)
                if self._mode(account, coin)[0] == "isolated":
                    position.isolated_margin += received
                else:
                    account.balance += received
                position.funding_all -= received
                position.funding_open -= received
                position.funding_change -= received
                # fmt: off
                entry = {"time": t, "hash": ZERO_HASH, "delta": {
                    "type": "funding", "coin": coin, "usdc": fmt(received), "szi": fmt(position.szi),
                    "fundingRate": fmt(rate), "nSamples": None,
                }}
                # fmt: on
                account.funding.append(entry)
                booked.append(entry)
            return booked

    def inject(self, target: str, fault: str, times: int = 1, **kw: Any) -> None:
        """Queue a fault for the requests matching `target`: "*", "/info", "/exchange", or an info or action
        type ("clearinghouseState", "order", "cancel", ...).

        Faults fire in the order injected, one per matching request, and expire after `times`. kw: `seconds`
        (timeout, timeout_after; default 5). "malformed" answers 200 with a truncated JSON body; "unknown_oid"
        makes orderStatus answer {"status": "unknownOid"} (the lag before a fresh order is visible).
        """
        if fault in SEMANTIC_FAULTS:
            if target not in ("*", SEMANTIC_FAULTS[fault]):
                raise ValueError(f"fault {fault!r} only applies to {SEMANTIC_FAULTS[fault]}")
            target = SEMANTIC_FAULTS[fault]
        elif fault not in TRANSPORT_FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.append(Fault(None if target == "*" else target, fault, times, kw))

    # -- inspection --------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str | None]]:
        """(path, info or action type) of every request received, faulted ones included."""
        with self._lock:
            return list(self._requests)

    @property
    def orders(self) -> dict[int, dict[str, Any]]:
        """Every order by oid (rejected ones too), with its status, as orderStatus answers it."""
        with self._lock:
            return {o.oid: {"order": o.frontend(), "status": o.status, "user": o.user} for o in self._orders.values()}

    @property
    def fills(self) -> list[dict[str, Any]]:
        """Every fill, oldest first, as userFills answers it."""
        with self._lock:
            return [f.to_json() for f in self._fills]

    def clearinghouse(self, user: str | None = None) -> dict[str, Any]:
        """clearinghouseState of `user` (default: the first account)."""
        with self._lock:
            return self._clearinghouse_state({"user": user or self.wallet_address})

    def balance(self, user: str | None = None) -> Decimal:
        """The account's cross collateral: USDC without isolated margin and unrealized PnL."""
        with self._lock:
            return self._account(user or self.wallet_address).balance

    # -- dispatch ----------------------------------------------------------------------------------------
    def _serve(self, method: str, raw_path: str, body: str) -> Reply:
        path = raw_path.split("?", 1)[0]
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        kind = None
        if isinstance(payload, dict):
            inner = payload.get("action") if path == "/exchange" else payload
            kind = inner.get("type") if isinstance(inner, dict) and isinstance(inner.get("type"), str) else None
        with self._lock:
            self._requests.append((path, kind))
            fault = self._take_fault(path, kind, TRANSPORT_FAULTS)
        if fault is not None and fault.kind not in ("timeout_after", "malformed"):
            return self._transport_fault(fault)
        created: list[dict[str, Any]] = []
        try:
            if method != "POST" or path not in ("/info", "/exchange"):
                return Reply(404, "404 page not found")
            if not isinstance(payload, dict):
                raise HyperliquidError(422, "Failed to deserialize the JSON body into the target type")
            with self._lock:
                if path == "/info":
                    result = self._info(payload, self._take_fault(path, kind, SEMANTIC_FAULTS))
                else:
                    result = self._exchange(payload, created)
            reply = Reply(200, result)
        except WireError as exc:
            reply = Reply(422, f"Failed to deserialize the JSON body into the target type: {exc}")
        except HyperliquidError as exc:
            reply = Reply(exc.status, exc.body)
        except Exception as exc:  # a bug here: say so rather than drop the connection
            log.exception("loopback Hyperliquid: %s %s failed", path, kind)
            reply = Reply(500, f"loopback Hyperliquid bug: {exc!r}")
        hook = self.on_order_created
        for order in created if hook is not None else ():
            try:  # after the order is stored, before the answer is written
                hook(order)
            except Exception:
                log.exception("loopback Hyperliquid: on_order_created hook failed")
        if fault is not None and fault.kind == "malformed":  # processed; the answer arrives cut short
            text = json.dumps(reply.body) if not isinstance(reply.body, str) else reply.body
            return Reply(200, raw=(text[: max(1, len(text) // 2)] or "{").encode())
        if fault is not None:  # timeout_after: the request was processed, its answer is lost
            return Reply(drop_after=float(fault.kw.get("seconds", 5)))
        return reply

    def _take_fault(self, path: str, kind: str | None, kinds: Iterable[str]) -> Fault | None:
        """The first fault matching the request, if it is one of `kinds`; consumed. Keeps injection order."""
        fault = next((f for f in self._faults if f.matches(path, kind)), None)
        if fault is None or fault.kind not in kinds:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)
        return fault

    @staticmethod
    def _transport_fault(fault: Fault) -> Reply:
        if fault.kind == "timeout":
            return Reply(drop_after=float(fault.kw.get("seconds", 5)))
        if fault.kind == "429":
            return Reply(429, "null")  # the body is JSON null: nothing for ccxt's error table to match
        bodies = {
            "500": "Internal Server Error",
            "502": "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
            "503": "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
            "504": "<html><body><h1>504 Gateway Time-out</h1></body></html>",
        }
        return Reply(int(fault.kind), bodies[fault.kind])

    # -- /info ---------------------------------------------------------------------------------------------
    def _info(self, payload: dict[str, Any], fault: Fault | None) -> Any:
        kind = _req(payload, "type", str)
        handler = INFO.get(kind)
        if handler is None:
            raise WireError(f"unknown variant `{kind}`")
        if kind == "orderStatus" and fault is not None:
            return {"status": "unknownOid"}
        return handler(self, payload)

    def _user(self, payload: dict[str, Any]) -> str:
        user = _req(payload, "user", str)
        if not ADDRESS_RE.match(user):
            raise WireError("invalid address")
        return user.lower()

    def _asset_ctx(self, spec: PerpSpec) -> dict[str, Any]:
        mark = self._marks[spec.name]
        tick = self._tick(spec, mark)
        # fmt: off
        return {
            "funding": "0.0000125", "openInterest": "1000.0", "prevDayPx": fmt(self._day_open.get(spec.name, mark)),
            "dayNtlVlm": fmt(sum((f.px * f.sz for f in self._fills if f.coin == spec.name), ZERO)),
            "premium": "0.0", "oraclePx": fmt(mark), "markPx": fmt(mark), "midPx": fmt(mark),
            "impactPxs": [fmt(mark - tick), fmt(mark + tick)], "dayBaseVlm": "0.0",
        }
        # fmt: on

    def _meta(self, payload: dict[str, Any]) -> Any:
        universe = []
        for spec in self.universe:
            entry: dict[str, Any] = {
                "szDecimals": spec.sz_decimals,
                "name": spec.name,
                "maxLeverage": spec.max_leverage,
                "marginTableId": spec.max_leverage,
            }
            if spec.only_isolated:
                entry["onlyIsolated"] = True
            universe.append(entry)
        tables = [[s.max_leverage, {"description": "", "marginTiers": [{"lowerBound": "0.0",
                   "maxLeverage": s.max_leverage}]}] for s in self.universe]  # fmt: skip
        return {"universe": universe, "marginTables": tables}

    def _meta_and_ctxs(self, payload: dict[str, Any]) -> Any:
        return [self._meta(payload), [self._asset_ctx(spec) for spec in self.universe]]

    def _spot_meta(self, payload: dict[str, Any]) -> Any:
        # fmt: off
        tokens = [
            {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
             "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054", "isCanonical": True, "evmContract": None,
             "fullName": None},
            {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1,
             "tokenId": "0xc1fb593aeffbeb02f85e0308e9956a90", "isCanonical": True, "evmContract": None,
             "fullName": None},
        ]
        # fmt: on
        return {
            "universe": [{"tokens": [1, 0], "name": "PURR/USDC", "index": 0, "isCanonical": True}],
            "tokens": tokens,
        }

    def _spot_meta_and_ctxs(self, payload: dict[str, Any]) -> Any:
        # fmt: off
        ctx = {"dayNtlVlm": "0.0", "markPx": "0.2", "midPx": "0.2", "prevDayPx": "0.2", "circulatingSupply": "1.0",
               "coin": "PURR/USDC", "totalSupply": "1.0", "dayBaseVlm": "0.0"}
        # fmt: on
        return [self._spot_meta(payload), [ctx]]

    def _all_mids(self, payload: dict[str, Any]) -> Any:
        mids = {spec.name: fmt(self._marks[spec.name]) for spec in self.universe}
        mids["PURR/USDC"] = "0.2"
        return mids

    def _exchange_status(self, payload: dict[str, Any]) -> Any:
        return {"specialStatuses": None, "time": now_ms()}

    def _user_abstraction(self, payload: dict[str, Any]) -> Any:
        self._user(payload)
        return "default"

    def _max_builder_fee(self, payload: dict[str, Any]) -> Any:
        account = self._accounts.get(self._user(payload))
        return account.builders.get(_req(payload, "builder", str).lower(), 0) if account else 0

    def _l2_book(self, payload: dict[str, Any]) -> Any:
        coin = _req(payload, "coin", str)
        spec = next((s for s in self.universe if s.name == coin), None)
        if spec is None:
            return None  # Hyperliquid answers null for a coin it does not list
        mark = self._marks[spec.name]
        tick = self._tick(spec, mark)
        bids = [{"px": fmt(mark - i * tick), "sz": fmt(Decimal(i)), "n": 1} for i in range(1, 21) if mark > i * tick]
        asks = [{"px": fmt(mark + i * tick), "sz": fmt(Decimal(i)), "n": 1} for i in range(1, 21)]
        return {"coin": spec.name, "time": now_ms(), "levels": [bids, asks]}

    def _candle_snapshot(self, payload: dict[str, Any]) -> Any:
        req = _req(payload, "req", dict)
        coin, interval = _req(req, "coin", str), _req(req, "interval", str)
        start, end = _req(req, "startTime", int), req.get("endTime") or now_ms()
        if interval not in INTERVALS:
            raise WireError(f"unknown variant `{interval}`")
        span = int(interval[:-1]) * UNIT_MS[interval[-1]]
        rows = [r for r in self._candles.get((coin, interval), []) if start <= r[0] <= end][-5000:]
        # fmt: off
        return [{"t": t, "T": t + span - 1, "s": coin, "i": interval, "o": fmt(o), "c": fmt(c), "h": fmt(h),
                 "l": fmt(lo), "v": fmt(v), "n": 1} for t, o, h, lo, c, v in rows]
        # fmt: on

    def _funding_history(self, payload: dict[str, Any]) -> Any:
        coin, start = _req(payload, "coin", str), _req(payload, "startTime", int)
        end = payload.get("endTime") or now_ms()
        return [r for r in self._funding_rates if r["coin"] == coin and start <= r["time"] <= end][:500]

    def _clearinghouse_state(self, payload: dict[str, Any]) -> Any:
        account = self._accounts.get(self._user(payload)) or Account(address="", balance=ZERO)
        figures = self._figures(account)
        positions = []
        for coin, p in sorted(account.positions.items(), key=lambda kv: self.universe.index(self._spec(kv[0]))):
            if p.szi == 0:
                continue
            spec, f = self._spec(coin), figures["positions"][coin]
            mode, value = self._mode(account, coin)
            leverage: dict[str, Any] = {"type": mode, "value": value}
            if mode == "isolated":
                leverage["rawUsd"] = fmt_usd(p.isolated_margin - p.szi * p.entry)
            liquidation = f["liquidation"]
            # fmt: off
            positions.append({"type": "oneWay", "position": {
                "coin": coin, "szi": fmt(p.szi), "leverage": leverage, "entryPx": fmt(p.entry),
                "positionValue": fmt_usd(f["value"]), "unrealizedPnl": fmt_usd(f["upnl"]),
                "returnOnEquity": fmt(f["roe"].quantize(Decimal("0.000000001"), rounding=ROUND_DOWN)),
                "liquidationPx": None if liquidation is None else fmt_usd(liquidation),
                "marginUsed": fmt_usd(f["margin_used"]), "maxLeverage": spec.max_leverage,
                "cumFunding": {"allTime": fmt_usd(p.funding_all), "sinceOpen": fmt_usd(p.funding_open),
                               "sinceChange": fmt_usd(p.funding_change)},
            }})
            # fmt: on
        total, cross = figures["total"], figures["cross"]

        def summary(s: dict[str, Decimal]) -> dict[str, str]:
            # fmt: off
            return {"accountValue": fmt_usd(s["value"]), "totalNtlPos": fmt_usd(s["ntl"]),
                    "totalRawUsd": fmt_usd(s["raw"]), "totalMarginUsed": fmt_usd(s["margin"])}
            # fmt: on

        # fmt: off
        return {
            "marginSummary": summary(total), "crossMarginSummary": summary(cross),
            "crossMaintenanceMarginUsed": fmt_usd(figures["cross_maintenance"]),
            "withdrawable": fmt_usd(max(ZERO, figures["free"])), "assetPositions": positions, "time": now_ms(),
        }
        # fmt: on

    def _spot_clearinghouse_state(self, payload: dict[str, Any]) -> Any:
        self._user(payload)
        return {"balances": []}  # perpetuals only: nothing is held on spot

    def _open_orders(self, payload: dict[str, Any]) -> Any:
        user = self._user(payload)
        keep = ("coin", "side", "limitPx", "sz", "oid", "timestamp", "origSz", "cloid", "reduceOnly")
        return [{k: o.frontend()[k] for k in keep} for o in self._open_of(user)]

    def _frontend_open_orders(self, payload: dict[str, Any]) -> Any:
        return [o.frontend() for o in self._open_of(self._user(payload))]

    def _order_status(self, payload: dict[str, Any]) -> Any:
        user, oid = self._user(payload), payload.get("oid")
        if isinstance(oid, str) and CLOID_RE.match(oid):
            mine = [o for o in self._orders.values() if o.user == user and o.cloid == oid.lower()]
        elif isinstance(oid, int) and not isinstance(oid, bool):
            mine = [o for o in self._orders.values() if o.user == user and o.oid == oid]
        else:
            raise WireError("invalid `oid`: expected an order id or a cloid")
        if not mine:
            return {"status": "unknownOid"}
        order = mine[-1]
        return {"status": "order", "order": {"order": order.frontend(), "status": order.status,
                                             "statusTimestamp": order.history[-1][1]}}  # fmt: skip

    def _historical_orders(self, payload: dict[str, Any]) -> Any:
        user = self._user(payload)
        # Every status change, newest first (a later change of the same millisecond first: ccxt keeps the
        # first entry of each oid).
        rows = [
            (t, o.oid, i, o, s) for o in self._orders.values() if o.user == user for i, (s, t) in enumerate(o.history)
        ]
        rows.sort(key=lambda r: r[:3], reverse=True)
        return [{"order": o.frontend(), "status": s, "statusTimestamp": t} for t, _, _, o, s in rows[:2000]]

    def _user_fills(self, payload: dict[str, Any]) -> Any:
        user = self._user(payload)
        return [f.to_json() for f in reversed(self._fills) if f.user == user][:2000]  # the most recent, newest first

    def _user_fills_by_time(self, payload: dict[str, Any]) -> Any:
        user, start = self._user(payload), _req(payload, "startTime", int)
        end = payload.get("endTime") or now_ms()
        return [f.to_json() for f in self._fills if f.user == user and start <= f.time <= end][:2000]

    def _user_funding(self, payload: dict[str, Any]) -> Any:
        user, start = self._user(payload), _req(payload, "startTime", int)
        end = payload.get("endTime") or now_ms()
        account = self._accounts.get(user)
        return [e for e in (account.funding if account else []) if start <= e["time"] <= end][:500]

    # -- /exchange -----------------------------------------------------------------------------------------
    def _exchange(self, payload: dict[str, Any], created: list[dict[str, Any]]) -> Any:
        action, nonce = _req(payload, "action", dict), _req(payload, "nonce", int)
        signature = _req(payload, "signature", dict)
        kind = _req(action, "type", str)
        vault, expires = payload.get("vaultAddress"), payload.get("expiresAfter")
        if vault is not None and (not isinstance(vault, str) or not re.fullmatch(r"(0x)?[0-9a-fA-F]{40}", vault)):
            raise WireError("invalid `vaultAddress`")
        if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
            raise WireError("invalid `expiresAfter`")
        try:
            if kind in USER_SIGNED:
                signer = self._user_signer(action, nonce, signature)
            else:
                canonical = canonical_action(action)
                connection = action_hash(canonical, nonce, vault, expires)
                agent = {"source": "b" if self.testnet else "a", "connectionId": connection}
                digest = eip712_digest(
                    domain_name="Exchange", chain_id=1337, primary="Agent",
                    fields=[("source", "string"), ("connectionId", "bytes32")], message=agent,
                )  # fmt: skip
                signer = recover_signer(digest, signature)
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"invalid signature: {exc}") from None
        user = signer if signer in self._accounts else self._agents.get(signer)
        if user is None:
            raise refused(f"User or API Wallet {signer} does not exist.")
        if vault is not None:
            raise refused(f"Vault not registered: 0x{vault.removeprefix('0x').lower()}")
        if expires is not None and expires < now_ms():
            raise refused("Action already expired")
        used = self._nonces.setdefault(signer, set())
        if nonce in used:
            raise refused(f"Invalid nonce: duplicate nonce {nonce}")
        used.add(nonce)
        account = self._accounts[user]
        if kind == "order":
            return self._place(account, canonical, created)
        if kind in ("cancel", "cancelByCloid"):
            return self._cancel(account, canonical)
        if kind == "updateLeverage":
            return self._update_leverage(account, canonical)
        if kind == "setReferrer":
            if account.referrer is not None:
                raise refused("Referrer already set.")
            account.referrer = canonical["code"]
        if kind == "approveBuilderFee":
            account.builders[action["builder"].lower()] = self._fee_rate(action["maxFeeRate"])
        return {"status": "ok", "response": {"type": "default"}}

    def _user_signer(self, action: dict[str, Any], nonce: int, signature: dict[str, Any]) -> str:
        primary, fields = USER_SIGNED[action["type"]]
        message = {key: _req(action, key, int if kind.startswith("uint") else str) for key, kind in fields}
        if message["hyperliquidChain"] != ("Testnet" if self.testnet else "Mainnet"):
            raise refused("Mainnet and testnet require different signature.")
        if message.get("nonce") != nonce:
            raise refused("Action nonce does not match the request nonce.")
        chain_id = int(_req(action, "signatureChainId", str), 16)
        digest = eip712_digest(
            domain_name="HyperliquidSignTransaction", chain_id=chain_id, primary=primary, fields=fields, message=message
        )
        return recover_signer(digest, signature)

    @staticmethod
    def _fee_rate(text: str) -> int:
        """A percentage ("0.01%") in tenths of a basis point (10)."""
        try:
            rate = Decimal(text.removesuffix("%"))
        except InvalidOperation:
            raise refused("Invalid max fee rate.") from None
        return int(rate * 1000)

    def _place(self, account: Account, action: dict[str, Any], created: list[dict[str, Any]]) -> Any:
        if not action["orders"]:
            raise refused("Empty order batch.")
        builder = action.get("builder")
        fee = 0
        if builder is not None:
            approved = account.builders.get(builder["b"])
            if approved is None or builder["f"] > approved:
                raise refused("Builder fee has not been approved.")
            fee = builder["f"]
        statuses: list[Any] = []
        for wire in action["orders"]:
            try:
                order = self._new_order(account, wire, fee)
            except OrderRefused as exc:
                statuses.append({"error": exc.message})
                continue
            created.append({"oid": order.oid, "cloid": order.cloid, "user": order.user, "coin": order.coin})
            ids: dict[str, Any] = {"oid": order.oid}
            if order.cloid:
                ids["cloid"] = order.cloid
            if order.status == "filled":
                avg = self._average(order)
                statuses.append({"filled": {"totalSz": fmt(order.orig_sz), "avgPx": fmt(avg), **ids}})
            else:
                statuses.append({"resting": ids})
        return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}

    def _new_order(self, account: Account, wire: dict[str, Any], builder_fee: int) -> Order:
        asset = wire["a"]
        if asset >= 10_000:
            raise OrderRefused(f"Spot trading is not offered by this loopback server. asset={asset}", "rejected")
        if asset >= len(self.universe):
            raise OrderRefused(f"Invalid asset. asset={asset}", "rejected")
        spec = self.universe[asset]
        px, sz = self._number(wire["p"]), self._number(wire["s"])
        trigger = wire["t"].get("trigger")
        t = now_ms()
        order = Order(
            oid=self._next_oid, user=account.address, coin=spec.name, asset=asset, is_buy=wire["b"],
            limit_px=px if px is not None else ZERO, orig_sz=sz if sz is not None else ZERO, reduce_only=wire["r"],
            tif=None if trigger else wire["t"]["limit"]["tif"], timestamp=t, cloid=wire.get("c"),
            builder_fee=builder_fee,
        )  # fmt: skip
        order.sz = order.orig_sz
        if trigger:
            order.trigger_px = self._number(trigger["triggerPx"])
            order.tpsl, order.trigger_is_market = trigger["tpsl"], trigger["isMarket"]
        self._next_oid += 1
        try:
            self._validate(account, spec, order, px, sz)
        except OrderRefused as exc:
            self._orders[order.oid] = order  # a refused order is in the history with its reason
            order.set_status(exc.status, t)
            raise
        self._orders[order.oid] = order
        order.set_status("open", t)
        if order.is_trigger:
            self._match(spec.name)  # it may fire at once
        elif self._crosses(order, self._marks[spec.name]):
            self._fill(order, order.sz, self._marks[spec.name], taker=True)
        elif order.tif == "Ioc":
            order.set_status("canceled")  # nothing left to match (unreachable: validation refused it)
        return order

    def _validate(self, account: Account, spec: PerpSpec, order: Order, px: Decimal | None, sz: Decimal | None) -> None:
        a = f"asset={order.asset}"
        if sz is None or sz <= 0:
            raise OrderRefused("Order has zero size." if sz == 0 else "Order has invalid size.", "rejected")
        if -sz.normalize().as_tuple().exponent > spec.sz_decimals:
            raise OrderRefused("Order has invalid size.", "rejected")
        for price in (px, order.trigger_px) if order.is_trigger else (px,):
            if price is None or price <= 0 or not self._on_tick(spec, price):
                raise OrderRefused(f"Price must be divisible by tick size. {a}", "tickRejected")
        mark = self._marks[spec.name]
        assert px is not None
        if not order.is_trigger and abs(px - mark) > mark * Decimal("0.8"):
            raise OrderRefused("Order price cannot be more than 80% away from the reference price", "oracleRejected")
        position = account.positions.get(spec.name) or Position()
        signed = sz if order.is_buy else -sz
        if order.reduce_only and not (position.szi * signed < 0 and sz <= abs(position.szi)):
            raise OrderRefused(f"Reduce only order would increase position. {a}", "reduceOnlyRejected")
        if not order.reduce_only and sz * px < MIN_NOTIONAL:
            raise OrderRefused(f"Order must have minimum value of $10. {a}", "minTradeNtlRejected")
        if order.is_trigger:
            return
        crosses = self._crosses(order, mark)
        if order.tif == "Alo" and crosses:
            tick = self._tick(spec, mark)
            msg = f"Post only order would have immediately matched, bbo was {fmt(mark - tick)}@{fmt(mark + tick)}. {a}"
            raise OrderRefused(msg, "badAloPxRejected")
        if order.tif == "Ioc" and not crosses:
            raise OrderRefused(
                f"Order could not immediately match against any resting orders. {a}", "iocCancelRejected"
            )
        increase = self._increase(position.szi, signed)
        if increase > 0:
            price = mark if crosses else px
            needed = increase * price / self._mode(account, spec.name)[1]
            if needed > self._figures(account)["free"] - self._reserved(account):
                raise OrderRefused(f"Insufficient margin to place order. {a}", "perpMarginRejected")

    def _cancel(self, account: Account, action: dict[str, Any]) -> Any:
        statuses: list[Any] = []
        for c in action["cancels"]:
            if action["type"] == "cancel":
                asset = c["a"]
                found = [o for o in self._open_of(account.address) if o.oid == c["o"] and o.asset == asset]
            else:
                asset = c["asset"]
                found = [o for o in self._open_of(account.address) if o.cloid == c["cloid"] and o.asset == asset]
            if not found:
                statuses.append({"error": f"Order was never placed, already canceled, or filled. asset={asset}"})
                continue
            found[0].set_status("canceled")
            statuses.append("success")
        return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}

    def _update_leverage(self, account: Account, action: dict[str, Any]) -> Any:
        asset, leverage, is_cross = action["asset"], action["leverage"], action["isCross"]
        if not 0 <= asset < len(self.universe):
            raise refused("Invalid leverage asset.")
        spec = self.universe[asset]
        if not 1 <= leverage <= spec.max_leverage:
            raise refused("Invalid leverage value")
        if is_cross and spec.only_isolated:
            raise refused("Cross margin is not allowed for this asset.")
        mode = "cross" if is_cross else "isolated"
        position = account.positions.get(spec.name)
        if position is not None and position.szi != 0:
            if mode != self._mode(account, spec.name)[0]:
                raise refused("Cannot switch leverage type with open position.")
            needed = abs(position.szi) * self._marks[spec.name] / leverage
            if mode == "isolated" and needed > position.isolated_margin:
                top_up = needed - position.isolated_margin
                if top_up > self._figures(account)["free"]:
                    raise refused("Isolated position does not have sufficient margin available to decrease leverage.")
                position.isolated_margin += top_up
                account.balance -= top_up
            if mode == "cross":
                before = self._mode(account, spec.name)
                account.leverage[spec.name] = (mode, leverage)
                if self._figures(account)["free"] < 0:
                    account.leverage[spec.name] = before
                    raise refused("Cross position does not have sufficient margin available to decrease leverage.")
            position.funding_change = ZERO
        account.leverage[spec.name] = (mode, leverage)
        return {"status": "ok", "response": {"type": "default"}}

    # -- matching (lock held) ------------------------------------------------------------------------------
    @staticmethod
    def _crosses(order: Order, mark: Decimal) -> bool:
        return order.limit_px >= mark if order.is_buy else order.limit_px <= mark

    @staticmethod
    def _increase(szi: Decimal, signed: Decimal) -> Decimal:
        """How much of a fill of `signed` opens exposure (the rest closes the position)."""
        if szi * signed >= 0:
            return abs(signed)
        return max(ZERO, abs(signed) - abs(szi))

    def _match(self, coin: str) -> None:
        mark = self._marks[coin]
        for order in sorted(self._orders.values(), key=lambda o: o.oid):
            if order.coin != coin or order.status not in OPEN:
                continue
            if order.is_trigger and order.status == "open":
                assert order.trigger_px is not None
                if (mark <= order.trigger_px) if order.triggers_below else (mark >= order.trigger_px):
                    self._trigger(order, mark)
            elif self._crosses(order, mark):
                self._fill(order, order.sz, order.limit_px, taker=False)

    def _trigger(self, order: Order, mark: Decimal) -> None:
        order.set_status("triggered")
        if order.reduce_only:
            szi = self._accounts[order.user].positions.get(order.coin, Position()).szi
            reducible = abs(szi) if szi * (1 if order.is_buy else -1) < 0 else ZERO
            if reducible == 0:
                order.set_status("reduceOnlyCanceled")
                return
            if order.sz > reducible:
                self._fill(order, reducible, mark, taker=True)
                order.set_status("reduceOnlyCanceled")  # the rest would have flipped the position
                return
        if self._crosses(order, mark):  # a market trigger's limit price is its slippage bound
            self._fill(order, order.sz, mark, taker=True)

    def _fill(self, order: Order, sz: Decimal, px: Decimal, *, taker: bool) -> None:
        account = self._accounts[order.user]
        position = account.positions.setdefault(order.coin, Position())
        mode, leverage = self._mode(account, order.coin)
        start, signed = position.szi, sz if order.is_buy else -sz
        notional = sz * px
        fee = usd(notional * (self.taker_fee if taker else self.maker_fee))
        builder_fee = usd(notional * order.builder_fee / 100_000)
        closed = min(sz, abs(start)) if start * signed < 0 else ZERO
        closed_pnl = closed * (px - position.entry) * (1 if start > 0 else -1) if closed else ZERO
        if closed:
            released = position.isolated_margin * closed / abs(start) if mode == "isolated" else ZERO
            position.isolated_margin -= released
            account.balance += released + closed_pnl
        opened = sz - closed
        if opened:
            if start * signed > 0:
                position.entry = (abs(start) * position.entry + opened * px) / (abs(start) + opened)
            else:  # from flat, or flipped through zero
                position.entry = px
                position.funding_open = position.funding_change = ZERO
            if mode == "isolated":
                posted = opened * px / leverage
                position.isolated_margin += posted
                account.balance -= posted
        position.szi = start + signed
        if position.szi == 0:
            account.balance += position.isolated_margin
            position.isolated_margin, position.entry = ZERO, ZERO
        account.balance -= fee + builder_fee
        side = "Long" if start > 0 or (start == 0 and signed > 0) else "Short"
        if start != 0 and position.szi * start < 0:
            direction = "Long > Short" if start > 0 else "Short > Long"
        else:
            direction = ("Close " if closed else "Open ") + side
        self._fills.append(
            Fill(
                tid=self._next_tid, oid=order.oid, user=order.user, coin=order.coin, px=px, sz=sz,
                is_buy=order.is_buy, time=now_ms(), start_position=start, direction=direction, closed_pnl=closed_pnl,
                fee=fee, builder_fee=builder_fee, crossed=taker, hash="0x" + secrets.token_hex(32), cloid=order.cloid,
            )
        )  # fmt: skip
        self._next_tid += 1
        order.sz -= sz
        if order.sz <= 0:
            order.set_status("filled")
        # Resting reduce-only orders that can no longer reduce are canceled, as Hyperliquid does.
        for other in self._open_of(order.user):
            if other.coin == order.coin and other.reduce_only and not other.is_trigger and other is not order:
                other_signed = other.sz if other.is_buy else -other.sz
                if not (position.szi * other_signed < 0 and other.sz <= abs(position.szi)):
                    other.set_status("reduceOnlyCanceled")

    def _average(self, order: Order) -> Decimal:
        mine = [f for f in self._fills if f.oid == order.oid]
        filled = sum((f.sz for f in mine), ZERO)
        return sum((f.px * f.sz for f in mine), ZERO) / filled if filled else ZERO

    # -- margin (lock held) --------------------------------------------------------------------------------
    def _mode(self, account: Account, coin: str) -> tuple[str, int]:
        spec = self._spec(coin)
        default = ("isolated" if spec.only_isolated else "cross", min(20, spec.max_leverage))
        return account.leverage.get(coin, default)

    def _figures(self, account: Account) -> dict[str, Any]:
        """Every margin figure of the account at the current marks (see exchanges.perps for the formulas)."""
        rows: dict[str, dict[str, Any]] = {}
        for coin, p in account.positions.items():
            if p.szi == 0:
                continue
            spec, mark = self._spec(coin), self._marks[coin]
            mode, leverage = self._mode(account, coin)
            upnl = perps.unrealized_pnl(quantity=p.szi, entry=p.entry, mark=mark)
            value = abs(p.szi) * mark
            margin_used = p.isolated_margin + upnl if mode == "isolated" else value / leverage
            rows[coin] = {
                "mode": mode, "upnl": upnl, "value": value, "margin_used": margin_used,
                "maintenance": perps.maintenance_margin(quantity=p.szi, mark=mark, mmr=spec.mmr),
                "roe": upnl / (abs(p.szi) * p.entry / leverage),
            }  # fmt: skip
        cross = [r for r in rows.values() if r["mode"] == "cross"]
        cross_upnl = sum((r["upnl"] for r in cross), ZERO)
        cross_value = account.balance + cross_upnl
        isolated_equity = sum((account.positions[c].isolated_margin + r["upnl"] for c, r in rows.items()
                               if r["mode"] == "isolated"), ZERO)  # fmt: skip
        cross_margin = sum((r["margin_used"] for r in cross), ZERO)
        cross_maintenance = sum((r["maintenance"] for r in cross), ZERO)
        for coin, r in rows.items():
            p, spec = account.positions[coin], self._spec(coin)
            if r["mode"] == "isolated":
                margin = p.isolated_margin
            else:  # the cross equity left for this position when the others keep their maintenance margin
                margin = cross_value - r["upnl"] - (cross_maintenance - r["maintenance"])
            r["liquidation"] = perps.liquidation_price(quantity=p.szi, entry=p.entry, margin=margin, mmr=spec.mmr)

        def ntl(rs: Iterable[dict[str, Any]]) -> Decimal:
            return sum((r["value"] for r in rs), ZERO)

        signed_ntl = sum((account.positions[c].szi * self._marks[c] for c in rows), ZERO)
        cross_signed = sum((account.positions[c].szi * self._marks[c] for c, r in rows.items() if r["mode"] == "cross"),
                           ZERO)  # fmt: skip
        total_value = cross_value + isolated_equity
        isolated_margin = sum((r["margin_used"] for r in rows.values() if r["mode"] == "isolated"), ZERO)
        return {
            "positions": rows,
            "total": {
                "value": total_value,
                "ntl": ntl(rows.values()),
                "raw": total_value - signed_ntl,
                "margin": cross_margin + isolated_margin,
            },
            "cross": {
                "value": cross_value,
                "ntl": ntl(cross),
                "raw": cross_value - cross_signed,
                "margin": cross_margin,
            },
            "cross_maintenance": cross_maintenance,
            "free": cross_value - cross_margin,
        }

    def _reserved(self, account: Account) -> Decimal:
        """Margin held for resting orders that would open exposure."""
        held = ZERO
        for o in self._open_of(account.address):
            if o.reduce_only or o.is_trigger:
                continue
            szi = account.positions.get(o.coin, Position()).szi
            held += self._increase(szi, o.sz if o.is_buy else -o.sz) * o.limit_px / self._mode(account, o.coin)[1]
        return held

    # -- helpers (lock held) -------------------------------------------------------------------------------
    def _spec(self, coin: str) -> PerpSpec:
        for spec in self.universe:
            if spec.name == coin:
                return spec
        raise KeyError(f"unknown coin {coin!r}")

    def _account(self, address: str) -> Account:
        try:
            return self._accounts[address.lower()]
        except KeyError:
            raise KeyError(f"no account {address}") from None

    def _open_of(self, user: str) -> list[Order]:
        return sorted((o for o in self._orders.values() if o.user == user and o.status in OPEN), key=lambda o: o.oid)

    @staticmethod
    def _number(text: str) -> Decimal | None:
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None

    @staticmethod
    def _tick(spec: PerpSpec, price: Decimal) -> Decimal:
        """The smallest price step at this price: 5 significant figures, at most 6 - szDecimals decimals."""
        digits = len(str(int(price))) if price >= 1 else 0
        return Decimal(1).scaleb(-max(0, min(6 - spec.sz_decimals, 5 - digits)))

    @staticmethod
    def _on_tick(spec: PerpSpec, price: Decimal) -> bool:
        """Integer prices are always allowed; others have at most 5 significant figures and 6 - szDecimals
        decimals."""
        if price == price.to_integral_value():
            return True
        decimals = -price.normalize().as_tuple().exponent
        significant = len(price.normalize().as_tuple().digits)
        return decimals <= 6 - spec.sz_decimals and significant <= 5


Endpoint = Callable[[HyperliquidServer, dict[str, Any]], Any]
INFO: dict[str, Endpoint] = {
    "meta": HyperliquidServer._meta,
    "metaAndAssetCtxs": HyperliquidServer._meta_and_ctxs,
    "spotMeta": HyperliquidServer._spot_meta,
    "spotMetaAndAssetCtxs": HyperliquidServer._spot_meta_and_ctxs,
    "allMids": HyperliquidServer._all_mids,
    "exchangeStatus": HyperliquidServer._exchange_status,
    "userAbstraction": HyperliquidServer._user_abstraction,
    "maxBuilderFee": HyperliquidServer._max_builder_fee,
    "l2Book": HyperliquidServer._l2_book,
    "candleSnapshot": HyperliquidServer._candle_snapshot,
    "fundingHistory": HyperliquidServer._funding_history,
    "clearinghouseState": HyperliquidServer._clearinghouse_state,
    "spotClearinghouseState": HyperliquidServer._spot_clearinghouse_state,
    "openOrders": HyperliquidServer._open_orders,
    "frontendOpenOrders": HyperliquidServer._frontend_open_orders,
    "orderStatus": HyperliquidServer._order_status,
    "historicalOrders": HyperliquidServer._historical_orders,
    "userFills": HyperliquidServer._user_fills,
    "userFillsByTime": HyperliquidServer._user_fills_by_time,
    "userFunding": HyperliquidServer._user_funding,
}


def make_ccxt_client(server: Any, *, private_key: str | None = None, wallet_address: str | None = None,
                     timeout: int = 2000) -> Any:  # fmt: skip
    """The real ccxt hyperliquid client pointed at `server`, perpetuals only, signing with `private_key`."""
    import ccxt

    exchange = ccxt.hyperliquid(
        {
            "walletAddress": wallet_address or server.wallet_address,
            "privateKey": private_key or server.private_key,
            "enableRateLimit": False,
            "timeout": timeout,
            "options": {"fetchMarkets": {"types": ["swap"]}},
        }
    )
    exchange.urls["api"] = {name: server.base_url for name in exchange.urls["api"]}
    return exchange
