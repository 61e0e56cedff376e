"""Our exchange ids (ccxt ids, or `paper`) and symbols as Hummingbot names them.

Hummingbot's paper trading wraps a real connector's market data as `<connector>_paper_trade`,
and only for the connectors listed in conf_client.yml `paper_trade.paper_trade_exchanges`
(binance, kucoin, kraken and gate_io by default). Our own `paper` exchange replays Binance data,
so it becomes `binance_paper_trade`.
"""

from __future__ import annotations

import re

from core.errors import ApplicationError

CONNECTORS = {
    "binance": "binance",
    "kucoin": "kucoin",
    "gate": "gate_io",
    "gateio": "gate_io",
    "okx": "okx",
    "bybit": "bybit",
    "kraken": "kraken",
    "coinbase": "coinbase_advanced_trade",
    "coinbaseadvanced": "coinbase_advanced_trade",
    "mexc": "mexc",
    "htx": "htx",
    "huobi": "htx",
    "bitget": "bitget",
    "bitmart": "bitmart",
    "bitstamp": "bitstamp",
}
PAPER_EXCHANGE = "paper"
PAPER_SOURCE = "binance"
PAPER_TRADE_CONNECTORS = frozenset({"binance", "kucoin", "kraken", "gate_io"})
PAPER_SUFFIX = "_paper_trade"

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")


def connector_name(exchange: str, *, paper: bool, field: str = "exchange") -> str:
    """The Hummingbot connector for one of our exchange ids, paper-trading when `paper`."""
    key = (exchange or "").strip().lower()
    if key == PAPER_EXCHANGE:
        return PAPER_SOURCE + PAPER_SUFFIX
    connector = CONNECTORS.get(key)
    if connector is None:
        supported = ", ".join(sorted(CONNECTORS))
        raise ApplicationError(
            f"Hummingbot has no connector mapped for exchange {exchange!r}; supported: {supported} and paper.",
            field=field,
        )
    if not paper:
        return connector
    if connector not in PAPER_TRADE_CONNECTORS:
        names = ", ".join(sorted(PAPER_TRADE_CONNECTORS))
        raise ApplicationError(
            f"Hummingbot paper-trades only on {names}; {exchange!r} ({connector}) has no paper connector.",
            field=field,
        )
    return connector + PAPER_SUFFIX


def split_symbol(symbol: str, *, field: str = "symbol") -> tuple[str, str]:
    """(base, quote) of a spot symbol such as BTC/USDT; derivatives (BTC/USDT:USDT) are refused."""
    parts = (symbol or "").strip().upper().split("/")
    if len(parts) != 2 or not all(_ASSET.match(p) for p in parts):
        raise ApplicationError(
            f"Symbol {symbol!r} is not a spot pair like BTC/USDT; Hummingbot configs are made for spot markets only.",
            field=field,
        )
    return parts[0], parts[1]


def market_name(symbol: str, *, field: str = "symbol") -> str:
    """BTC/USDT -> BTC-USDT, the way Hummingbot writes trading pairs."""
    base, quote = split_symbol(symbol, field=field)
    return f"{base}-{quote}"
