"""CEX-DEX arbitrage as Hummingbot's amm_arb with a Gateway leg: Jupiter on Solana through the
Gateway network connector, Hummingbot's own Gateway defaults written into the file, and clear
refusals where Hummingbot cannot take a DEX leg (other targets, paper, unmapped DEX names)."""

from decimal import Decimal as D  # noqa: N817

import pytest
import yaml

from core.errors import ApplicationError
from hummingbot.converter import ConvertInput, Signal, connector_name, convert, convert_signal
from hummingbot.converter.venues import gateway_dex
from risk.engine import Limits
from tests.hummingbot.test_converter import AMM_ARB_KEYS, GRID

# Hummingbot 20260922 starts a Gateway DEX by its network connector; Gateway's network config picks
# the DEX (swapProvider: jupiter/router). See hummingbot/converter/venues.py for the source read.
SOLANA = "solana-mainnet-beta"


def arb(**kwargs) -> ConvertInput:
    kwargs.setdefault("symbol", "SOL/USDC")
    kwargs.setdefault("exchange", "binance")
    kwargs.setdefault("second_exchange", "jupiter")
    kwargs.setdefault("paper", False)
    return ConvertInput("arbitrage", kwargs.pop("params", {"order_amount": "0.5"}), **kwargs)


def refusal(inp, target=None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        convert(inp, target)
    return caught.value


def test_binance_and_jupiter_make_an_amm_arb_on_the_gateway_network_connector():
    config = convert(arb(reference_price=D("150.25")), "amm_arb")
    v = config.values
    assert (config.strategy, config.folder, config.file_name) == (
        "amm_arb",
        "strategies",
        "conf_amm_arb_binance_sol_usdc.yml",
    )
    assert list(v) == AMM_ARB_KEYS and list(yaml.safe_load(config.yaml())) == AMM_ARB_KEYS
    assert (v["connector_1"], v["market_1"], v["connector_2"], v["market_2"]) == (
        "binance",
        "SOL-USDC",
        SOLANA,
        "SOL-USDC",
    )
    assert (v["template_version"], v["order_amount"], v["min_profitability"]) == (6, D("0.5"), D("0.3"))
    assert (v["market_1_slippage_buffer"], v["market_2_slippage_buffer"]) == (D(0), D(1))
    assert v["concurrent_orders_submission"] is False
    assert (v["rate_oracle_enabled"], v["gas_token"], v["gas_price"]) == (True, "SOL", D("150.25"))
    # Every key amm_arb_config_map has no default for is written.
    assert all(v[key] is not None for key in ("connector_1", "market_1", "connector_2", "market_2", "order_amount"))
    assert ["connector_2", SOLANA] in config.params_for_config_command()


def test_the_dex_may_be_the_first_leg():
    v = convert(arb(exchange="jupiter", second_exchange="binance")).values
    assert (v["connector_1"], v["connector_2"]) == (SOLANA, "binance")
    assert (v["market_1_slippage_buffer"], v["market_2_slippage_buffer"]) == (D(1), D(0))


def test_jupiter_names_the_gateway_network_and_its_swap_provider():
    assert connector_name("jupiter", paper=False) == SOLANA
    dex = gateway_dex("Jupiter")
    assert (dex.swap_provider, dex.gas_token) == ("jupiter/router", "SOL")
    assert gateway_dex("jupiter_paper") is dex and gateway_dex("binance") is None


def test_a_cex_only_amm_arb_keeps_its_legs_together():
    v = convert(arb(second_exchange="kucoin")).values
    assert (v["concurrent_orders_submission"], v["gas_token"], v["market_2_slippage_buffer"]) == (True, "ETH", D(0))


def test_gateway_defaults_give_way_to_overrides():
    overrides = {"concurrent_orders_submission": True, "market_2_slippage_buffer": "0.5", "gas_price": "140"}
    v = convert(arb(overrides=overrides, reference_price=D(150))).values
    assert (v["concurrent_orders_submission"], v["market_2_slippage_buffer"], v["gas_price"]) == (
        True,
        D("0.5"),
        D(140),
    )


def test_a_fixed_rate_needs_a_price_for_the_network_fee():
    error = refusal(arb(overrides={"rate_oracle_enabled": False}))
    assert error.field == "overrides.gas_price" and "SOL network fee" in error.message
    priced = convert(arb(overrides={"rate_oracle_enabled": False, "gas_price": "150"})).values
    assert (priced["rate_oracle_enabled"], priced["gas_price"]) == (False, D(150))
    assert convert(arb(overrides={"rate_oracle_enabled": False}, reference_price=D(151))).values["gas_price"] == D(151)


def test_a_position_cap_limits_the_quote_on_both_legs():
    config = convert(arb(limits=Limits(max_position_notional=D(500))))
    assert config.balance_limits == (("binance", "USDC", D(500)), (SOLANA, "USDC", D(500)))


@pytest.mark.parametrize(
    ("inp", "target", "field"),
    [
        (ConvertInput("pure_market_making", {}, "SOL/USDC", "jupiter", False), "pure_market_making", "exchange"),
        (ConvertInput("pure_market_making", {}, "SOL/USDC", "jupiter", False), "avellaneda_market_making", "exchange"),
        (arb(), "cross_exchange_market_making", "second_exchange"),
        (ConvertInput("grid", GRID, "SOL/USDC", "jupiter", False), "grid_strike", "exchange"),
    ],
    ids=["pure_market_making", "avellaneda_market_making", "cross_exchange_market_making", "grid_strike"],
)
def test_other_targets_refuse_a_jupiter_venue_and_name_amm_arb(inp, target, field):
    error = refusal(inp, target)
    assert (error.field, error.code) == (field, "unsupported")
    assert error.message == (
        f"jupiter is a DEX traded through Hummingbot Gateway, and Hummingbot's {target} takes no Gateway "
        "connector: a DEX leg can run as amm_arb (arbitrage against a CEX), or with native execution."
    )


def test_an_arbitrage_signal_against_jupiter_is_refused_the_same_way():
    with pytest.raises(ApplicationError) as caught:
        convert_signal(
            Signal("arbitrage", "both", D("0.5")),
            symbol="SOL/USDC",
            exchange="binance",
            paper=False,
            limits=None,
            order_amount=D(1),
            second_exchange="jupiter",
        )
    assert caught.value.field == "second_exchange" and "amm_arb" in caught.value.message


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"paper": True}, "second_exchange"),
        ({"paper": True, "exchange": "paper"}, "second_exchange"),
        ({"paper": True, "second_exchange": "jupiter_paper"}, "second_exchange"),
        ({"second_exchange": "jupiter_paper"}, "second_exchange"),
        ({"paper": True, "exchange": "jupiter", "second_exchange": "binance"}, "exchange"),
    ],
    ids=["paper-jupiter", "paper-exchange-and-jupiter", "paper-jupiter_paper", "live-jupiter_paper", "dex-first"],
)
def test_paper_with_a_gateway_dex_is_sent_to_our_own_engine(changes, field):
    error = refusal(arb(**changes), "amm_arb")
    assert (error.field, error.code) == (field, "unsupported")
    assert "no paper-trade connector for Gateway DEXs" in error.message
    assert "runs natively on our own engine with a jupiter_paper account" in error.message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("raydium", "no connector mapped for exchange 'raydium'; supported: binance"),
        ("orca/clmm", "'orca/clmm' is a Gateway connector name, not one of our exchange ids"),
        ("jupiter/router", "the Gateway DEX mapped here is jupiter"),
        (SOLANA, f"no connector mapped for exchange '{SOLANA}'"),
    ],
)
def test_an_unknown_dex_name_is_refused(name, words):
    error = refusal(arb(second_exchange=name), "amm_arb")
    assert error.field == "second_exchange" and words in error.message
    assert "jupiter" in error.message


def test_two_dex_legs_are_refused():
    error = refusal(arb(exchange="jupiter", second_symbol="SOL/USDT"), "amm_arb")
    assert error.field == "second_exchange" and error.message == (
        "Both legs of amm_arb are Gateway DEXs; pair the DEX with a CEX."
    )


def test_our_cex_dex_arbitrage_becomes_amm_arb_with_its_threshold_and_amount():
    inp = ConvertInput(
        "cex_dex_arbitrage",
        {"order_amount": "2", "min_profit_pct": "0.6"},
        symbol="SOL/USDC",
        exchange="binance",
        second_exchange="jupiter",
        paper=False,
        reference_price=D("150"),
    )
    v = convert(inp).values
    assert (v["connector_1"], v["connector_2"], v["order_amount"], v["min_profitability"]) == (
        "binance",
        SOLANA,
        D("2"),
        D("0.6"),
    )
    assert v["concurrent_orders_submission"] is False  # the swap first: no one-sided CEX fill
    assert refusal(inp, "cross_exchange_market_making").code in ("unsupported", "invalid")
