"""The Hummingbot config converter: exact template keys, connector names, validation that names the
field, refusals, the risk mapping, signals, Decimal rendering and determinism. Pure: no database."""

import os
import subprocess
import sys
from decimal import Decimal as D  # noqa: N817
from pathlib import Path

import pytest
import yaml

from core.errors import ApplicationError
from hummingbot.converter import ConvertInput, Signal, connector_name, convert, convert_signal
from risk.engine import Limits

ROOT = Path(__file__).resolve().parents[2]

# Key lists read from hummingbot 20260922 (the PyPI sdist, `pip download --no-deps hummingbot`).
# hummingbot/templates/conf_pure_market_making_strategy_TEMPLATE.yml (template_version 24):
PMM_KEYS = [
    "template_version", "strategy", "exchange", "market", "bid_spread", "ask_spread", "minimum_spread",
    "order_refresh_time", "max_order_age", "order_refresh_tolerance_pct", "order_amount", "price_ceiling",
    "price_floor", "moving_price_band_enabled", "price_ceiling_pct", "price_floor_pct", "price_band_refresh_time",
    "ping_pong_enabled", "inventory_skew_enabled", "inventory_target_base_pct", "inventory_range_multiplier",
    "inventory_price", "order_levels", "order_level_amount", "order_level_spread", "filled_order_delay",
    "hanging_orders_enabled", "hanging_orders_cancel_pct", "order_optimization_enabled",
    "ask_order_optimization_depth", "bid_order_optimization_depth", "add_transaction_costs", "price_source",
    "price_type", "price_source_exchange", "price_source_market", "price_source_custom_api",
    "custom_api_update_interval", "take_if_crossed", "order_override", "split_order_levels_enabled",
    "bid_order_level_spreads", "ask_order_level_spreads", "bid_order_level_amounts", "ask_order_level_amounts",
    "should_wait_order_cancel_confirmation",
]  # fmt: skip
# hummingbot/templates/conf_amm_arb_strategy_TEMPLATE.yml (template_version 6):
AMM_ARB_KEYS = [
    "template_version", "strategy", "connector_1", "market_1", "connector_2", "market_2", "order_amount",
    "min_profitability", "market_1_slippage_buffer", "market_2_slippage_buffer", "concurrent_orders_submission",
    "rate_oracle_enabled", "quote_conversion_rate", "gas_token", "gas_price",
]  # fmt: skip
# No template in 20260922: the fields of AvellanedaMarketMakingConfigMap
# (hummingbot/strategy/avellaneda_market_making/avellaneda_market_making_config_map_pydantic.py), bases first:
AVELLANEDA_KEYS = [
    "strategy", "exchange", "market", "execution_timeframe_mode", "order_amount", "order_optimization_enabled",
    "risk_factor", "order_amount_shape_factor", "min_spread", "order_refresh_time", "max_order_age",
    "order_refresh_tolerance_pct", "filled_order_delay", "inventory_target_base_pct", "add_transaction_costs",
    "volatility_buffer_size", "trading_intensity_buffer_size", "order_levels_mode", "order_override",
    "hanging_orders_mode", "should_wait_order_cancel_confirmation",
]  # fmt: skip
# CrossExchangeMarketMakingConfigMap (cross_exchange_market_making_config_map_pydantic.py), bases first:
XEMM_KEYS = [
    "strategy", "maker_market", "taker_market", "maker_market_trading_pair", "taker_market_trading_pair",
    "min_profitability", "order_amount", "adjust_order_enabled", "order_refresh_mode", "top_depth_tolerance",
    "anti_hysteresis_duration", "order_size_taker_volume_factor", "order_size_taker_balance_factor",
    "order_size_portfolio_ratio_limit", "conversion_rate_mode", "slippage_buffer",
]  # fmt: skip
# GridStrikeConfig (controllers/generic/grid_strike.py, GitHub tree of 2026-07) over ControllerConfigBase
# (hummingbot/strategy_v2/controllers/controller_base.py in the sdist):
GRID_KEYS = [
    "id", "controller_name", "controller_type", "total_amount_quote", "manual_kill_switch", "initial_positions",
    "leverage", "position_mode", "connector_name", "trading_pair", "side", "start_price", "end_price", "limit_price",
    "min_spread_between_orders", "min_order_amount_quote", "max_open_orders", "max_orders_per_batch",
    "order_frequency", "activation_bounds", "keep_position", "triple_barrier_config",
]  # fmt: skip
# TripleBarrierConfig (hummingbot/strategy_v2/executors/position_executor/data_types.py):
TRIPLE_BARRIER_KEYS = [
    "stop_loss", "take_profit", "time_limit", "trailing_stop", "open_order_type", "take_profit_order_type",
    "stop_loss_order_type", "time_limit_order_type",
]  # fmt: skip
# V2WithControllersConfig (scripts/v2_with_controllers.py) over StrategyV2ConfigBase:
RUNNER_KEYS = ["script_file_name", "controllers_config", "max_global_drawdown_quote", "max_controller_drawdown_quote"]

GRID = {"lower_price": "50000", "upper_price": "60000", "levels": 11, "order_amount": "0.001"}
TARGETS = [
    ("pure_market_making", "pure_market_making", PMM_KEYS),
    ("pure_market_making", "avellaneda_market_making", AVELLANEDA_KEYS),
    ("arbitrage", "cross_exchange_market_making", XEMM_KEYS),
    ("arbitrage", "amm_arb", AMM_ARB_KEYS),
    ("grid", "grid_strike", GRID_KEYS),
]


def bot(strategy="pure_market_making", params=None, **kwargs):
    kwargs.setdefault("symbol", "BTC/USDT")
    kwargs.setdefault("exchange", "binance")
    kwargs.setdefault("paper", False)
    if strategy == "arbitrage":
        kwargs.setdefault("second_exchange", "kucoin")
    if strategy == "grid" and params is None:
        params = GRID
    return ConvertInput(strategy, params or {}, **kwargs)


def refused(field, *args, **kwargs):
    """The ApplicationError raised by convert(*args), checked to name `field`."""
    with pytest.raises(ApplicationError) as caught:
        convert(*args, **kwargs)
    assert caught.value.field == field, caught.value.message
    return caught.value.message


def numbers_as_decimals(value):
    if isinstance(value, dict):
        return {k: numbers_as_decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_decimals(v) for v in value]
    if isinstance(value, int | float | D) and not isinstance(value, bool):
        return D(str(value)).normalize()
    return value


@pytest.mark.parametrize(("strategy", "target", "keys"), TARGETS, ids=[t[1] for t in TARGETS])
def test_each_target_renders_yaml_with_exactly_hummingbots_keys(strategy, target, keys):
    config = convert(bot(strategy, reference_price=D(55000)), target)
    parsed = yaml.safe_load(config.yaml())
    assert list(config.values) == keys
    assert list(parsed) == keys
    assert numbers_as_decimals(parsed) == numbers_as_decimals(config.values)
    assert config.yaml().startswith("# Hummingbot ")
    assert "&id" not in config.yaml()


def test_legacy_templates_carry_their_template_version_and_pydantic_ones_none():
    assert convert(bot()).values["template_version"] == 24
    assert convert(bot("arbitrage")).values["template_version"] == 6
    assert "template_version" not in convert(bot(), "avellaneda_market_making").values


def test_mode_keys_hold_the_sub_keys_of_the_chosen_mode():
    overrides = {"order_levels_mode": {"order_levels": 3}, "hanging_orders_mode": "track_hanging_orders"}
    config = convert(bot(overrides=overrides), "avellaneda_market_making")
    assert config.values["order_levels_mode"] == {"order_levels": 3, "level_distances": D(0)}
    assert config.values["hanging_orders_mode"] == {"hanging_orders_cancel_pct": D(10)}
    assert config.values["execution_timeframe_mode"] == {}
    assert config.modes["order_levels_mode"] == "multi_order_level"
    xemm = convert(
        bot("arbitrage", overrides={"order_refresh_mode": "passive_order_refresh"}), "cross_exchange_market_making"
    )
    assert list(xemm.values["order_refresh_mode"]) == ["cancel_order_threshold", "limit_order_min_expiration"]
    assert xemm.values["conversion_rate_mode"] == {}


def test_the_grid_controller_comes_with_its_runner_script():
    config = convert(bot("grid"))
    assert (config.strategy, config.folder) == ("grid_strike", "controllers")
    assert config.file_name == "conf_grid_strike_binance_btc_usdt.yml" and config.values["id"] == "binance_btc_usdt"
    assert list(config.values["triple_barrier_config"]) == TRIPLE_BARRIER_KEYS
    runner = config.runner
    assert runner.folder == "scripts" and list(yaml.safe_load(runner.yaml())) == RUNNER_KEYS
    assert runner.values["controllers_config"] == [config.file_name]
    assert config.start_fields() == {"script": "v2_with_controllers.py", "conf": runner.file_name}
    assert [(f, n) for f, n, _ in config.files()] == [("controllers", config.file_name), ("scripts", runner.file_name)]
    assert config.import_name is None


@pytest.mark.parametrize(
    ("exchange", "live", "paper"),
    [
        ("binance", "binance", "binance_paper_trade"),
        ("kucoin", "kucoin", "kucoin_paper_trade"),
        ("gate", "gate_io", "gate_io_paper_trade"),
        ("gateio", "gate_io", "gate_io_paper_trade"),
        ("kraken", "kraken", "kraken_paper_trade"),
        ("okx", "okx", None),
        ("bybit", "bybit", None),
        ("coinbase", "coinbase_advanced_trade", None),
    ],
)
def test_connector_names_live_and_paper(exchange, live, paper):
    assert connector_name(exchange, paper=False) == live
    if paper:
        assert connector_name(exchange, paper=True) == paper
    else:
        with pytest.raises(ApplicationError, match="paper-trades only on") as caught:
            connector_name(exchange, paper=True)
        assert caught.value.field == "exchange"


def test_paper_bots_use_paper_connectors_and_markets_are_dashed():
    config = convert(bot(paper=True, symbol="eth/usdt"))
    assert (config.values["exchange"], config.values["market"]) == ("binance_paper_trade", "ETH-USDT")
    assert convert(bot(exchange="paper", paper=True)).values["exchange"] == "binance_paper_trade"
    assert convert(bot("arbitrage", paper=True)).values["connector_2"] == "kucoin_paper_trade"
    refused("exchange", bot(exchange="paper", paper=False))


def test_unsupported_exchanges_and_symbols_name_the_field():
    assert "no connector mapped for exchange 'deribit'" in refused("exchange", bot(exchange="deribit"))
    refused("second_exchange", bot("arbitrage", second_exchange="deribit"))
    refused("symbol", bot(symbol="BTC/USDT:USDT"))
    refused("second_symbol", bot("arbitrage", second_symbol="BTCUSDT"))


@pytest.mark.parametrize("key", ["macd_trend", "rsi_bb_atr", "momentum_reentry"])
def test_strategies_without_a_hummingbot_equivalent_are_refused(key):
    message = refused("strategy", bot(key))
    assert "no equivalent" in message and "arbitrage, grid, pure_market_making" in message


def test_targets_and_venue_combinations_are_checked():
    assert "it can run as grid_strike" in refused("target", bot("grid"), "pure_market_making")
    refused("target", bot(), "perpetual_market_making")
    assert "two venues" in refused("second_exchange", bot("arbitrage", second_exchange=None))
    refused("second_exchange", bot("arbitrage", second_exchange=None), "cross_exchange_market_making")
    refused("second_exchange", bot("arbitrage", second_exchange="binance"))
    refused("second_exchange", bot(second_exchange="kucoin"))
    pair = convert(bot("arbitrage", second_exchange="binance", second_symbol="BTC/USDC"))
    assert (pair.values["market_1"], pair.values["market_2"]) == ("BTC-USDT", "BTC-USDC")


def test_defaults_by_strategy_key():
    assert convert(bot()).strategy == "pure_market_making"
    assert convert(bot("arbitrage")).strategy == "amm_arb"
    assert convert(bot("grid")).strategy == "grid_strike"


def test_validation_errors_name_the_field():
    refused("params.bid_spread", bot(params={"bid_spread": "0"}))
    refused("params.order_refresh_time", bot(params={"order_refresh_time": 0}))
    refused("params.order_amount", bot(params={"order_amount": "-1"}))
    assert "at least 1" in refused("overrides.order_levels", bot(overrides={"order_levels": 0}))
    assert "less than 100" in refused("overrides.order_level_spread", bot(overrides={"order_level_spread": 100}))
    refused("overrides.inventory_range_multiplier", bot(overrides={"inventory_range_multiplier": "0"}))
    refused("overrides.ping_pong_enabled", bot(overrides={"ping_pong_enabled": "maybe"}))
    refused("overrides.risk_factor", bot(overrides={"risk_factor": 0}), "avellaneda_market_making")
    refused(
        "overrides.order_levels_mode.order_levels",
        bot(overrides={"order_levels_mode": {"order_levels": 1}}),
        "avellaneda_market_making",
    )
    refused(
        "overrides.slippage_buffer",
        bot("arbitrage", overrides={"slippage_buffer": 101}),
        "cross_exchange_market_making",
    )
    refused("reference_price", bot(reference_price=D(-1)))
    refused("limits.max_order_notional", bot(limits=Limits(max_order_notional=D(-5))))


def test_overrides_are_for_hummingbot_only_keys():
    assert "not a key" in refused("overrides.bid_sprd", bot(overrides={"bid_sprd": 1}))
    assert "comes from params.bid_spread" in refused("overrides.bid_spread", bot(overrides={"bid_spread": "1"}))
    refused("overrides.order_override", bot(overrides={"order_override": {"o1": ["buy", 1, 1]}}))
    refused("overrides.split_order_levels_enabled", bot(overrides={"split_order_levels_enabled": True}))
    refused("overrides.strategy", bot(overrides={"strategy": "x"}))
    config = convert(bot(overrides={"order_levels": 2, "order_level_spread": "0.5", "ping_pong_enabled": "yes"}))
    assert (config.values["order_levels"], config.values["order_level_spread"]) == (2, D("0.5"))
    assert config.values["ping_pong_enabled"] is True


def test_grid_parameters_hummingbot_cannot_run_are_refused():
    refused("params.upper_price", bot("grid", {**GRID, "upper_price": "50000"}))
    refused("params.spacing", bot("grid", {**GRID, "spacing": "fibonacci"}))
    refused("params.lower_price", bot("grid", {**GRID, "lower_price": "0"}))
    auto = convert(bot("grid", {**GRID, "lower_price": "0", "upper_price": "0"}, reference_price=D(60000)))
    assert (auto.values["start_price"], auto.values["end_price"]) == (D(54000), D(66000))


def test_order_amount_is_capped_to_max_order_notional_at_the_reference_price():
    limits = Limits(max_order_notional=D(300))
    config = convert(bot(params={"order_amount": "0.01"}, limits=limits, reference_price=D(60000)))
    assert config.values["order_amount"] == D("0.005")
    assert config.sources["order_amount"] == "limits.max_order_notional"
    small = convert(bot(params={"order_amount": "0.001"}, limits=limits, reference_price=D(60000)))
    assert small.values["order_amount"] == D("0.001")
    ladder = convert(
        bot(
            params={"order_amount": "0.01"},
            limits=limits,
            reference_price=D(60000),
            overrides={"order_levels": 3, "order_level_amount": "0.001"},
        )
    )
    assert (ladder.values["order_amount"] + 2 * D("0.001")) * 60000 <= 300
    assert "reference price" in refused("reference_price", bot(limits=limits))
    refused("limits.max_order_notional", bot(limits=Limits(max_order_notional=D("0.0001")), reference_price=D(60000)))


def test_price_ceiling_and_floor_come_from_the_band_around_the_reference_price():
    config = convert(bot(limits=Limits(price_band_pct=D(2)), reference_price=D(60000)))
    assert (config.values["price_ceiling"], config.values["price_floor"]) == (D(61200), D(58800))
    assert config.values["moving_price_band_enabled"] is False
    tighter = convert(
        bot(params={"price_ceiling": "61000"}, limits=Limits(price_band_pct=D(2)), reference_price=D(60000))
    )
    assert tighter.values["price_ceiling"] == D(61000) and tighter.sources["price_ceiling"] == "params.price_ceiling"
    moving = convert(bot(limits=Limits(price_band_pct=D(2))))
    assert moving.values["moving_price_band_enabled"] is True
    assert (moving.values["price_ceiling_pct"], moving.values["price_floor_pct"]) == (D(2), D(-2))
    assert (moving.values["price_ceiling"], moving.values["price_floor"]) == (D(-1), D(-1))
    refused("params.price_ceiling", bot(params={"price_ceiling": "50000", "price_floor": "55000"}))


def test_quotes_outside_the_price_band_are_refused():
    refused("params.ask_spread", bot(params={"ask_spread": "3"}, limits=Limits(price_band_pct=D(2))))
    overrides = {"order_levels": 3, "order_level_spread": "1"}
    refused("overrides.order_level_spread", bot(limits=Limits(price_band_pct=D(2)), overrides=overrides))
    refused("overrides.order_levels", bot(limits=Limits(price_band_pct=D("1.05")), overrides={"order_levels": 2}))
    refused("limits.price_band_pct", bot(limits=Limits(price_band_pct=D(2))), "avellaneda_market_making")


def test_open_order_limits_must_cover_the_strategy():
    refused("overrides.order_levels", bot(limits=Limits(max_open_orders=4), overrides={"order_levels": 3}))
    refused("limits.max_open_orders", bot(limits=Limits(max_open_orders=1)))
    refused(
        "overrides.hanging_orders_enabled",
        bot(limits=Limits(max_open_orders=4), overrides={"hanging_orders_enabled": True}),
    )
    refused(
        "limits.max_open_orders", bot("arbitrage", limits=Limits(max_open_orders=2)), "cross_exchange_market_making"
    )
    assert convert(bot(limits=Limits(max_open_orders=6), overrides={"order_levels": 3})).values["order_levels"] == 3


def test_kill_switch_rate_comes_from_daily_loss_and_drawdown():
    config = convert(bot(limits=Limits(max_daily_loss=D(50)), capital=D(1000)))
    assert config.client_overrides() == {"kill_switch_mode": {"kill_switch_rate": D(-5)}}
    assert config.client_params_for_config_command() == [
        ["kill_switch_mode", "kill_switch_enabled"],
        ["kill_switch_mode.kill_switch_rate", "-5"],
    ]
    stricter = convert(bot(limits=Limits(max_daily_loss=D(50), max_drawdown_pct=D(3)), capital=D(1000)))
    assert stricter.client_overrides()["kill_switch_mode"]["kill_switch_rate"] == D(-3)
    assert "capital" in refused("capital", bot(limits=Limits(max_daily_loss=D(50))))
    assert convert(bot()).client_overrides() == {} and convert(bot()).client_params_for_config_command() == []


def test_max_position_notional_becomes_a_balance_limit_on_live_connectors():
    limits = Limits(max_position_notional=D(2000))
    assert convert(bot(limits=limits)).balance_limits == (("binance", "USDT", D(2000)),)
    assert convert(bot("arbitrage", limits=limits)).balance_limits == (
        ("binance", "USDT", D(2000)),
        ("kucoin", "USDT", D(2000)),
    )
    assert convert(bot(limits=limits, paper=True)).balance_limits == ()


def test_grid_risk_mapping():
    limits = Limits(
        max_order_notional=D(40),
        default_stop_loss_pct=D(5),
        price_band_pct=D(3),
        max_daily_loss=D(30),
        max_open_orders=4,
    )
    config = convert(bot("grid", limits=limits, capital=D(1000)))
    v = config.values
    assert (v["total_amount_quote"], v["min_order_amount_quote"]) == (D(440), D(36))  # 11 levels of 40
    assert v["limit_price"] == D(47500) and v["activation_bounds"] == D("0.03") and v["max_open_orders"] == 4
    assert v["min_spread_between_orders"] == D("0.01818181")  # (60000 - 50000) / 50000 / 11
    assert v["triple_barrier_config"]["take_profit"] == D("0.02")  # one step of the 11-level grid
    assert (v["side"], v["leverage"]) == (1, 1)
    assert config.runner.values["max_controller_drawdown_quote"] == D(30)
    capped = convert(bot("grid", limits=Limits(max_position_notional=D(200))))
    assert capped.values["total_amount_quote"] == D(200)
    assert capped.sources["total_amount_quote"] == "limits.max_position_notional"


def test_params_for_the_config_command():
    pairs = dict(convert(bot(params={"bid_spread": "0.25"})).params_for_config_command())
    assert "strategy" not in pairs and "template_version" not in pairs and "order_override" not in pairs
    assert (pairs["bid_spread"], pairs["order_refresh_time"], pairs["inventory_skew_enabled"]) == ("0.25", "30", "true")
    modes = convert(bot(overrides={"order_levels_mode": {"order_levels": 3}}), "avellaneda_market_making")
    pairs = modes.params_for_config_command()
    assert ["order_levels_mode", "multi_order_level"] in pairs and ["order_levels_mode.order_levels", "3"] in pairs
    assert convert(bot()).import_name == "conf_pure_mm_binance_btc_usdt"
    with pytest.raises(ApplicationError):
        convert(bot("grid")).params_for_config_command()


def test_signal_market_making_spreads_from_levels_or_confidence():
    signal = Signal("market_making", "buy", D("0.8"), entry=D(60000), lower=D(59820), upper=D(60300))
    config = convert_signal(
        signal, symbol="BTC/USDT", exchange="binance", paper=True, limits=None, order_amount=D("0.01")
    )
    v = config.values
    assert (v["bid_spread"], v["ask_spread"], v["inventory_target_base_pct"]) == (D("0.3"), D("0.5"), D(70))
    assert "bid_spread: 0.3\n" in config.yaml()
    plain = Signal("market_making", "both", D(1))
    v = convert_signal(plain, symbol="BTC/USDT", exchange="kucoin", paper=False, limits=None, order_amount=D(1)).values
    assert (v["bid_spread"], v["ask_spread"], v["inventory_target_base_pct"]) == (D("0.1"), D("0.1"), D(50))


def test_signal_grid_and_arbitrage():
    kw = {"symbol": "BTC/USDT", "exchange": "binance", "paper": False, "limits": None, "order_amount": D("0.001")}
    grid = convert_signal(
        Signal("grid", "sell", D("0.5"), lower=D(50000), upper=D(60000), stop=D(63000)), levels=5, **kw
    )
    assert grid.strategy == "grid_strike"
    assert (grid.values["side"], grid.values["limit_price"], grid.values["start_price"]) == (2, D(63000), D(50000))
    arb = convert_signal(
        Signal("arbitrage", "both", D("0.5"), entry=D(60000), take_profit=D(60240)), second_exchange="kraken", **kw
    )
    assert arb.strategy == "cross_exchange_market_making"
    assert (arb.values["taker_market"], arb.values["min_profitability"]) == ("kraken", D("0.4"))


@pytest.mark.parametrize(
    ("signal", "field", "extra"),
    [
        (Signal("directional", "buy", D("0.9")), "signal.type", {}),
        (Signal("scalping", "buy", D("0.9")), "signal.type", {}),
        (Signal("grid", "up", D("0.9")), "signal.side", {}),
        (Signal("grid", "buy", D("1.5")), "signal.confidence", {}),
        (Signal("grid", "buy", D("0.5"), lower=D(50000)), "signal.upper", {}),
        (Signal("grid", "buy", D("0.5"), lower=D(50000), upper=D(60000), stop=D(51000)), "signal.stop", {}),
        (Signal("grid", "buy", D("0.5"), lower=D(50000), upper=D(60000)), "levels", {"levels": 1}),
        (Signal("market_making", "both", D("0.5"), lower=D(59000), upper=D(61000)), "signal.entry", {}),
        (Signal("market_making", "both", D("0.5"), entry=D(60000), lower=D(61000), upper=D(62000)), "signal.lower", {}),
        (Signal("arbitrage", "both", D("0.5")), "second_exchange", {}),
        (Signal("arbitrage", "buy", D("0.5")), "signal.side", {"second_exchange": "kraken"}),
        (Signal("market_making", "both", D("0.5"), entry=D(-1)), "signal.entry", {}),
    ],
)
def test_signal_errors_name_the_field(signal, field, extra):
    with pytest.raises(ApplicationError) as caught:
        convert_signal(
            signal, symbol="BTC/USDT", exchange="binance", paper=False, limits=None, order_amount=D(1), **extra
        )
    assert caught.value.field == field, caught.value.message


def test_decimals_are_written_exactly():
    config = convert(
        bot(
            params={"bid_spread": D("0.1") + D("0.2"), "order_amount": "0.00000001"},
            overrides={"order_level_amount": 0.1},
        )
    )
    text = config.yaml()
    assert "bid_spread: 0.3\n" in text and "order_amount: 0.00000001\n" in text and "order_level_amount: 0.1\n" in text
    assert "0.30000000000000004" not in text and "e-" not in text.lower()
    assert "max_order_age: 30\n" in text and "minimum_spread: -100\n" in text


def test_the_same_input_gives_the_same_config():
    def make(overrides):
        limits = Limits(max_order_notional=D(300), price_band_pct=D(1), max_daily_loss=D(20))
        return convert(bot(limits=limits, reference_price=D(60000), capital=D(500), overrides=overrides, name="Bot #7"))

    a = make({"ping_pong_enabled": True, "order_levels": 1})
    b = make({"order_levels": 1, "ping_pong_enabled": True})
    assert a == b and a.yaml() == b.yaml() and a.file_name == "conf_pure_mm_bot_7.yml"
    assert convert(bot("grid")).files() == convert(bot("grid")).files()


def test_the_converter_imports_without_django():
    code = (
        "import sys\n"
        "from decimal import Decimal\n"
        "from hummingbot.converter import ConvertInput, convert\n"
        "config = convert(ConvertInput('pure_market_making', {}, 'BTC/USDT', 'binance', False))\n"
        "assert config.yaml()\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
