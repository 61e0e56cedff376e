"""One builder per Hummingbot target: the bot's typed params, venue and limits in, a checked
`HummingbotConfig` out. docs/hummingbot.md ("Strategy configs") has the mapping tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from core.errors import ApplicationError
from hummingbot.converter import limits as risk
from hummingbot.converter.build import Builder, check
from hummingbot.converter.config import CONTROLLERS_FOLDER, SCRIPTS_FOLDER, V1_FOLDER, HummingbotConfig, plain
from hummingbot.converter.limits import HUNDRED, floor8, round8
from hummingbot.converter.schema import (
    AMM_ARB,
    AVELLANEDA_MARKET_MAKING,
    BUY,
    CROSS_EXCHANGE_MARKET_MAKING,
    GRID_STRIKE,
    PURE_MARKET_MAKING,
    TRIPLE_BARRIER_DEFAULT,
    V2_WITH_CONTROLLERS,
)
from hummingbot.converter.venues import GatewayDex
from risk.engine import Limits

GRID_DEFAULT_BAND = Decimal("0.1")  # a grid bound of 0 is 10% around the price, as in strategies.builtin.grid
GRID_MIN_ORDER_SHARE = Decimal("0.9")  # Hummingbot adds 5% to the minimum order; 0.9 keeps every level
GATEWAY_SLIPPAGE_BUFFER = Decimal(1)  # %, amm_arb_config_map's own default for a Gateway leg


@dataclass(frozen=True)
class Venue:
    connector: str
    market: str
    quote: str
    exchange_field: str = "exchange"
    symbol_field: str = "symbol"
    dex: GatewayDex | None = None  # set on a Gateway DEX leg


@dataclass(frozen=True)
class Job:
    """Everything a builder needs, already checked and mapped to Hummingbot names."""

    params: Mapping[str, Any]
    venue: Venue
    limits: Limits
    paper: bool
    slug: str
    reference_price: Decimal | None = None
    capital: Decimal | None = None
    second: Venue | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    leverage: Decimal = Decimal(1)
    perp: bool = False


def _get(b: Builder, name: str) -> Any:
    """A value the builder goes on to compute with, checked first (it may be an override)."""
    check(b.keys[name], b.values[name], b.field(name))
    return b.values[name]


def _finish(
    b: Builder, job: Job, *, strategy: str, file_name: str, folder: str, venues: list[Venue]
) -> HummingbotConfig:
    values, modes, sources = b.finish()
    return HummingbotConfig(
        strategy=strategy,
        file_name=file_name,
        folder=folder,
        values=values,
        modes=modes,
        sources=sources,
        client=risk.client_overrides(job.limits, job.capital),
        balance_limits=risk.balance_limits([(v.connector, v.quote) for v in venues], job.limits, paper=job.paper),
    )


def _order_amount(b: Builder, job: Job, amount: Decimal, *, extra: Decimal = Decimal(0)) -> None:
    amount, capped = risk.cap_order_amount(amount, extra=extra, limits=job.limits, reference_price=job.reference_price)
    b.set("order_amount", amount, "limits.max_order_notional" if capped else "params.order_amount")


def _venue_keys(b: Builder, job: Job, connector_key: str, market_key: str) -> None:
    b.set(connector_key, job.venue.connector, job.venue.exchange_field)
    b.set(market_key, job.venue.market, job.venue.symbol_field)


def _open_orders(job: Job, *, levels: int, levels_field: str, hanging: str | None, what: str) -> None:
    """max_open_orders must cover a bid and an ask per level; hanging orders (named by the input
    that switched them on) would pile up beside them, so they are refused under that limit."""
    if hanging and job.limits.max_open_orders is not None:
        raise ApplicationError(
            "Hanging orders stay open beside new quotes, so max_open_orders could not hold; turn them off.",
            field=hanging,
        )
    where = levels_field if levels > 1 else "limits.max_open_orders"
    risk.check_open_orders(2 * levels, job.limits, field=where, what=what)


def _band_reach(b: Builder, job: Job, *, extra: Decimal, level_field: str) -> None:
    """Quotes further from the price than the price band would all be refused by our risk check."""
    band = job.limits.price_band_pct
    if not band:
        return
    for side in ("bid", "ask"):
        spread = job.params[f"{side}_spread"]
        reach = spread + extra
        if reach > band:
            raise ApplicationError(
                f"{side.capitalize()}s are quoted up to {plain(reach)}% from the price, outside the "
                f"{plain(band)}% price band.",
                field=f"params.{side}_spread" if spread > band else level_field,
            )


def pure_market_making(job: Job) -> HummingbotConfig:
    p, lim = job.params, job.limits
    b = Builder(PURE_MARKET_MAKING, job.overrides)
    _venue_keys(b, job, "exchange", "market")
    b.set("bid_spread", p["bid_spread"], "params.bid_spread")
    b.set("ask_spread", p["ask_spread"], "params.ask_spread")
    refresh = Decimal(p["order_refresh_time"])
    b.set("order_refresh_time", refresh, "params.order_refresh_time")
    b.set("max_order_age", refresh, "params.order_refresh_time")
    b.suggest("filled_order_delay", refresh)
    b.set("inventory_skew_enabled", p["inventory_skew_enabled"], "params.inventory_skew_enabled")
    b.set("inventory_target_base_pct", p["inventory_target_base_pct"], "params.inventory_target_base_pct")
    if _get(b, "split_order_levels_enabled"):
        raise ApplicationError(
            "Split order levels set their own amounts and spreads, which bypasses the checks made here.",
            field="overrides.split_order_levels_enabled",
        )
    levels = _get(b, "order_levels")
    level_amount, level_spread = _get(b, "order_level_amount"), _get(b, "order_level_spread")
    _order_amount(b, job, p["order_amount"], extra=(levels - 1) * max(level_amount, Decimal(0)))
    level_field = b.field("order_level_spread" if "order_level_spread" in b.overridden else "order_levels")
    _band_reach(b, job, extra=(levels - 1) * level_spread, level_field=level_field)
    hanging = b.field("hanging_orders_enabled") if _get(b, "hanging_orders_enabled") else None
    _open_orders(job, levels=levels, levels_field=b.field("order_levels"), hanging=hanging, what="pure_market_making")

    ceiling = (p["price_ceiling"], "params.price_ceiling") if p["price_ceiling"] > 0 else (Decimal(-1), "")
    floor = (p["price_floor"], "params.price_floor") if p["price_floor"] > 0 else (Decimal(-1), "")
    band, ref = lim.price_band_pct, job.reference_price
    if band and ref is not None:
        top, bottom = round8(ref * (1 + band / HUNDRED)), round8(ref * (1 - band / HUNDRED))
        if ceiling[0] < 0 or top < ceiling[0]:
            ceiling = (top, "limits.price_band_pct")
        if bottom > 0 and bottom > floor[0]:
            floor = (bottom, "limits.price_band_pct")
    elif band:
        b.set("moving_price_band_enabled", True, "limits.price_band_pct")
        b.set("price_ceiling_pct", band, "limits.price_band_pct")
        b.set("price_floor_pct", -band, "limits.price_band_pct")
        b.set("price_band_refresh_time", refresh, "limits.price_band_pct")
    b.set("price_ceiling", ceiling[0], ceiling[1] or "params.price_ceiling")
    b.set("price_floor", floor[0], floor[1] or "params.price_floor")
    if ceiling[0] > 0 and floor[0] > 0 and ceiling[0] < floor[0]:
        raise ApplicationError(
            f"price_ceiling {plain(ceiling[0])} is below price_floor {plain(floor[0])}.", field=b.field("price_ceiling")
        )
    if _get(b, "price_source") == "external_market":
        for name in ("price_source_exchange", "price_source_market"):
            if not b.values[name]:
                raise ApplicationError(f"An external_market price source needs {name}.", field=f"overrides.{name}")
    return _finish(
        b,
        job,
        strategy="pure_market_making",
        file_name=f"conf_pure_mm_{job.slug}.yml",
        folder=V1_FOLDER,
        venues=[job.venue],
    )


def avellaneda_market_making(job: Job) -> HummingbotConfig:
    p, lim = job.params, job.limits
    if lim.price_band_pct:
        raise ApplicationError(
            "avellaneda_market_making computes its own spreads and has no price ceiling or floor, so the "
            "bot's price band cannot hold; use pure_market_making or lift the band.",
            field="limits.price_band_pct",
        )
    b = Builder(AVELLANEDA_MARKET_MAKING, job.overrides)
    _venue_keys(b, job, "exchange", "market")
    refresh = Decimal(p["order_refresh_time"])
    b.set("order_refresh_time", refresh, "params.order_refresh_time")
    b.set("max_order_age", refresh, "params.order_refresh_time")
    b.suggest("filled_order_delay", refresh)
    tighter = "bid_spread" if p["bid_spread"] <= p["ask_spread"] else "ask_spread"
    b.set("min_spread", p[tighter], f"params.{tighter}")
    b.set("inventory_target_base_pct", p["inventory_target_base_pct"], "params.inventory_target_base_pct")
    if lim.max_order_notional is not None and _get(b, "order_amount_shape_factor") > 0:
        raise ApplicationError(
            "order_amount_shape_factor grows orders beyond order_amount, so max_order_notional could not hold.",
            field="overrides.order_amount_shape_factor",
        )
    _order_amount(b, job, p["order_amount"])
    levels = b.sub("order_levels_mode", "order_levels") or 1
    hanging = b.field("hanging_orders_mode") if b.modes["hanging_orders_mode"] == "track_hanging_orders" else None
    levels_field = "overrides.order_levels_mode.order_levels"
    _open_orders(job, levels=levels, levels_field=levels_field, hanging=hanging, what="avellaneda_market_making")
    return _finish(
        b,
        job,
        strategy="avellaneda_market_making",
        file_name=f"conf_avellaneda_market_making_{job.slug}.yml",
        folder=V1_FOLDER,
        venues=[job.venue],
    )


def _second(b: Builder, job: Job, connector_key: str, market_key: str) -> Venue:
    second = job.second
    assert second is not None  # convert() refuses two-venue targets without one
    b.set(connector_key, second.connector, second.exchange_field)
    b.set(market_key, second.market, second.symbol_field)
    return second


def cross_exchange_market_making(job: Job) -> HummingbotConfig:
    b = Builder(CROSS_EXCHANGE_MARKET_MAKING, job.overrides)
    _venue_keys(b, job, "maker_market", "maker_market_trading_pair")
    second = _second(b, job, "taker_market", "taker_market_trading_pair")
    b.set("min_profitability", job.params["min_profit_pct"], "params.min_profit_pct")
    _order_amount(b, job, job.params["order_amount"])
    what = "cross_exchange_market_making (a maker bid, a maker ask and a hedge)"
    risk.check_open_orders(3, job.limits, field="limits.max_open_orders", what=what)
    return _finish(
        b,
        job,
        strategy="cross_exchange_market_making",
        file_name=f"conf_xemm_{job.slug}.yml",
        folder=V1_FOLDER,
        venues=[job.venue, second],
    )


def _gateway_leg(b: Builder, job: Job, second: Venue) -> None:
    """Hummingbot's own defaults for a Gateway leg, which a written file would otherwise replace:
    amm_arb_config_map gives a Gateway market a 1% slippage buffer (0 would fail a swap on any
    move). The network fee is paid in the gas token, priced at gas_price (in the quote asset)
    when the rate oracle is off, so gas_price is the reference price on a gas-token pair."""
    dex = job.venue.dex or second.dex
    assert dex is not None
    for venue, key in ((job.venue, "market_1_slippage_buffer"), (second, "market_2_slippage_buffer")):
        if venue.dex is not None:
            b.suggest(key, GATEWAY_SLIPPAGE_BUFFER)
    b.suggest("gas_token", dex.gas_token)
    if job.reference_price is not None and job.venue.market.split("-")[0] == dex.gas_token:
        b.suggest("gas_price", job.reference_price)
    elif not _get(b, "rate_oracle_enabled") and "gas_price" not in b.overridden:
        raise ApplicationError(
            f"With rate_oracle_enabled off, amm_arb prices the {dex.gas_token} network fee at gas_price, in the "
            f"quote asset: give overrides.gas_price, or a reference price of a {dex.gas_token} pair.",
            field="overrides.gas_price",
        )


def amm_arb(job: Job) -> HummingbotConfig:
    b = Builder(AMM_ARB, job.overrides)
    _venue_keys(b, job, "connector_1", "market_1")
    second = _second(b, job, "connector_2", "market_2")
    b.set("min_profitability", job.params["min_profit_pct"], "params.min_profit_pct")
    gateway = job.venue.dex is not None or second.dex is not None
    # Our legs go out together. With a Gateway leg Hummingbot, when not concurrent, swaps first and
    # sends the CEX order once the swap has filled (amm_arb.py, prioritize_evm_exchanges), so a
    # failed or expired swap leaves no one-legged CEX fill.
    b.suggest("concurrent_orders_submission", not gateway)
    if gateway:
        _gateway_leg(b, job, second)
    _order_amount(b, job, job.params["order_amount"])
    risk.check_open_orders(2, job.limits, field="limits.max_open_orders", what="amm_arb (one order per leg)")
    return _finish(
        b,
        job,
        strategy="amm_arb",
        file_name=f"conf_amm_arb_{job.slug}.yml",
        folder=V1_FOLDER,
        venues=[job.venue, second],
    )


@dataclass(frozen=True)
class Grid:
    """A grid in our terms, with the input each value came from (params or a signal)."""

    lower: Decimal
    upper: Decimal
    levels: int
    order_amount: Decimal
    spacing: str = "linear"
    side: int = BUY
    stop: Decimal | None = None
    names: Mapping[str, str] = field(
        default_factory=lambda: {
            "lower": "params.lower_price",
            "upper": "params.upper_price",
            "levels": "params.levels",
            "order_amount": "params.order_amount",
            "spacing": "params.spacing",
            "side": "strategy",
            "stop": "limits.default_stop_loss_pct",
        }
    )


def _grid_bounds(g: Grid, ref: Decimal | None) -> tuple[Decimal, Decimal]:
    if g.spacing != "linear":
        raise ApplicationError(
            f"Hummingbot's grid spaces its levels evenly; {g.spacing} spacing has no equivalent.",
            field=g.names["spacing"],
        )
    lower, upper = g.lower, g.upper
    if lower <= 0 or upper <= 0:
        if ref is None:
            raise ApplicationError(
                "A grid bound of 0 means 10% around the price: give a reference price or both bounds.",
                field=g.names["lower" if lower <= 0 else "upper"],
            )
        lower = lower if lower > 0 else round8(ref * (1 - GRID_DEFAULT_BAND))
        upper = upper if upper > 0 else round8(ref * (1 + GRID_DEFAULT_BAND))
    if lower >= upper:
        raise ApplicationError(
            f"The grid's upper bound {plain(upper)} must be above {plain(lower)}.", field=g.names["upper"]
        )
    if not 2 <= g.levels <= 200:
        raise ApplicationError("A grid needs between 2 and 200 levels.", field=g.names["levels"])
    if g.order_amount <= 0:
        raise ApplicationError("order_amount must be greater than 0.", field=g.names["order_amount"])
    return lower, upper


def _grid_stop(g: Grid, lim: Limits, lower: Decimal, upper: Decimal) -> tuple[Decimal, str]:
    """Hummingbot's limit_price: where the whole grid is stopped out, beyond its losing edge."""
    if g.stop is not None:
        losing_edge_ok = g.stop < lower if g.side == BUY else g.stop > upper
        if not losing_edge_ok:
            where = f"below {plain(lower)}" if g.side == BUY else f"above {plain(upper)}"
            raise ApplicationError(f"The grid's stop must be {where}.", field=g.names["stop"])
        return g.stop, g.names["stop"]
    pct = lim.default_stop_loss_pct
    if not pct:
        return Decimal(0), "limits.default_stop_loss_pct"
    factor = 1 - pct / HUNDRED if g.side == BUY else 1 + pct / HUNDRED
    return round8((lower if g.side == BUY else upper) * factor), "limits.default_stop_loss_pct"


def grid_strike(job: Job, g: Grid) -> HummingbotConfig:
    lim, ref = job.limits, job.reference_price
    lower, upper = _grid_bounds(g, ref)
    b = Builder(GRID_STRIKE, job.overrides)
    b.set("id", job.slug, "name")
    _venue_keys(b, job, "connector_name", "trading_pair")
    if job.perp:
        if job.leverage != job.leverage.to_integral_value():
            raise ApplicationError("Hummingbot takes whole-number leverage.", field="leverage")
        b.set("leverage", int(job.leverage), "leverage")
        b.set("position_mode", "ONEWAY", "market_type")  # one net position per pair, like our bots
    else:
        b.set("leverage", 1, "exchange")
    b.set("side", g.side, g.names["side"])
    b.set("start_price", lower, g.names["lower"])
    b.set("end_price", upper, g.names["upper"])
    b.set("limit_price", *_grid_stop(g, lim, lower, upper))

    # Hummingbot sizes a grid in quote: total_amount_quote split evenly over its levels.
    per_level, source = round8(g.order_amount * (ref or (lower + upper) / 2)), g.names["order_amount"]
    if lim.max_order_notional is not None and per_level > lim.max_order_notional:
        per_level, source = lim.max_order_notional, "limits.max_order_notional"
    total = per_level * g.levels
    if lim.max_position_notional is not None and total > lim.max_position_notional:
        total, source = lim.max_position_notional, "limits.max_position_notional"
        per_level = floor8(total / g.levels)
    b.set("total_amount_quote", total, source)
    b.set("min_order_amount_quote", floor8(per_level * GRID_MIN_ORDER_SHARE), source)

    # Hummingbot derives the level count from the smallest step: range / levels gives exactly ours,
    # and one step between neighbouring levels is the take profit (buy one level, sell the next).
    span = (upper - lower) / lower
    step, take_profit = floor8(span / g.levels), floor8(span / (g.levels - 1))
    if step <= 0:
        raise ApplicationError("The grid's levels are too close together for 8 decimals.", field=g.names["levels"])
    b.set("min_spread_between_orders", step, g.names["levels"])
    b.set("triple_barrier_config", {**TRIPLE_BARRIER_DEFAULT, "take_profit": take_profit}, g.names["levels"])
    open_orders, open_source = g.levels, g.names["levels"]
    if lim.max_open_orders is not None and lim.max_open_orders < open_orders:
        open_orders, open_source = lim.max_open_orders, "limits.max_open_orders"
    if open_orders < 1:
        raise ApplicationError("max_open_orders of 0 leaves the grid no order.", field="limits.max_open_orders")
    b.set("max_open_orders", open_orders, open_source)
    if lim.price_band_pct:
        b.set("activation_bounds", round8(lim.price_band_pct / HUNDRED), "limits.price_band_pct")

    file_name = f"conf_grid_strike_{job.slug}.yml"
    controller = _finish(
        b, job, strategy="grid_strike", file_name=file_name, folder=CONTROLLERS_FOLDER, venues=[job.venue]
    )
    return replace(controller, runner=_runner(job, file_name))


def _runner(job: Job, controller_file: str) -> HummingbotConfig:
    """The v2_with_controllers script config that loads the controller and stops it on a loss."""
    b = Builder(V2_WITH_CONTROLLERS, None)
    b.set("controllers_config", [controller_file], "target")
    loss = risk.drawdown_quote(job.limits, job.capital)
    if loss is not None:
        source = "limits.max_daily_loss" if loss == job.limits.max_daily_loss else "limits.max_drawdown_pct"
        b.set("max_global_drawdown_quote", loss, source)
        b.set("max_controller_drawdown_quote", loss, source)
    values, modes, sources = b.finish()
    return HummingbotConfig(
        strategy="v2_with_controllers",
        file_name=f"conf_v2_with_controllers_{job.slug}.yml",
        folder=SCRIPTS_FOLDER,
        values=values,
        modes=modes,
        sources=sources,
    )
