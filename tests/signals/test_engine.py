"""The factor engine: the blend worked by hand, the config check, and reading stored candles."""

import datetime as dt
import json
import math
import random
from decimal import Decimal

import numpy as np
import pytest

from core.errors import ApplicationError
from exchanges.models import Candle
from signals.engine import DEFAULT_WEIGHTS, FACTORS, bars_for_market, blend, engine_config_check, evaluate
from signals.factors.base import FactorResult
from strategies.base import Bars
from tests.signals.test_indicators import PAIRS, falling, rising, series
from tests.strategies.replay import load_bars

ONLY = {name: 0 for name in DEFAULT_WEIGHTS}


def results(**scores: float) -> dict[str, FactorResult]:
    return {name: FactorResult(name, score) for name, score in scores.items()}


# -- the blend --------------------------------------------------------------------------------------
def test_the_blend_is_the_weighted_mean_with_agreement_in_the_confidence():
    # S = (-1 + 0.5) / 2 = -0.25; agreement |(-1 + 0.5)| / (1 + 0.5) = 1/3; confidence (0.25 + 1/3) / 2.
    side, confidence, score = blend(results(rsi=-1.0, macd=0.5), {"rsi": 1, "macd": 1}, threshold=0.15)
    assert (side, score) == ("sell", -0.25)
    assert confidence == pytest.approx((0.25 + 1 / 3) / 2)


def test_weights_move_the_blend():
    # macd weighted 3: S = (-1 + 1.5) / 4 = 0.125, below 0.15 (neutral); above a threshold of 0.1 it
    # buys with agreement 0.5 / 2.5 = 0.2 and confidence (0.125 + 0.2) / 2.
    scores = results(rsi=-1.0, macd=0.5)
    assert blend(scores, {"rsi": 1, "macd": 3}, threshold=0.15) == ("neutral", 0.0, 0.125)
    side, confidence, score = blend(scores, {"rsi": 1, "macd": 3}, threshold=0.1)
    assert (side, score) == ("buy", 0.125)
    assert confidence == pytest.approx(0.1625)


def test_volatility_damping_scales_the_confidence():
    _, confidence, _ = blend(results(rsi=-1.0), {"rsi": 1}, threshold=0.15, damping=0.6)
    assert confidence == pytest.approx(0.6)


def test_evaluate_blends_the_weighted_factors_as_worked_by_hand():
    # A linear rise: RSI 100 scores -1, the EMA gap is 2 ATR (tanh 2 = 0.96403). Weighted 1 and 1 the
    # score is (-1 + 0.96403) / 2 = -0.01799, inside the default threshold: neutral.
    bars = rising(1000)
    ema = math.tanh(2.0)
    evaluation = evaluate(bars, config={"weights": {**ONLY, "rsi": 1, "ema_cross": 1}})
    assert evaluation.side == "neutral" and evaluation.confidence == 0.0
    assert evaluation.score == pytest.approx((-1 + ema) / 2, abs=1e-4)
    assert set(evaluation.factors) == {"rsi", "ema_cross", "atr"}
    # RSI weighted 3: (-3 + 0.96403) / 4 = -0.50899, a sell; agreement 2.03597 / 3.96403; the falling
    # share of ATR in the price ranks low, so no damping.
    evaluation = evaluate(bars, config={"weights": {**ONLY, "rsi": 3, "ema_cross": 1}})
    score = (-3 + ema) / 4
    assert evaluation.side == "sell"
    assert evaluation.score == pytest.approx(score, abs=1e-4)
    assert evaluation.confidence == pytest.approx((abs(score) + (3 - ema) / (3 + ema)) / 2, abs=1e-4)
    assert evaluation.reasoning.startswith("Sell: blended score -0.51 (threshold ±0.15), confidence 0.51.")
    assert "RSI(14) is 100.0, overbought" in evaluation.reasoning


def test_a_threshold_above_the_score_makes_it_neutral():
    config = {"weights": {**ONLY, "rsi": 3, "ema_cross": 1}}
    assert evaluate(rising(1000), config=config | {"threshold": 0.5}).side == "sell"
    assert evaluate(rising(1000), config=config | {"threshold": 0.51}).side == "neutral"


def test_a_high_volatility_regime_damps_the_confidence_unless_turned_off():
    # Closes rise steadily, but the last candle is ten times as wide: ATR ranks at the top of its
    # window and damps; RSI alone would give full confidence.
    spread = np.r_[np.full(299, 1.0), 10.0]
    bars = series(1000.0 + np.arange(300), spread=spread)
    config = {"weights": {**ONLY, "rsi": 1}}
    damped = evaluate(bars, config=config)
    damping = damped.factors["atr"]["damping"]
    assert damped.factors["atr"]["regime"] == "high" and damping < 0.6
    assert damped.side == "sell" and damped.confidence == pytest.approx(damping, abs=1e-4)
    assert "Confidence damped" in damped.reasoning
    assert evaluate(bars, config=config | {"volatility_damping": False}).confidence == 1.0


def test_a_given_higher_timeframe_reaches_the_multi_timeframe_factor():
    evaluation = evaluate(rising(1000), config={"weights": {**ONLY, "multi_timeframe": 1}}, higher=falling(100))
    assert evaluation.factors["multi_timeframe"]["source"] == "given"
    assert evaluation.side == "sell"


def test_factor_params_from_the_config_reach_the_factor():
    evaluation = evaluate(rising(1000), config={"params": {"rsi": {"period": 21}, "structure": {"zigzag_pct": 2}}})
    assert evaluation.factors["rsi"]["period"] == 21


@pytest.mark.parametrize("pair", PAIRS)
def test_on_real_candles_every_factor_runs_and_the_evaluation_is_json_safe(pair):
    bars = load_bars(pair)
    for end in (1000, len(bars)):
        window = Bars(
            *(a[end - 1000 : end] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume))
        )
        evaluation = evaluate(window)
        assert set(evaluation.factors) == set(FACTORS)
        assert evaluation.side in ("buy", "sell", "neutral")
        assert 0.0 <= evaluation.confidence <= 1.0 and -1.0 <= evaluation.score <= 1.0
        assert (evaluation.side == "neutral") == (abs(evaluation.score) < 0.15)
        text = json.dumps(evaluation.factors, allow_nan=False)
        again = evaluate(window)
        assert json.dumps(again.factors, allow_nan=False) == text and again.reasoning == evaluation.reasoning


def test_too_few_candles_evaluate_to_neutral():
    evaluation = evaluate(Bars.empty())
    assert evaluation.side == "neutral" and evaluation.confidence == 0.0
    json.dumps(evaluation.factors, allow_nan=False)


# -- the config check -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config, field",
    [
        ({"weights": {"foo": 1}}, "weights.foo"),
        ({"weights": {"rsi": -0.5}}, "weights.rsi"),
        ({"weights": {"rsi": "1"}}, "weights.rsi"),
        ({"weights": {"rsi": 101}}, "weights.rsi"),
        ({"weights": {"atr": 1}}, "weights.atr"),
        ({"weights": ONLY}, "weights"),
        ({"weights": [1, 2]}, "weights"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1}, "threshold"),
        ({"threshold": "0.2"}, "threshold"),
        ({"params": {"foo": {}}}, "params.foo"),
        ({"params": {"rsi": 14}}, "params.rsi"),
        ({"params": {"rsi": {"length": 14}}}, "params.rsi.length"),
        ({"params": {"rsi": {"period": 1}}}, "params.rsi.period"),
        ({"params": {"macd": {"fast": 30}}}, "params.macd.fast"),
        ({"params": {"multi_timeframe": {"higher": None}}}, "params.multi_timeframe.higher"),
        ({"params": {"structure": {"zigzag_pct": 60}}}, "params.structure.zigzag_pct"),
        ({"volatility_damping": "yes"}, "volatility_damping"),
        ({"higher_timeframe": "2h"}, "higher_timeframe"),
        ({"weight": {}}, "weight"),
    ],
)
def test_a_bad_config_is_refused_with_its_field(config, field):
    with pytest.raises(ApplicationError) as e:
        engine_config_check(config)
    assert e.value.field == field
    with pytest.raises(ApplicationError):
        evaluate(rising(100), config=config)


def test_a_good_config_comes_back_cleaned():
    config = {
        "weights": {"rsi": 2, "elliott": 0},
        "threshold": 0.25,
        "params": {"rsi": {"period": 21}, "fibonacci": {"zigzag_pct": 2.5}},
        "volatility_damping": False,
        "higher_timeframe": "1h",
    }
    assert engine_config_check(config) == {
        "weights": {"rsi": 2.0, "elliott": 0.0},
        "threshold": 0.25,
        "params": {"rsi": {"period": 21}, "fibonacci": {"zigzag_pct": 2.5}},
        "volatility_damping": False,
        "higher_timeframe": "1h",
    }
    assert engine_config_check(None) == {} and engine_config_check({}) == {}


# -- stored candles ---------------------------------------------------------------------------------
T0 = dt.datetime(2021, 5, 1, tzinfo=dt.UTC)
FIVE = dt.timedelta(minutes=5)


def candle(k: int, **kw) -> Candle:
    price = Decimal(100 + k)
    fields = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "5m", "ts": T0 + k * FIVE} | kw
    return Candle(**fields, open=price, high=price + 2, low=price - 1, close=price + 1, volume=Decimal("3.5"))


@pytest.mark.django_db
def test_bars_for_market_reads_closed_candles_oldest_first_in_one_query(django_assert_num_queries):
    rows = [candle(k) for k in range(10)]
    random.Random(3).shuffle(rows)
    noise = [
        candle(1, symbol="ETH/USDT"),
        candle(2, timeframe="1h"),
        candle(3, exchange="kraken"),
    ]
    Candle.objects.bulk_create(rows + noise)
    # Candle 9 opened at T0 + 45 min and closes at T0 + 50 min, after `until`: not closed yet.
    until = T0 + 9 * FIVE + dt.timedelta(minutes=2)
    with django_assert_num_queries(1):
        bars = bars_for_market(exchange="binance", symbol="BTC/USDT", timeframe="5m", until=until)
    start_ms = int(T0.timestamp() * 1000)
    assert bars.ts.tolist() == [start_ms + k * 300_000 for k in range(9)]
    assert bars.close.tolist() == [101.0 + k for k in range(9)]
    assert bars.high.tolist() == [102.0 + k for k in range(9)]
    assert bars.volume.tolist() == [3.5] * 9
    assert bars.close.dtype == np.float64 and bars.ts.dtype == np.int64

    last = bars_for_market(exchange="binance", symbol="BTC/USDT", timeframe="5m", limit=3, until=until)
    assert last.ts.tolist() == [start_ms + k * 300_000 for k in (6, 7, 8)]
    assert len(bars_for_market(exchange="binance", symbol="SOL/USDT", timeframe="5m")) == 0
