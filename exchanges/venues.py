"""What differs between venues, in one place: the credentials each one needs, the market types to
load, and how a venue spells a client order id.

Credentials follow ccxt's `requiredCredentials` for the exchange: Binance or Bybit need an API key
and secret, OKX a passphrase as well, Hyperliquid a wallet address and the private key that signs.
Forms, the API and the admin show exactly the fields `credential_fields` names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from exchanges.errors import InvalidOrderError

PAPER = "paper"


# -- venues served by other apps -----------------------------------------------------------------
# This app knows ccxt and the paper exchange. A venue reached some other way (a DEX through
# Hummingbot Gateway) is registered here by the app that serves it, when Django starts, so that
# accounts, verification and bots treat it like any exchange without this layer importing it.


@dataclass(frozen=True)
class ExternalVenue:
    id: str
    label: str
    factory: Callable[[Any], Any]  # ExchangeAccount -> ExchangeClient
    simulated: bool = False  # fills are simulated: paper bots only
    has_volume: bool = True  # its candles carry traded volume


_EXTERNAL: dict[str, ExternalVenue] = {}


def venue_register(venue: ExternalVenue) -> None:
    _EXTERNAL[venue.id] = venue


def external_venue(exchange_id: str) -> ExternalVenue | None:
    return _EXTERNAL.get(exchange_id or "")


def external_venues() -> list[ExternalVenue]:
    return sorted(_EXTERNAL.values(), key=lambda v: v.id)


# ccxt's credential names -> our ExchangeAccount fields (all encrypted, write-only).
CCXT_CREDENTIALS = {
    "apiKey": "api_key",
    "secret": "api_secret",
    "password": "passphrase",
    "walletAddress": "wallet_address",
    "privateKey": "private_key",
}
CREDENTIAL_LABELS = {
    "api_key": "API key",
    "api_secret": "API secret",
    "passphrase": "Passphrase",
    "wallet_address": "Wallet address",
    "private_key": "Private key",
}
ALL_CREDENTIALS = tuple(CCXT_CREDENTIALS.values())

# Market types to load per exchange (ccxt's `fetchMarkets.types`): spot and linear perpetuals,
# never options or inverse contracts, and nothing an exchange does not list.
MARKET_TYPES = {
    "hyperliquid": ["spot", "swap"],
    "bybit": ["spot", "linear"],
    "binanceusdm": ["linear"],
    "okx": ["spot", "swap"],
}
DEFAULT_MARKET_TYPES = ["spot"]

HEX32 = re.compile(r"^0x[0-9a-f]{32}$")
OUR_CID = re.compile(r"^bo(\d{1,14})x([0-9a-f]{20})$")


@cache
def _ccxt_required(exchange_id: str) -> tuple[str, ...]:
    import ccxt

    exchange_class = getattr(ccxt, exchange_id, None)
    if exchange_class is None:
        return ()
    required = exchange_class().requiredCredentials
    return tuple(name for name, needed in required.items() if needed)


def credential_fields(exchange_id: str) -> tuple[str, ...]:
    """Our account fields the exchange needs, in a stable order (empty for paper, and for a venue
    whose keys live elsewhere, such as a DEX wallet's in Gateway)."""
    if not exchange_id or exchange_id == PAPER or exchange_id in _EXTERNAL:
        return ()
    needed = _ccxt_required(exchange_id)
    fields = [CCXT_CREDENTIALS[name] for name in CCXT_CREDENTIALS if name in needed]
    return tuple(fields) if fields else ("api_key", "api_secret")


def credentials_sentence(exchange_id: str) -> str:
    """'a wallet address and a private key': what the exchange needs, for messages."""
    labels = [CREDENTIAL_LABELS[name].lower().replace("api ", "API ") for name in credential_fields(exchange_id)]
    if not labels:
        return "no credentials"
    labels = [f"an {label}" if label[0] in "aeiouAEIOU" else f"a {label}" for label in labels]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def has_perps(exchange_id: str) -> bool:
    """Does the exchange list perpetuals here (its positions are worth reading)?"""
    return exchange_id == PAPER or bool({"swap", "linear"} & set(market_types(exchange_id)))


def unsupported_credentials(exchange_id: str) -> tuple[str, ...]:
    """ccxt credentials the exchange requires that we have no field for (e.g. a uid)."""
    if not exchange_id or exchange_id == PAPER or exchange_id in _EXTERNAL:
        return ()
    return tuple(name for name in _ccxt_required(exchange_id) if name not in CCXT_CREDENTIALS)


def market_types(exchange_id: str) -> list[str]:
    return MARKET_TYPES.get(exchange_id, DEFAULT_MARKET_TYPES)


def is_perp_symbol(symbol: str) -> bool:
    """A unified linear perpetual symbol: BASE/QUOTE:SETTLE (e.g. BTC/USDC:USDC)."""
    return ":" in symbol and "/" in symbol.split(":", 1)[0]


def spot_symbol(symbol: str) -> str:
    """The spot pair a perpetual tracks (BTC/USDT:USDT -> BTC/USDT); a spot symbol unchanged."""
    return symbol.split(":", 1)[0]


# -- client order ids ---------------------------------------------------------------------------
# Hyperliquid takes a 128-bit hex client order id ("cloid"). Ours are `bo<bot>x<20 hex>`, so the
# bot id goes in the first 48 bits and the token in the other 80: the mapping is one to one and
# a cloid read back from the exchange turns into our id again.


def to_venue_cid(exchange_id: str, client_order_id: str) -> str:
    if exchange_id != "hyperliquid":
        return client_order_id
    match = OUR_CID.match(client_order_id)
    if match is None:
        if HEX32.match(client_order_id):
            return client_order_id
        raise InvalidOrderError(f"Client order id {client_order_id!r} cannot be sent to Hyperliquid.")
    bot_id, token = int(match.group(1)), match.group(2)
    if bot_id >= 1 << 48:
        raise InvalidOrderError(f"Client order id {client_order_id!r} cannot be sent to Hyperliquid.")
    return f"0x{bot_id:012x}{token}"


def from_venue_cid(exchange_id: str, venue_cid: str | None) -> str | None:
    if exchange_id != "hyperliquid" or not venue_cid or not HEX32.match(venue_cid.lower()):
        return venue_cid
    raw = venue_cid.lower()[2:]
    return f"bo{int(raw[:12], 16)}x{raw[12:]}"


# -- liquidations -------------------------------------------------------------------------------
# How each venue marks the fills of a liquidation in its own trade record (ccxt's unified trade
# has no such flag): Hyperliquid adds a `liquidation` object to the fill, Binance USD-M names the
# order `autoclose-...` (`adl_autoclose` for auto-deleveraging), Bybit's execution type is
# `BustTrade` (and `AdlTrade` for auto-deleveraging).


def is_liquidation_trade(exchange_id: str, info: dict | None, client_order_id: str | None) -> bool:
    info = info or {}
    if exchange_id == "hyperliquid":
        return bool(info.get("liquidation"))
    if exchange_id == "binanceusdm":
        return (client_order_id or "").startswith(("autoclose-", "adl_autoclose"))
    if exchange_id == "bybit":
        return info.get("execType") in ("BustTrade", "AdlTrade")
    return False
