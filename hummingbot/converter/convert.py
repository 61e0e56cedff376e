"""From a bot (strategy key, typed params, venue, limits) or a trading signal to a Hummingbot
config. Pure: plain data in, a `HummingbotConfig` out, an `ApplicationError` naming the input at
fault for anything Hummingbot could not run as asked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.errors import ApplicationError
from hummingbot.converter import targets
from hummingbot.converter.config import HummingbotConfig, plain
from hummingbot.converter.limits import HUNDRED, check_limits, check_symbol_allowed, round8
from hummingbot.converter.schema import BUY, SELL
from hummingbot.converter.targets import Grid, Job, Venue
from hummingbot.converter.venues import (
    PAPER_EXCHANGE,
    connector_name,
    gateway_dex,
    market_name,
    perp_connector_name,
    split_perp_symbol,
    split_symbol,
)
from risk.engine import Limits
from strategies import registry

TARGETS = (
    "pure_market_making",
    "avellaneda_market_making",
    "cross_exchange_market_making",
    "amm_arb",
    "grid_strike",
)
# Our strategy key -> the targets it can become; the first is the default.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "pure_market_making": ("pure_market_making", "avellaneda_market_making"),
    "grid": ("grid_strike",),
    "arbitrage": ("amm_arb", "cross_exchange_market_making"),
    "cex_dex_arbitrage": ("amm_arb",),
}
TWO_VENUES = frozenset({"amm_arb", "cross_exchange_market_making"})
# Targets that run on Hummingbot's derivative (perpetual) connectors; the others are spot-only.
PERP_TARGETS = frozenset({"grid_strike"})
# Targets that take a Gateway DEX leg (venues.GATEWAY_DEXES): amm_arb, beside a CEX leg.
GATEWAY_TARGETS = frozenset({"amm_arb"})

SIGNAL_TYPES = ("market_making", "directional", "arbitrage", "grid")
SIDES = ("buy", "sell", "both")
PRICE_LEVELS = ("entry", "stop", "take_profit", "lower", "upper")
# A market-making signal without price levels quotes 1% from the mid at confidence 0, 0.1% at 1.
SIGNAL_WIDE_SPREAD, SIGNAL_TIGHT_SPREAD = Decimal(1), Decimal("0.1")
# ... and leans its inventory target up to 25 points toward its side.
SIGNAL_INVENTORY_LEAN = Decimal(25)


@dataclass(frozen=True)
class ConvertInput:
    """A bot as the converter sees it. `params` are the strategy's typed params; `paper` picks
    Hummingbot's paper connectors; `second_exchange` / `second_symbol` are the other venue of a
    two-venue target (the symbol defaults to `symbol`); `overrides` set Hummingbot-only keys;
    `reference_price` (a recent mid) lets order sizes and the price band be checked; `capital`
    turns max_daily_loss into a kill switch rate; `name` becomes the file name's slug."""

    strategy: str
    params: Mapping[str, Any]
    symbol: str
    exchange: str
    paper: bool
    limits: Limits | None = None
    second_exchange: str | None = None
    second_symbol: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    reference_price: Decimal | None = None
    capital: Decimal | None = None
    name: str = ""
    market_type: str = "spot"  # or "perp": a linear perpetual on a derivative connector
    leverage: Decimal = Decimal(1)
    margin_mode: str = "isolated"


@dataclass(frozen=True)
class Signal:
    """A trading signal: what kind of trading it calls for, on which side, how sure it is
    (0..1), and optional price levels."""

    type: str
    side: str
    confidence: Decimal
    entry: Decimal | None = None
    stop: Decimal | None = None
    take_profit: Decimal | None = None
    lower: Decimal | None = None
    upper: Decimal | None = None


def _positive(value: Decimal | None, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int) or not Decimal(value).is_finite() or value <= 0:
        raise ApplicationError(f"{where.split('.')[-1]} must be a positive number, got {value!r}.", field=where)
    return Decimal(value)


def _venue(
    exchange: str, symbol: str, *, paper: bool, exchange_field: str, symbol_field: str, perp: bool = False
) -> Venue:
    if (exchange or "").strip().lower() == PAPER_EXCHANGE and not paper:
        raise ApplicationError("The paper exchange trades in paper mode only.", field=exchange_field)
    if perp:
        connector = perp_connector_name(exchange, paper=paper, field=exchange_field)
        _, quote = split_perp_symbol(symbol, field=symbol_field)
        return Venue(connector, market_name(symbol, field=symbol_field), quote, exchange_field, symbol_field)
    connector = connector_name(exchange, paper=paper, field=exchange_field)
    _, quote = split_symbol(symbol, field=symbol_field)
    market = market_name(symbol, field=symbol_field)
    return Venue(connector, market, quote, exchange_field, symbol_field, dex=gateway_dex(exchange))


def _check_gateway(inp: ConvertInput, target: str) -> None:
    """A Gateway DEX leg only in a target that takes one, and beside a CEX leg: two Gateway legs
    would be one connector (Hummingbot starts one per name) asked for two markets."""
    legs = [
        (where, ex)
        for where, ex in (("exchange", inp.exchange), ("second_exchange", inp.second_exchange))
        if gateway_dex(ex)
    ]
    if not legs:
        return
    where, exchange = legs[0]
    if target not in GATEWAY_TARGETS:
        raise ApplicationError(
            f"{exchange} is a DEX traded through Hummingbot Gateway, and Hummingbot's {target} takes no Gateway "
            f"connector: a DEX leg can run as {', '.join(sorted(GATEWAY_TARGETS))} (arbitrage against a CEX), or "
            "with native execution.",
            field=where,
            code="unsupported",
        )
    if len(legs) > 1:
        raise ApplicationError(
            f"Both legs of {target} are Gateway DEXs; pair the DEX with a CEX.", field="second_exchange"
        )


def _slug(name: str, venue: Venue) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", (name or "").lower()).strip("_-")[:64]
    return slug or f"{venue.connector}_{venue.market}".lower().replace("-", "_")


def _job(inp: ConvertInput, target: str | None) -> tuple[Job, str]:
    if not isinstance(inp.strategy, str):
        raise ApplicationError("strategy must be a registry key.", field="strategy")
    spec = registry.get(inp.strategy)
    allowed = SUPPORTED.get(inp.strategy)
    if allowed is None:
        raise ApplicationError(
            f"Hummingbot has no equivalent of {spec.label} ({inp.strategy}); Hummingbot configs can be made for "
            f"{', '.join(sorted(SUPPORTED))}. Run this bot with native execution.",
            field="strategy",
            code="unsupported",
        )
    target = target or allowed[0]
    if target not in TARGETS:
        raise ApplicationError(f"Unknown Hummingbot target {target!r}; targets: {', '.join(TARGETS)}.", field="target")
    if target not in allowed:
        raise ApplicationError(
            f"{inp.strategy} cannot run as {target}; it can run as {', '.join(allowed)}.",
            field="target",
            code="unsupported",
        )
    perp = inp.market_type == "perp"
    if inp.market_type not in ("spot", "perp"):
        raise ApplicationError("market_type is spot or perp.", field="market_type")
    if perp and target not in PERP_TARGETS:
        raise ApplicationError(
            f"Hummingbot's {target} trades spot connectors only; a perpetual bot can run as "
            f"{', '.join(sorted(PERP_TARGETS))}, or with native execution.",
            field="target",
            code="unsupported",
        )
    if perp and inp.margin_mode != "isolated":
        # grid_strike's config has no margin mode: the connector trades in whatever mode the
        # exchange account is in, so the bot must not claim one the config cannot carry.
        raise ApplicationError(
            "Hummingbot's grid_strike config carries no margin mode: set the bot to isolated, and the "
            "exchange account to isolated margin for this pair, so both agree.",
            field="margin_mode",
        )
    _check_gateway(inp, target)
    params = registry.validate_params(inp.strategy, dict(inp.params))
    limits = inp.limits or Limits()
    check_limits(limits)
    venue = _venue(
        inp.exchange, inp.symbol, paper=inp.paper, exchange_field="exchange", symbol_field="symbol", perp=perp
    )
    check_symbol_allowed(limits, inp.symbol)
    second = None
    if target in TWO_VENUES:
        if not inp.second_exchange:
            raise ApplicationError(
                f"{target} trades on two venues: give second_exchange (and second_symbol if its pair differs).",
                field="second_exchange",
            )
        symbol_field = "second_symbol" if inp.second_symbol else "symbol"
        second_symbol = inp.second_symbol or inp.symbol
        second = _venue(
            inp.second_exchange,
            second_symbol,
            paper=inp.paper,
            exchange_field="second_exchange",
            symbol_field=symbol_field,
        )
        check_symbol_allowed(limits, second_symbol)
        if (second.connector, second.market) == (venue.connector, venue.market):
            raise ApplicationError(
                f"Both legs of {target} would trade {venue.market} on {venue.connector}; pick another venue.",
                field="second_exchange",
            )
    elif inp.second_exchange or inp.second_symbol:
        raise ApplicationError(
            f"{target} trades on one venue; a second exchange or symbol has no place in it.",
            field="second_exchange" if inp.second_exchange else "second_symbol",
        )
    job = Job(
        params=params,
        venue=venue,
        limits=limits,
        paper=inp.paper,
        slug=_slug(inp.name, venue),
        reference_price=_positive(inp.reference_price, "reference_price"),
        capital=_positive(inp.capital, "capital"),
        second=second,
        overrides=dict(inp.overrides or {}),
        leverage=Decimal(inp.leverage) if perp else Decimal(1),
        perp=perp,
    )
    return job, target


def convert(inp: ConvertInput, target: str | None = None) -> HummingbotConfig:
    """The Hummingbot config for a bot: `target` names the Hummingbot strategy (default: the
    first of SUPPORTED[inp.strategy])."""
    job, target = _job(inp, target)
    if target == "grid_strike":
        p = job.params
        return targets.grid_strike(
            job, Grid(p["lower_price"], p["upper_price"], p["levels"], p["order_amount"], p["spacing"])
        )
    build = {
        "pure_market_making": targets.pure_market_making,
        "avellaneda_market_making": targets.avellaneda_market_making,
        "cross_exchange_market_making": targets.cross_exchange_market_making,
        "amm_arb": targets.amm_arb,
    }[target]
    return build(job)


def _check_signal(signal: Signal, order_amount: Decimal) -> None:
    if signal.type not in SIGNAL_TYPES:
        raise ApplicationError(f"Signal type must be one of {', '.join(SIGNAL_TYPES)}.", field="signal.type")
    if signal.side not in SIDES:
        raise ApplicationError(f"Signal side must be one of {', '.join(SIDES)}.", field="signal.side")
    c = signal.confidence
    if isinstance(c, bool) or not isinstance(c, Decimal | int) or not Decimal(c).is_finite() or not 0 <= c <= 1:
        raise ApplicationError("Signal confidence must be a number from 0 to 1.", field="signal.confidence")
    for name in PRICE_LEVELS:
        _positive(getattr(signal, name), f"signal.{name}")
    _positive(order_amount, "order_amount")


def _in_bounds(strategy: str, param: str, value: Decimal, where: str) -> Decimal:
    """A value derived from a signal, inside the bounds our strategy accepts for that param."""
    p = registry.get(strategy).param(param)
    if (p.minimum is not None and value < p.minimum) or (p.maximum is not None and value > p.maximum):
        raise ApplicationError(
            f"The signal gives {param} {plain(value)}%, outside {plain(p.minimum)} to {plain(p.maximum)}.", field=where
        )
    return value


def _market_making_params(signal: Signal, ref: Decimal | None, order_amount: Decimal) -> dict[str, Any]:
    if (signal.lower is None) != (signal.upper is None):
        missing = "lower" if signal.lower is None else "upper"
        raise ApplicationError("Give both lower and upper, or neither.", field=f"signal.{missing}")
    if signal.lower is not None and signal.upper is not None:
        if ref is None:
            raise ApplicationError("Spreads from lower and upper need the entry (mid) price.", field="signal.entry")
        if not signal.lower < ref:
            raise ApplicationError(f"lower must be below the entry price {plain(ref)}.", field="signal.lower")
        if not signal.upper > ref:
            raise ApplicationError(f"upper must be above the entry price {plain(ref)}.", field="signal.upper")
        bid = _in_bounds(
            "pure_market_making", "bid_spread", round8((ref - signal.lower) / ref * HUNDRED), "signal.lower"
        )
        ask = _in_bounds(
            "pure_market_making", "ask_spread", round8((signal.upper - ref) / ref * HUNDRED), "signal.upper"
        )
    else:
        bid = ask = SIGNAL_WIDE_SPREAD - (SIGNAL_WIDE_SPREAD - SIGNAL_TIGHT_SPREAD) * Decimal(signal.confidence)
    lean = {"buy": 1, "sell": -1, "both": 0}[signal.side] * SIGNAL_INVENTORY_LEAN * Decimal(signal.confidence)
    return {
        "bid_spread": bid,
        "ask_spread": ask,
        "order_amount": order_amount,
        "inventory_skew_enabled": True,
        "inventory_target_base_pct": Decimal(50) + lean,
    }


def convert_signal(
    signal: Signal,
    *,
    symbol: str,
    exchange: str,
    paper: bool,
    limits: Limits | None,
    order_amount: Decimal,
    reference_price: Decimal | None = None,
    capital: Decimal | None = None,
    second_exchange: str | None = None,
    second_symbol: str | None = None,
    levels: int = 10,
    name: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> HummingbotConfig:
    """The Hummingbot config that trades a signal: market_making -> pure_market_making, grid ->
    the grid_strike controller between lower and upper, arbitrage -> cross_exchange_market_making
    against `second_exchange`. Directional signals are refused (docs/hummingbot.md)."""
    _check_signal(signal, order_amount)
    ref = signal.entry or reference_price
    common = {
        "symbol": symbol,
        "exchange": exchange,
        "paper": paper,
        "limits": limits,
        "overrides": dict(overrides or {}),
        "reference_price": ref,
        "capital": capital,
        "name": name,
    }
    if signal.type == "directional":
        raise ApplicationError(
            "Hummingbot has no strategy that trades an outside directional signal (its directional controllers "
            "compute their own); run directional signals natively. Signal types Hummingbot can take: "
            "market_making, grid, arbitrage.",
            field="signal.type",
            code="unsupported",
        )
    if signal.type == "market_making":
        params = _market_making_params(signal, ref, order_amount)
        return convert(ConvertInput("pure_market_making", params, **common), "pure_market_making")
    if signal.type == "arbitrage":
        if signal.side != "both":
            raise ApplicationError("An arbitrage signal trades both sides; side must be both.", field="signal.side")
        min_profit = registry.get("arbitrage").param("min_profit_pct").default
        if signal.entry is not None and signal.take_profit is not None:
            edge = round8(abs(signal.take_profit - signal.entry) / signal.entry * HUNDRED)
            min_profit = _in_bounds("arbitrage", "min_profit_pct", edge, "signal.take_profit")
        params = {"min_profit_pct": min_profit, "order_amount": order_amount}
        inp = ConvertInput("arbitrage", params, second_exchange=second_exchange, second_symbol=second_symbol, **common)
        return convert(inp, "cross_exchange_market_making")
    for bound in ("lower", "upper"):
        if getattr(signal, bound) is None:
            raise ApplicationError(f"A grid signal needs {bound}.", field=f"signal.{bound}")
    assert signal.lower is not None and signal.upper is not None
    if signal.lower >= signal.upper:
        raise ApplicationError("upper must be above lower.", field="signal.upper")
    if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= 200:
        raise ApplicationError("A grid needs between 2 and 200 levels.", field="levels")
    params = {"lower_price": signal.lower, "upper_price": signal.upper, "levels": levels, "order_amount": order_amount}
    job, _ = _job(ConvertInput("grid", params, **common), "grid_strike")
    grid = Grid(
        signal.lower,
        signal.upper,
        levels,
        Decimal(order_amount),
        side=SELL if signal.side == "sell" else BUY,
        stop=signal.stop,
        names={
            "lower": "signal.lower",
            "upper": "signal.upper",
            "levels": "levels",
            "order_amount": "order_amount",
            "spacing": "signal.type",
            "side": "signal.side",
            "stop": "signal.stop" if signal.stop is not None else "limits.default_stop_loss_pct",
        },
    )
    return targets.grid_strike(job, grid)
