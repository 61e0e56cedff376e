"""The keys of each Hummingbot config we write, in Hummingbot's own order, with its defaults and
the ranges Hummingbot itself accepts.

Facts from hummingbot 20260922 (PyPI sdist; the controller and script from the GitHub tree of
the same season):
- pure_market_making and amm_arb are "legacy" strategies: their files follow
  `hummingbot/templates/conf_<strategy>_strategy_TEMPLATE.yml` (template_version 24 and 6) and a
  file with an older template_version is rewritten by Hummingbot on import;
- avellaneda_market_making and cross_exchange_market_making have no template: the file is the
  field list of their pydantic config class (`*_config_map_pydantic.py`), which forbids unknown
  keys. A "mode" field is a nested mapping whose keys pick one of a few sub-models;
- grid_strike is a V2 controller (`controllers/generic/grid_strike.py`, class GridStrikeConfig)
  loaded by the `v2_with_controllers.py` script, whose own config lives in conf/scripts.
Enums in controller files are written as their values, as Hummingbot's own CLI writes them
(TradeType BUY = 1, SELL = 2; OrderType MARKET = 1, LIMIT_MAKER = 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

D = Decimal

# Hummingbot's enum values, as they appear in controller files.
BUY, SELL = 1, 2
MARKET, LIMIT_MAKER = 1, 3


@dataclass(frozen=True)
class Key:
    """One config key: its kind (how overrides are coerced and values checked), its default and
    the range Hummingbot accepts, written like an interval: "(0,100)" excludes both ends, "[0,)"
    is at least 0. `off` is a value outside the range that switches the feature off (-1)."""

    name: str
    kind: str  # fixed | str | bool | int | decimal | mode | list | json
    default: Any = None
    rng: str = ""
    choices: tuple = ()
    off: Any = None
    modes: tuple[Mode, ...] = ()

    def bounds(self) -> tuple[Decimal | None, bool, Decimal | None, bool]:
        """(low, low included, high, high included)."""
        if not self.rng:
            return None, True, None, True
        low, high = self.rng[1:-1].split(",")
        return (
            D(low) if low else None,
            self.rng[0] == "[",
            D(high) if high else None,
            self.rng[-1] == "]",
        )


@dataclass(frozen=True)
class Mode:
    """One sub-model of a mode key: its title (what /config and the prompt call it) and keys."""

    title: str
    keys: tuple[Key, ...] = ()


def fixed(name: str, value: Any) -> Key:
    return Key(name, "fixed", value)


PURE_MARKET_MAKING = (
    fixed("template_version", 24),
    fixed("strategy", "pure_market_making"),
    Key("exchange", "str"),
    Key("market", "str"),
    Key("bid_spread", "decimal", rng="(0,100)"),
    Key("ask_spread", "decimal", rng="(0,100)"),
    Key("minimum_spread", "decimal", D(-100), "[-100,100]"),
    Key("order_refresh_time", "decimal", rng="[1,)"),
    Key("max_order_age", "decimal", D(1800), "(0,)"),
    Key("order_refresh_tolerance_pct", "decimal", D(0), "[-10,10]"),
    Key("order_amount", "decimal", rng="(0,)"),
    Key("price_ceiling", "decimal", D(-1), "(0,)", off=D(-1)),
    Key("price_floor", "decimal", D(-1), "(0,)", off=D(-1)),
    Key("moving_price_band_enabled", "bool", False),
    Key("price_ceiling_pct", "decimal", D(1)),
    Key("price_floor_pct", "decimal", D(-1)),
    Key("price_band_refresh_time", "decimal", D(86400), "(0,)"),
    Key("ping_pong_enabled", "bool", False),
    Key("inventory_skew_enabled", "bool", False),
    Key("inventory_target_base_pct", "decimal", D(50), "[0,100]"),
    Key("inventory_range_multiplier", "decimal", D(1), "(0,)"),
    Key("inventory_price", "decimal", D(1), "[0,)"),
    Key("order_levels", "int", 1, "[1,)"),
    Key("order_level_amount", "decimal", D(0)),
    Key("order_level_spread", "decimal", D(1), "(0,100)"),
    Key("filled_order_delay", "decimal", D(60), "(0,)"),
    Key("hanging_orders_enabled", "bool", False),
    Key("hanging_orders_cancel_pct", "decimal", D(10), "(0,100)"),
    Key("order_optimization_enabled", "bool", False),
    Key("ask_order_optimization_depth", "decimal", D(0), "[0,)"),
    Key("bid_order_optimization_depth", "decimal", D(0), "[0,)"),
    Key("add_transaction_costs", "bool", False),
    Key("price_source", "str", "current_market", choices=("current_market", "external_market", "custom_api")),
    Key(
        "price_type",
        "str",
        "mid_price",
        choices=("mid_price", "last_price", "last_own_trade_price", "best_bid", "best_ask", "inventory_cost", "custom"),
    ),
    Key("price_source_exchange", "str"),
    Key("price_source_market", "str"),
    Key("price_source_custom_api", "str"),
    Key("custom_api_update_interval", "decimal", D(5), "[0.5,)"),
    Key("take_if_crossed", "bool"),
    Key("order_override", "json"),
    Key("split_order_levels_enabled", "bool", False),
    Key("bid_order_level_spreads", "json"),
    Key("ask_order_level_spreads", "json"),
    Key("bid_order_level_amounts", "json"),
    Key("ask_order_level_amounts", "json"),
    Key("should_wait_order_cancel_confirmation", "bool", True),
)

AMM_ARB = (
    fixed("template_version", 6),
    fixed("strategy", "amm_arb"),
    Key("connector_1", "str"),
    Key("market_1", "str"),
    Key("connector_2", "str"),
    Key("market_2", "str"),
    Key("order_amount", "decimal", rng="(0,)"),
    Key("min_profitability", "decimal", D(1), "[-100,100]"),
    Key("market_1_slippage_buffer", "decimal", D(0), "[0,100)"),
    Key("market_2_slippage_buffer", "decimal", D(0), "[0,100)"),
    Key("concurrent_orders_submission", "bool", False),
    Key("rate_oracle_enabled", "bool", True),
    Key("quote_conversion_rate", "decimal", D(1), "(0,)"),
    Key("gas_token", "str", "ETH"),
    Key("gas_price", "decimal", D(2000), "[0,)"),
)

AVELLANEDA_MARKET_MAKING = (
    fixed("strategy", "avellaneda_market_making"),
    Key("exchange", "str"),
    Key("market", "str"),
    Key(
        "execution_timeframe_mode",
        "mode",
        modes=(
            Mode("infinite"),
            Mode("from_date_to_date", (Key("start_datetime", "str"), Key("end_datetime", "str"))),
            Mode("daily_between_times", (Key("start_time", "str"), Key("end_time", "str"))),
        ),
    ),
    Key("order_amount", "decimal", rng="(0,)"),
    Key("order_optimization_enabled", "bool", True),
    Key("risk_factor", "decimal", D(1), "(0,)"),
    Key("order_amount_shape_factor", "decimal", D(0), "[0,1]"),
    Key("min_spread", "decimal", D(0), "[0,)"),
    Key("order_refresh_time", "decimal", rng="[1,)"),
    Key("max_order_age", "decimal", D(1800), "(0,)"),
    Key("order_refresh_tolerance_pct", "decimal", D(0), "[-10,10]"),
    Key("filled_order_delay", "decimal", D(60), "(0,)"),
    Key("inventory_target_base_pct", "decimal", D(50), "[0,100]"),
    Key("add_transaction_costs", "bool", False),
    Key("volatility_buffer_size", "int", 200, "[1,10000]"),
    Key("trading_intensity_buffer_size", "int", 200, "[1,10000]"),
    Key(
        "order_levels_mode",
        "mode",
        modes=(
            Mode("single_order_level"),
            Mode(
                "multi_order_level",
                (Key("order_levels", "int", 2, "[2,)"), Key("level_distances", "decimal", D(0), "[0,)")),
            ),
        ),
    ),
    Key("order_override", "json"),
    Key(
        "hanging_orders_mode",
        "mode",
        modes=(
            Mode("ignore_hanging_orders"),
            Mode("track_hanging_orders", (Key("hanging_orders_cancel_pct", "decimal", D(10), "(0,100)"),)),
        ),
    ),
    Key("should_wait_order_cancel_confirmation", "bool", True),
)

CROSS_EXCHANGE_MARKET_MAKING = (
    fixed("strategy", "cross_exchange_market_making"),
    Key("maker_market", "str"),
    Key("taker_market", "str"),
    Key("maker_market_trading_pair", "str"),
    Key("taker_market_trading_pair", "str"),
    Key("min_profitability", "decimal", rng="[-100,100]"),
    Key("order_amount", "decimal", rng="(0,)"),
    Key("adjust_order_enabled", "bool", True),
    Key(
        "order_refresh_mode",
        "mode",
        modes=(
            Mode("active_order_refresh"),
            Mode(
                "passive_order_refresh",
                (
                    Key("cancel_order_threshold", "decimal", D(5), "(-100,100)"),
                    Key("limit_order_min_expiration", "decimal", D(130), "(0,)"),
                ),
            ),
        ),
    ),
    Key("top_depth_tolerance", "decimal", D(0), "[0,)"),
    Key("anti_hysteresis_duration", "decimal", D(60), "(0,)"),
    Key("order_size_taker_volume_factor", "decimal", D(25), "[0,100]"),
    Key("order_size_taker_balance_factor", "decimal", D("99.5"), "[0,100]"),
    Key("order_size_portfolio_ratio_limit", "decimal", D("16.67"), "[0,100]"),
    Key(
        "conversion_rate_mode",
        "mode",
        modes=(
            Mode("rate_oracle_conversion_rate"),
            Mode(
                "fixed_conversion_rate",
                (
                    Key("taker_to_maker_base_conversion_rate", "decimal", D(1), "(0,)"),
                    Key("taker_to_maker_quote_conversion_rate", "decimal", D(1), "(0,)"),
                    Key("gas_to_maker_base_conversion_rate", "decimal", D(1), "(0,)"),
                ),
            ),
        ),
    ),
    Key("slippage_buffer", "decimal", D(5), "[0,100]"),
)

TRIPLE_BARRIER_DEFAULT = {
    "stop_loss": None,
    "take_profit": D("0.001"),
    "time_limit": None,
    "trailing_stop": None,
    "open_order_type": LIMIT_MAKER,
    "take_profit_order_type": LIMIT_MAKER,
    "stop_loss_order_type": MARKET,
    "time_limit_order_type": MARKET,
}

GRID_STRIKE = (
    Key("id", "str"),
    fixed("controller_name", "grid_strike"),
    fixed("controller_type", "generic"),
    Key("total_amount_quote", "decimal", D(1000), "(0,)"),
    Key("manual_kill_switch", "bool", False),
    Key("initial_positions", "list", ()),
    Key("leverage", "int", 20, "[1,)"),
    Key("position_mode", "str", "HEDGE", choices=("HEDGE", "ONEWAY")),
    Key("connector_name", "str"),
    Key("trading_pair", "str"),
    Key("side", "int", BUY, choices=(BUY, SELL)),
    Key("start_price", "decimal", rng="(0,)"),
    Key("end_price", "decimal", rng="(0,)"),
    Key("limit_price", "decimal", D(0), "(0,)", off=D(0)),
    Key("min_spread_between_orders", "decimal", D("0.001"), "(0,)"),
    Key("min_order_amount_quote", "decimal", D(5), "(0,)"),
    Key("max_open_orders", "int", 2, "[1,)"),
    Key("max_orders_per_batch", "int", 1, "[1,)"),
    Key("order_frequency", "int", 3, "[0,)"),
    Key("activation_bounds", "decimal", None, "(0,)"),
    Key("keep_position", "bool", False),
    Key("triple_barrier_config", "json", TRIPLE_BARRIER_DEFAULT),
)

V2_WITH_CONTROLLERS = (
    fixed("script_file_name", "v2_with_controllers.py"),
    Key("controllers_config", "list", ()),
    Key("max_global_drawdown_quote", "decimal", None, "(0,)"),
    Key("max_controller_drawdown_quote", "decimal", None, "(0,)"),
)

SCHEMAS: dict[str, tuple[Key, ...]] = {
    "pure_market_making": PURE_MARKET_MAKING,
    "avellaneda_market_making": AVELLANEDA_MARKET_MAKING,
    "cross_exchange_market_making": CROSS_EXCHANGE_MARKET_MAKING,
    "amm_arb": AMM_ARB,
    "grid_strike": GRID_STRIKE,
    "v2_with_controllers": V2_WITH_CONTROLLERS,
}
