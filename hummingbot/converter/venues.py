"""Our exchange ids (ccxt ids, or `paper`) and symbols as Hummingbot names them.

Hummingbot's paper trading wraps a real connector's market data as `<connector>_paper_trade`,
and only for the connectors listed in conf_client.yml `paper_trade.paper_trade_exchanges`
(binance, kucoin, kraken and gate_io by default). Our own `paper` exchange replays Binance data,
so it becomes `binance_paper_trade`.

Perpetuals trade on Hummingbot's derivative connectors (`binance_perpetual`,
`hyperliquid_perpetual`, ...), which have no paper-trade wrapper: a paper perp bot runs natively
on our own paper exchange instead.

A DEX leg goes through Hummingbot Gateway. Gateway names a DEX `<connector>/<type>` (Jupiter is
`jupiter/router`), but since Hummingbot 2.14, and in 20260922, that name is only offered for tab
completion: the connector a V1 strategy can start is Gateway's network, `<chain>-<network>`, which
swaps through the DEX set as that network's `swapProvider` in Gateway's config. Read in the
20260922 sdist: hummingbot/core/gateway/gateway_http_client.py (`_monitor_loop` and
`ensure_gateway_connectors_registered` register only the network connectors in
AllConnectorSettings; `get_connector_chain_network` rejects a name without `chain-network`),
hummingbot/core/connector_manager.py (`create_connector` looks the name up there),
hummingbot/core/trading_core.py (`initialize_markets`, which amm_arb's start.py calls) and
hummingbot/connector/gateway/gateway_base.py / gateway.py (`start_network` reads `swapProvider`;
swaps go through it). Gateway's src/templates/chains/solana/mainnet-beta.yml sets
`swapProvider: jupiter/router`. Gateway legs have no paper-trade wrapper either: a paper
CEX-DEX arbitrage runs natively with a `jupiter_paper` account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class GatewayDex:
    """A DEX traded through Hummingbot Gateway: our exchange ids for it (live and simulated), the
    connector Hummingbot starts for it, the swap provider that connector's network must route
    through, and the token the network's fees are paid in."""

    exchange: str
    paper_exchange: str
    connector: str
    swap_provider: str
    gas_token: str


# The ids are dex.models' DEX_LIVE and DEX_PAPER, written out so the converter imports no Django.
JUPITER = GatewayDex("jupiter", "jupiter_paper", "solana-mainnet-beta", "jupiter/router", "SOL")
GATEWAY_DEXES = {dex.exchange: dex for dex in (JUPITER,)}
GATEWAY_PAPER_DEXES = {dex.paper_exchange: dex for dex in GATEWAY_DEXES.values()}

PAPER_EXCHANGE = "paper"
PAPER_SOURCE = "binance"
PAPER_TRADE_CONNECTORS = frozenset({"binance", "kucoin", "kraken", "gate_io"})
PAPER_SUFFIX = "_paper_trade"

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")


def _key(exchange: str | None) -> str:
    return (exchange or "").strip().lower()


def _unmapped(exchange: str, field: str) -> ApplicationError:
    dexes = ", ".join(sorted(GATEWAY_DEXES))
    if "/" in _key(exchange):
        return ApplicationError(
            f"{exchange!r} is a Gateway connector name, not one of our exchange ids: the Gateway DEX mapped here is "
            f"{dexes} (Jupiter on Solana, swap provider {JUPITER.swap_provider}); no other DEX is.",
            field=field,
        )
    supported = ", ".join(sorted(CONNECTORS))
    return ApplicationError(
        f"Hummingbot has no connector mapped for exchange {exchange!r}; supported: {supported}, paper, and the "
        f"Gateway DEX {dexes} (amm_arb only).",
        field=field,
    )


def gateway_dex(exchange: str | None) -> GatewayDex | None:
    """The Gateway DEX behind one of our exchange ids, live or simulated; None for any other."""
    key = _key(exchange)
    return GATEWAY_DEXES.get(key) or GATEWAY_PAPER_DEXES.get(key)


def gateway_connector_name(exchange: str, *, paper: bool, field: str = "exchange") -> str:
    """Hummingbot's Gateway connector for one of our DEX exchange ids; paper is refused, since
    Hummingbot has no paper-trade wrapper for Gateway connectors."""
    dex = gateway_dex(exchange)
    if dex is None:
        raise _unmapped(exchange, field)
    if paper or _key(exchange) == dex.paper_exchange:
        raise ApplicationError(
            f"Hummingbot has no paper-trade connector for Gateway DEXs: a paper CEX-DEX arbitrage runs natively on "
            f"our own engine with a {dex.paper_exchange} account; deploy to Hummingbot live, with a {dex.exchange} "
            "account.",
            field=field,
            code="unsupported",
        )
    return dex.connector


def connector_name(exchange: str, *, paper: bool, field: str = "exchange") -> str:
    """The Hummingbot connector for one of our exchange ids, paper-trading when `paper`."""
    key = _key(exchange)
    if key == PAPER_EXCHANGE:
        return PAPER_SOURCE + PAPER_SUFFIX
    if gateway_dex(key) is not None:
        return gateway_connector_name(exchange, paper=paper, field=field)
    connector = CONNECTORS.get(key)
    if connector is None:
        raise _unmapped(exchange, field)
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
    key = _key(exchange)
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
