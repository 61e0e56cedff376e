"""Hummingbot Gateway's REST API (v2), as this project uses it: health, chain status, wallets,
balances, Jupiter quotes and swaps, and the transaction poll. Paths and fields follow Gateway's
route schemas (src/chains/solana/routes, src/wallet/routes, src/connectors/jupiter/router-routes).

Every failure is one of `exchanges.errors`: a timeout is `RequestTimeoutError` (for a swap the
outcome is then unknown), no connection or a 5xx `RetryableError` (429 `RateLimitError`), a
refused client certificate `AuthError`, any other 4xx a permanent `ExchangeError` carrying
Gateway's own message. A wallet's private key is sent in one request body and is kept out of
every error message.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from decimal import Decimal
from typing import Any

import httpx

from exchanges.errors import (
    AuthError,
    ExchangeError,
    InvalidOrderError,
    RateLimitError,
    RequestTimeoutError,
    RetryableError,
)

DEFAULT_TIMEOUT = 15.0


def tls_context(*, client_cert: str, client_key: str, ca_cert: str) -> ssl.SSLContext:
    """A client context for Gateway's mutual TLS. The certificate and key exist on disk only for
    the moment `load_cert_chain` reads them (the ssl module takes no PEM from memory), in a
    private directory that is removed at once."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_cert:
        context.load_verify_locations(cadata=ca_cert)
        # Gateway's certificate names the host it was made for; it is the CA that we trust.
        context.check_hostname = False
    if client_cert or client_key:
        if not (client_cert and client_key):
            raise AuthError("Mutual TLS needs both the client certificate and its key.")
        with tempfile.TemporaryDirectory(prefix="gw-") as folder:
            os.chmod(folder, 0o700)
            cert_path, key_path = os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem")
            for path, text in ((cert_path, client_cert), (key_path, client_key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(text)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                raise AuthError(f"The client certificate or its key is not valid PEM ({exc.reason}).") from None
    return context


def _tls_refusal(exc: BaseException) -> str:
    """The TLS reason in an httpx error's chain (a refused client certificate shows on the first
    read under TLS 1.3, not in the handshake), or ''."""
    seen = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or seen).lower().replace("_", " ")
        seen = seen.__cause__ or seen.__context__
    return ""


class GatewayClient:
    def __init__(
        self,
        url: str,
        *,
        client_cert: str = "",
        client_key: str = "",
        ca_cert: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        if url.startswith("https://"):
            verify = tls_context(client_cert=client_cert, client_key=client_key, ca_cert=ca_cert)
        self.http = httpx.Client(base_url=url.rstrip("/"), verify=verify, timeout=timeout)

    @classmethod
    def for_connection(cls, connection, *, timeout: float = DEFAULT_TIMEOUT) -> GatewayClient:
        return cls(
            connection.url,
            client_cert=connection.client_cert,
            client_key=connection.client_key,
            ca_cert=connection.ca_cert,
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, params=None, body=None, hide: tuple[str, ...] = ()) -> Any:
        try:
            response = self.http.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise RequestTimeoutError(f"Gateway did not answer {method} {path} in time.") from None
        except httpx.TransportError as exc:
            refused = _tls_refusal(exc)
            if refused:
                raise AuthError(
                    f"Gateway refused the TLS connection ({refused}): check the client certificate."
                ) from None
            if isinstance(exc, httpx.ConnectError):
                raise RetryableError(f"Gateway is unreachable at {self.http.base_url}: {exc}") from None
            raise RetryableError(f"Gateway call {method} {path} failed: {type(exc).__name__}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            message = str(message or response.reason_phrase or "no message")
            for secret in hide:
                if secret:
                    message = message.replace(secret, "***")
            text = f"Gateway {method} {path}: {response.status_code} {message}"[:500]
            if response.status_code == 429:
                raise RateLimitError(text)
            if response.status_code >= 500:
                raise RetryableError(text)
            raise ExchangeError(text)
        if data is None:
            raise RetryableError(f"Gateway {method} {path} answered something that is not JSON.")
        return data

    # -- health and wallets ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """`GET /`: {"status": "ok"} when the server runs."""
        data = self._call("GET", "/")
        if not isinstance(data, dict) or data.get("status") != "ok":
            raise RetryableError(f"Gateway's status is not ok: {str(data)[:200]}")
        return data

    def chain_status(self, *, network: str) -> dict[str, Any]:
        """`GET /chains/solana/status`: network, rpcUrl, rpcProvider, currentBlockNumber, swapProvider ..."""
        data = self._call("GET", "/chains/solana/status", params={"network": network})
        if not isinstance(data, dict) or not isinstance(data.get("currentBlockNumber"), int):
            raise RetryableError(f"Gateway's Solana status has no block number: {str(data)[:200]}")
        return data

    def wallet_add(self, *, private_key: str, chain: str = "solana") -> str:
        """`POST /wallet/add`: Gateway stores the key (encrypted with its passphrase) and answers the address."""
        data = self._call(
            "POST",
            "/wallet/add",
            body={"chain": chain, "privateKey": private_key, "setDefault": False},
            hide=(private_key,),
        )
        address = data.get("address") if isinstance(data, dict) else None
        if not isinstance(address, str) or not address:
            raise ExchangeError("Gateway added the wallet but answered no address.")
        return address

    def wallets(self, *, chain: str = "solana") -> list[str]:
        """`GET /wallet`: the addresses Gateway holds keys for on `chain`."""
        data = self._call("GET", "/wallet", params={"showHardware": "false"})
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, dict) and entry.get("chain") == chain:
                return [a for a in entry.get("walletAddresses") or [] if isinstance(a, str)]
        return []

    def wallet_remove(self, *, address: str, chain: str = "solana") -> None:
        """`DELETE /wallet/remove` (with a JSON body)."""
        self._call("DELETE", "/wallet/remove", body={"chain": chain, "address": address})

    def balances(self, *, network: str, address: str, tokens: list[str] | None = None) -> dict[str, Decimal]:
        """`POST /chains/solana/balances`: token symbol -> amount in the token's units."""
        body: dict[str, Any] = {"network": network, "address": address}
        if tokens:
            body["tokens"] = tokens
        data = self._call("POST", "/chains/solana/balances", body=body)
        balances = data.get("balances") if isinstance(data, dict) else None
        if not isinstance(balances, dict):
            raise RetryableError("Gateway's balances answer has no balances.")
        try:
            return {str(k): Decimal(str(v)) for k, v in balances.items()}
        except ArithmeticError:
            raise RetryableError("Gateway answered a balance that is not a number.") from None

    # -- swaps (Jupiter) ---------------------------------------------------------------------------
    def quote_swap(
        self, *, network: str, base: str, quote: str, amount: Decimal, side: str, slippage_bps: int
    ) -> dict[str, Any]:
        """`GET /connectors/jupiter/router/quote-swap`. `amount` is always of the base token; SELL
        sells exactly that, BUY buys exactly that. Gateway takes slippage in percent."""
        params = {
            "network": network,
            "baseToken": base,
            "quoteToken": quote,
            "amount": str(amount),
            "side": side.upper(),
            "slippagePct": str(Decimal(slippage_bps) / 100),
        }
        try:
            return self._call("GET", "/connectors/jupiter/router/quote-swap", params=params)
        except ExchangeError as exc:
            if not exc.permanent or isinstance(exc, RateLimitError):
                raise
            raise InvalidOrderError(exc.message) from None

    def execute_quote(self, *, network: str, wallet: str, quote_id: str) -> dict[str, Any]:
        """`POST /connectors/jupiter/router/execute-quote`: {signature, status (1 confirmed, 0
        pending, -1 failed), data?}. A timeout leaves the outcome unknown: poll, never resend."""
        body = {"network": network, "walletAddress": wallet, "quoteId": quote_id}
        try:
            return self._call("POST", "/connectors/jupiter/router/execute-quote", body=body)
        except ExchangeError as exc:
            if not exc.permanent or isinstance(exc, RateLimitError):
                raise
            raise InvalidOrderError(exc.message) from None

    def poll(
        self, *, network: str, signature: str, wallet: str = "", tokens: list[str] | None = None
    ) -> dict[str, Any]:
        """`POST /chains/solana/poll`: txStatus 1 confirmed, -1 failed on chain, 0 not found (yet)."""
        body: dict[str, Any] = {"network": network, "signature": signature}
        if wallet and tokens:
            body.update(walletAddress=wallet, tokens=tokens)
        return self._call("POST", "/chains/solana/poll", body=body)
