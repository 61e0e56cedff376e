"""The prepared run (indicators computed once over the history, idle candles skipped) against
the candle-by-candle run that decides every candle from its own warm-up window, as a live tick
does. On the real candles they must give the same fills, trades and equity to the last digit."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from backtest.data import bars_from_file
from backtest.engine import BacktestOutcome, run_backtest
from exchanges.fill_model import FillTerms
from risk.engine import Limits
from strategies.registry import get, validate_params

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
TERMS = FillTerms(taker_fee=Decimal("0.001"), maker_fee=Decimal("0.001"), slippage=Decimal("0.0005"))


def run(key: str, pair: str, *, spec=None, limits: Limits | None = None, **kwargs) -> BacktestOutcome:
    return run_backtest(
        spec=spec or get(key),
        params=validate_params(key, kwargs.pop("overrides", {})),
        bars=bars_from_file(DATA / f"{pair}-5m.json.gz"),
        symbol=pair.replace("_", "/"),
        step_ms=300_000,
        capital=Decimal("10000"),
        terms=TERMS,
        limits=limits,
        **kwargs,
    )


def assert_same(a: BacktestOutcome, b: BacktestOutcome) -> None:
    assert a.fills == b.fills
    assert a.trades == b.trades
    assert np.array_equal(a.equity, b.equity) and np.array_equal(a.equity_ts, b.equity_ts)
    assert (a.final_cash, a.final_quantity, a.final_equity, a.bars) == (
        b.final_cash,
        b.final_quantity,
        b.final_equity,
        b.bars,
    )
    assert a.rejected == b.rejected


@pytest.mark.parametrize("pair", ["BTC_USDT", "ETH_USDT", "LINK_USDT"])
@pytest.mark.parametrize("key", ["macd_trend", "rsi_bb_atr"])
def test_the_prepared_run_trades_exactly_as_the_live_windows_do(key, pair):
    prepared = run(key, pair)
    live_like = run(key, pair, series=False)
    assert len(prepared.fills) >= 10
    assert_same(prepared, live_like)
    assert live_like.decisions == live_like.bars
    # Most candles are idle and skipped.
    assert prepared.decisions < live_like.decisions / 3


def without_wake(key: str):
    spec = get(key)

    def prepare(bars, params):
        return {k: v for k, v in spec.prepare(bars, params).items() if not k.startswith("wake_")}

    return dataclasses.replace(spec, prepare=prepare)


@pytest.mark.parametrize("key", ["macd_trend", "rsi_bb_atr"])
def test_skipping_idle_candles_changes_nothing_but_the_work(key):
    skipping = run(key, "SOL_USDT")
    every = run(key, "SOL_USDT", spec=without_wake(key))
    assert every.decisions == every.bars > skipping.decisions
    assert_same(skipping, every)


def test_the_wake_column_is_what_the_skipping_follows():
    # A strategy whose wake column hides its entry candles never trades: the engine does skip.
    spec = get("macd_trend")

    def asleep(bars, params):
        return spec.prepare(bars, params) | {"wake_flat": np.zeros(len(bars), dtype=bool)}

    outcome = run("macd_trend", "BTC_USDT", spec=dataclasses.replace(spec, prepare=asleep))
    assert outcome.fills == [] and outcome.decisions == 0
    assert run("macd_trend", "BTC_USDT").fills


def test_a_default_stop_loss_is_watched_on_every_candle_while_holding():
    # macd_trend would skip holding candles without an exit signal; the risk limits' stop-loss
    # must still be checked on each of them.
    limits = Limits(default_stop_loss_pct=Decimal("0.5"))
    prepared = run("macd_trend", "ETH_USDT", limits=limits)
    live_like = run("macd_trend", "ETH_USDT", limits=limits, series=False)
    assert any(t.exit_tag == "protect" for t in prepared.trades)
    assert_same(prepared, live_like)


@pytest.mark.parametrize(
    ("key", "overrides"),
    [("macd_trend", {"trend_ema_period": 20, "volume_surge": "1.2"}), ("rsi_bb_atr", {"rsi_oversold": "35"})],
)
def test_other_parameters_agree_too(key, overrides):
    assert_same(run(key, "ADA_USDT", overrides=overrides), run(key, "ADA_USDT", overrides=overrides, series=False))
