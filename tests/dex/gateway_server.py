"""A loopback Hummingbot Gateway (v2 routes) for tests, spoken well enough for our client.

Routes and answers follow Gateway's schemas: `GET /` ({"status": "ok"}), `GET
/chains/solana/status`, `POST /wallet/add` (the address is the public half of the 64-byte base58
keypair, as Solana keypairs are laid out), `GET /wallet`, `DELETE /wallet/remove`, `POST
/chains/solana/balances`, `GET /connectors/jupiter/router/quote-swap`, `POST
/connectors/jupiter/router/execute-quote` and `POST /chains/solana/poll`. Errors carry
{statusCode, error, message} as Gateway's handler writes them.

Served over plain HTTP (dev mode) or, given an SSL context, over mutual TLS. A test steers the
chain: balances, prices, and what becomes of a swap's transaction (`swap_outcome`: confirmed,
failed on chain, dropped, or confirmed only after N polls; or a timeout on execute)."""

from __future__ import annotations

import itertools
import json
import secrets
import ssl
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = ALPHABET[rest] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + ALPHABET.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def new_keypair() -> tuple[str, str]:
    """(base58 secret key, its address) in Solana's layout: 32 bytes of seed, then the public key."""
    raw = secrets.token_bytes(64)
    return b58encode(raw), b58encode(raw[32:])


def signature() -> str:
    return b58encode(secrets.token_bytes(64))


class GatewayServer:
    def __init__(self, *, tls: ssl.SSLContext | None = None, network: str = "mainnet-beta") -> None:
        self.network = network
        self.wallets: list[str] = []
        self.balances: dict[str, dict[str, Decimal]] = {}
        self.prices: dict[tuple[str, str], Decimal] = {}
        self.spread = Decimal(0)  # a sell is quoted this fraction under the price, a buy over it
        self.quotes: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.slot = itertools.count(250_000_000)
        self.swap_outcome: dict[str, Any] = {"status": "confirmed", "polls": 0}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = None
                status, answer = owner.handle(self.command, parts.path, dict(parse_qsl(parts.query)), body)
                if status == "timeout":
                    time.sleep(answer)
                    status, answer = 504, {"statusCode": 504, "error": "GatewayTimeout", "message": "late"}
                payload = json.dumps(answer, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - http.server dispatches on these names

            def log_message(self, format, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- answers ---------------------------------------------------------------------------------
    @staticmethod
    def error(status: int, message: str, name: str = "") -> tuple[int, dict[str, Any]]:
        names = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}
        return status, {"statusCode": status, "error": name or names.get(status, "Error"), "message": message}

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[Any, Any]:
        with self.lock:
            self.requests.append((method, path, body if method != "GET" else query))
        if body is None:
            return self.error(400, "Body is not valid JSON", "Validation Error")
        route = {
            ("GET", "/"): lambda: (200, {"status": "ok"}),
            ("GET", "/chains/solana/status"): lambda: self.status(query),
            ("POST", "/wallet/add"): lambda: self.wallet_add(body),
            ("GET", "/wallet"): lambda: (
                200,
                [{"chain": "solana", "walletAddresses": list(self.wallets)}] if self.wallets else [],
            ),
            ("DELETE", "/wallet/remove"): lambda: self.wallet_remove(body),
            ("POST", "/chains/solana/balances"): lambda: self.balances_of(body),
            ("GET", "/connectors/jupiter/router/quote-swap"): lambda: self.quote_swap(query),
            ("POST", "/connectors/jupiter/router/execute-quote"): lambda: self.execute_quote(body),
            ("POST", "/chains/solana/poll"): lambda: self.poll(body),
        }.get((method, path))
        if route is None:
            return self.error(404, f"Route {method}:{path} not found", "Not Found")
        return route()

    def status(self, query):
        network = query.get("network") or self.network
        if network != self.network:
            return self.error(500, f"Failed to get Solana status: network {network} is not configured")
        return 200, {
            "chain": "solana",
            "network": network,
            "rpcUrl": "https://api.mainnet-beta.solana.com",
            "rpcProvider": "url",
            "currentBlockNumber": next(self.slot),
            "nativeCurrency": "SOL",
            "swapProvider": "jupiter/router",
        }

    def wallet_add(self, body):
        if body.get("chain") not in ("solana", "ethereum"):
            return self.error(400, f"Unrecognized chain name: {body.get('chain')}")
        key = body.get("privateKey")
        try:
            raw = b58decode(key)
            if len(raw) != 64:
                raise ValueError
        except (TypeError, ValueError):
            return self.error(400, f"Unable to retrieve wallet address for provided private key: {str(key)[:5]}...")
        address = b58encode(raw[32:])
        with self.lock:
            if address not in self.wallets:
                self.wallets.append(address)
        return 200, {"address": address}

    def wallet_remove(self, body):
        if body.get("chain") not in ("solana", "ethereum"):
            return self.error(400, f"Unrecognized chain name: {body.get('chain')}")
        with self.lock:
            if body.get("address") in self.wallets:
                self.wallets.remove(body["address"])
        return 200, {"message": f"Wallet {body.get('address')} removed successfully"}

    def balances_of(self, body):
        held = self.balances.get(body.get("address") or "", {})
        tokens = body.get("tokens") or []
        if tokens:
            return 200, {"balances": {t: float(held.get(t, 0)) for t in tokens}}
        return 200, {"balances": {"SOL": float(held.get("SOL", 0))} | {t: float(v) for t, v in held.items() if v}}

    def quote_swap(self, query):
        base, quote = query.get("baseToken"), query.get("quoteToken")
        price = self.prices.get((base, quote))
        if price is None:
            return self.error(404, f"No route found for {base} -> {quote} (ExactIn).")
        try:
            amount = Decimal(query["amount"])
            pct = Decimal(query.get("slippagePct") or "1")
        except (KeyError, ArithmeticError):
            return self.error(400, "querystring/amount must be number", "Validation Error")
        side = query.get("side") or "SELL"
        price = price * (1 - self.spread) if side == "SELL" else price * (1 + self.spread)
        quote_id = str(uuid.uuid4())
        if side == "SELL":
            amount_in, amount_out = amount, amount * price
            limits = {"minAmountOut": float(amount_out * (1 - pct / 100)), "maxAmountIn": float(amount)}
        else:
            amount_in, amount_out = amount * price, amount
            limits = {"minAmountOut": float(amount), "maxAmountIn": float(amount_in * (1 + pct / 100))}
        answer = {
            "quoteId": quote_id,
            "tokenIn": base if side == "SELL" else quote,
            "tokenOut": quote if side == "SELL" else base,
            "amountIn": float(amount_in),
            "amountOut": float(amount_out),
            "price": float(price),
            "priceImpactPct": 0.01,
            **limits,
            "quoteResponse": {"slippageBps": int(pct * 100), "swapMode": "ExactIn" if side == "SELL" else "ExactOut"},
        }
        with self.lock:
            self.quotes[quote_id] = {**answer, "side": side, "base": base, "quote": quote}
        return 200, answer

    def execute_quote(self, body):
        with self.lock:
            quote = self.quotes.pop(body.get("quoteId") or "", None)
        if quote is None:
            return self.error(400, "Quote not found or expired")
        outcome = dict(self.swap_outcome)
        sig = signature()
        with self.lock:
            self.transactions[sig] = {"quote": quote, "outcome": outcome, "polls": 0}
        if outcome.get("execute") == "timeout":
            return "timeout", outcome.get("seconds", 2)
        if outcome["status"] == "confirmed" and not outcome.get("polls"):
            return 200, {"signature": sig, "status": 1, "data": self._amounts(quote)}
        return 200, {"signature": sig, "status": 0}

    @staticmethod
    def _amounts(quote) -> dict[str, Any]:
        return {
            "tokenIn": quote["tokenIn"],
            "tokenOut": quote["tokenOut"],
            "amountIn": quote["amountIn"],
            "amountOut": quote["amountOut"],
            "fee": 0.000005,
            "baseTokenBalanceChange": -quote["amountIn"],
            "quoteTokenBalanceChange": quote["amountOut"],
        }

    def poll(self, body):
        sig = body.get("signature") or ""
        current = next(self.slot)
        with self.lock:
            tx = self.transactions.get(sig)
            if tx is not None:
                tx["polls"] += 1
        pending = {
            "currentBlock": current,
            "signature": sig,
            "txBlock": None,
            "txStatus": 0,
            "fee": None,
            "txData": None,
        }
        if tx is None:
            return 200, {**pending, "error": "Transaction not found or invalid"}
        outcome = tx["outcome"]
        if outcome["status"] == "dropped" or tx["polls"] <= outcome.get("polls", 0):
            return 200, pending  # not (yet) seen at confirmed commitment
        status = 1 if outcome["status"] == "confirmed" else -1
        changes = {}
        if status == 1 and body.get("walletAddress") and body.get("tokens"):
            quote = tx["quote"]
            signed = {quote["tokenIn"]: -quote["amountIn"], quote["tokenOut"]: quote["amountOut"]}
            changes = {"tokenBalanceChanges": {t: signed.get(t, 0.0) for t in body["tokens"]}}
        return 200, {
            **changes,
            "currentBlock": current,
            "signature": sig,
            "txBlock": current - 2,
            "txStatus": status,
            "fee": 0.000005,
            "txData": {"meta": {"err": None if status == 1 else {"InstructionError": [2, {"Custom": 6001}]}}},
        }
