"""Perpetual bots as Hummingbot configs: grid_strike on a derivative connector with the bot's
leverage, one net position; a clear refusal where Hummingbot cannot trade the perpetual."""

from decimal import Decimal

import pytest

from core.errors import ApplicationError
from hummingbot.converter import ConvertInput, convert
from hummingbot.converter.venues import market_name
from tests.hummingbot.test_converter import GRID


def perp(strategy="grid", params=None, **kwargs):
    kwargs.setdefault("symbol", "BTC/USDC:USDC")
    kwargs.setdefault("exchange", "hyperliquid")
    kwargs.setdefault("paper", False)
    kwargs.setdefault("market_type", "perp")
    kwargs.setdefault("leverage", Decimal(5))
    return ConvertInput(strategy, GRID if params is None and strategy == "grid" else params or {}, **kwargs)


def refusal(inp, target=None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        convert(inp, target)
    return caught.value


@pytest.mark.parametrize(
    ("exchange", "connector"),
    [
        ("hyperliquid", "hyperliquid_perpetual"),
        ("binanceusdm", "binance_perpetual"),
        ("bybit", "bybit_perpetual"),
        ("okx", "okx_perpetual"),
    ],
)
def test_a_perp_grid_runs_on_the_derivative_connector_with_the_bots_leverage(exchange, connector):
    symbol = "BTC/USDC:USDC" if exchange == "hyperliquid" else "BTC/USDT:USDT"
    config = convert(perp(exchange=exchange, symbol=symbol))
    values = config.values
    assert values["connector_name"] == connector
    assert values["trading_pair"] == ("BTC-USDC" if exchange == "hyperliquid" else "BTC-USDT")
    assert (values["leverage"], values["position_mode"]) == (5, "ONEWAY")


def test_a_spot_grid_keeps_leverage_one_on_the_spot_connector():
    config = convert(ConvertInput("grid", GRID, "BTC/USDT", "binance", False))
    assert (config.values["connector_name"], config.values["leverage"]) == ("binance", 1)


def test_spot_only_targets_refuse_a_perpetual_and_say_what_can_run_it():
    error = refusal(perp("pure_market_making"))
    assert error.field == "target" and error.code == "unsupported"
    assert error.message == (
        "Hummingbot's pure_market_making trades spot connectors only; a perpetual bot can run as grid_strike, "
        "or with native execution."
    )


def test_a_paper_perp_bot_is_sent_to_native_execution():
    error = refusal(perp(paper=True, exchange="paper"))
    assert error.field == "exchange" and "no paper connector for perpetuals" in error.message


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"exchange": "kraken"}, "exchange", "no perpetual connector mapped for exchange 'kraken'"),
        ({"symbol": "BTC/USD:BTC"}, "symbol", "not a linear perpetual like BTC/USDT:USDT"),
        ({"leverage": Decimal("2.5")}, "leverage", "whole-number leverage"),
        ({"margin_mode": "cross"}, "margin_mode", "carries no margin mode"),
    ],
)
def test_what_hummingbot_cannot_carry_is_refused_by_name(changes, field, words):
    error = refusal(perp(**changes))
    assert error.field == field and words in error.message


def test_perp_pairs_are_written_the_hummingbot_way():
    assert market_name("ETH/USDT:USDT") == "ETH-USDT"
    assert market_name("BTC/USDT") == "BTC-USDT"
