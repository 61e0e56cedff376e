"""Our exchange ids (ccxt ids, or `paper`) and symbols as Hummingbot names them.

Hummingbot's paper trading wraps a real connector's market data as `<connector>_paper_trade`,
and only for the connectors listed in conf_client.yml `paper_trade.paper_trade_exchanges`
(binance, kucoin, kraken and gate_io by default). Our own `paper` exchange replays Binance data,
so it becomes `binance_paper_trade`.

Perpetuals trade on Hummingbot's derivative connectors (`binance_perpetual`,
`hyperliquid_perpetual`, ...), which have no paper-trade wrapper: a paper perp bot runs natively
on our own paper exchange instead.
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
# Linear perpetuals: our exchange id -> Hummingbot's derivative connector.
PERP_CONNECTORS = {
    "binanceusdm": "binance_perpetual",
    "binance": "binance_perpetual",
    "bybit": "bybit_perpetual",
    "hyperliquid": "hyperliquid_perpetual",
    "okx": "okx_perpetual",
    "gate": "gate_io_perpetual",
    "gateio": "gate_io_perpetual",
    "kucoin": "kucoin_perpetual",
    "bitget": "bitget_perpetual",
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


def perp_connector_name(exchange: str, *, paper: bool, field: str = "exchange") -> str:
    """Hummingbot's derivative connector for a perpetual on one of our exchanges."""
    key = (exchange or "").strip().lower()
    if paper or key == PAPER_EXCHANGE:
        raise ApplicationError(
            "Hummingbot has no paper connector for perpetuals: run a paper perp bot with native execution "
            "(our paper exchange trades perpetuals), or deploy it live.",
            field=field,
            code="unsupported",
        )
    connector = PERP_CONNECTORS.get(key)
    if connector is None:
        supported = ", ".join(sorted(PERP_CONNECTORS))
        raise ApplicationError(
            f"Hummingbot has no perpetual connector mapped for exchange {exchange!r}; supported: {supported}.",
            field=field,
        )
    return connector


def split_perp_symbol(symbol: str, *, field: str = "symbol") -> tuple[str, str]:
    """(base, quote) of a linear perpetual such as BTC/USDT:USDT (settled in its quote)."""
    pair, _, settle = (symbol or "").strip().upper().partition(":")
    parts = pair.split("/")
    if len(parts) != 2 or not all(_ASSET.match(p) for p in parts) or settle != parts[1]:
        raise ApplicationError(
            f"Symbol {symbol!r} is not a linear perpetual like BTC/USDT:USDT (settled in its quote).", field=field
        )
    return parts[0], parts[1]


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
    """BTC/USDT (or the perpetual BTC/USDT:USDT) -> BTC-USDT, the way Hummingbot writes trading pairs."""
    if ":" in (symbol or ""):
        base, quote = split_perp_symbol(symbol, field=field)
    else:
        base, quote = split_symbol(symbol, field=field)
    return f"{base}-{quote}"
