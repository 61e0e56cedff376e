"""What every built-in strategy promises: wired into the registry, pure and deterministic, quiet
without enough data, JSON-able memory, well-formed intents and a valid parameter schema."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from strategies.base import Context, Leg, PositionView, Quote, SignalView
from strategies.registry import all_specs, get, validate_params
from tests.strategies.helpers import context, index_of
from tests.strategies.replay import check_decision, load_bars

KEYS = [
    "arbitrage",
    "cex_dex_arbitrage",
    "grid",
    "macd_trend",
    "momentum_reentry",
    "pure_market_making",
    "rsi_bb_atr",
    "signal_follower",
]
BAR_STRATEGIES = ["macd_trend", "momentum_reentry", "rsi_bb_atr"]
ROOT = Path(__file__).resolve().parents[2]


def signal_context(key: str) -> Context:
    """A context on real candles where the strategy places orders."""
    bars = load_bars()
    if key == "macd_trend":
        return context(key, index_of(bars, 1619015400000))  # 2021-04-21 14:30
    if key == "rsi_bb_atr":
        return context(key, index_of(bars, 1618705500000))  # 2021-04-18 00:25
    if key == "momentum_reentry":
        return context(key, index_of(bars, 1618514400000))  # 2021-04-15 19:20
    if key == "grid":
        return context(key, 3168, {"lower_price": "52000", "upper_price": "60000", "levels": 17})
    if key == "pure_market_making":
        return context(key, 3168, quantity=Decimal("0.01"))
    if key == "signal_follower":
        ctx = context(key, 3168)
        signal = SignalView(1, 1, Decimal(1), "buy", Decimal("0.8"), "directional", ctx.now_ms, ctx.now_ms + 3_600_000)
        return replace(ctx, market_signals=(signal,))
    base = context(key, 3168)
    b = Quote(Decimal(60000), Decimal(60000), Decimal(60000))
    return replace(base, second=Leg(b, PositionView(Decimal("0.01"))))


def test_the_built_in_strategies_are_registered_with_a_decision_function():
    assert [s.key for s in all_specs()] == KEYS
    for spec in all_specs():
        assert callable(spec.decide)
        warmup = spec.warmup_bars(validate_params(spec.key, {}))
        assert isinstance(warmup, int) and warmup >= 0
        assert (warmup > 0) == (spec.key in BAR_STRATEGIES)


def test_macd_trend_warmup_covers_its_hourly_trend_ema():
    spec = get("macd_trend")
    for period in (5, 50, 400):
        assert spec.warmup_bars(validate_params("macd_trend", {"trend_ema_period": period})) > 12 * period


@pytest.mark.parametrize("key", KEYS)
def test_it_places_orders_on_its_signal_context(key):
    ctx = signal_context(key)
    decision = get(key).decide(ctx)
    assert decision.intents
    check_decision(decision, ctx)
    for intent in decision.intents:
        assert isinstance(intent.amount, Decimal) and intent.amount > 0
        assert intent.amount.as_tuple().exponent >= -8


@pytest.mark.parametrize("key", KEYS)
def test_the_same_context_gives_the_same_decision(key):
    decide = get(key).decide
    assert decide(signal_context(key)) == decide(signal_context(key))


@pytest.mark.parametrize("key", BAR_STRATEGIES)
def test_too_few_bars_give_no_orders(key):
    ctx = signal_context(key)
    for n in (0, 1, 3):
        decision = get(key).decide(replace(ctx, bars=ctx.bars.tail(n)))
        assert decision.intents == ()


@pytest.mark.parametrize("key", ["grid", "pure_market_making", "arbitrage", "cex_dex_arbitrage"])
def test_strategies_without_warmup_do_not_need_bars(key):
    ctx = signal_context(key)
    assert get(key).decide(replace(ctx, bars=ctx.bars.tail(0))) == get(key).decide(ctx)


@pytest.mark.parametrize("key", ["grid", "macd_trend", "momentum_reentry", "rsi_bb_atr"])
def test_the_state_round_trips_through_json(key):
    decide = get(key).decide
    ctx = signal_context(key)
    state = decide(ctx).state
    assert state is not None
    stored = json.loads(json.dumps(state))
    later = replace(ctx, now_ms=ctx.now_ms + 60_000)
    assert decide(replace(later, state=stored)) == decide(replace(later, state=state))


@pytest.mark.parametrize("key", KEYS)
def test_the_schema_is_valid_json_schema_with_defaults_inside_the_bounds(key):
    spec = get(key)
    schema = spec.json_schema()
    Draft202012Validator.check_schema(schema)
    defaults = {name: prop["default"] for name, prop in schema["properties"].items()}
    assert list(defaults) == [p.name for p in spec.params]
    Draft202012Validator(schema).validate(defaults)
    for name, prop in schema["properties"].items():
        assert prop["type"] in ("integer", "number", "boolean", "string") and prop["description"]
        if "minimum" in prop and "maximum" in prop:
            assert prop["minimum"] <= prop["maximum"], name
    assert validate_params(key, json.loads(json.dumps(defaults))) == validate_params(key, {})


def test_the_strategies_import_without_django():
    """Run in a fresh interpreter without settings: importing every strategy (and deciding)
    must not need Django, let alone its ORM."""
    code = (
        "import sys\n"
        "from strategies.registry import all_specs\n"
        "assert len(all_specs()) == 8\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("length", [0, 5, 12, 13, 100, 131])
def test_resampled_close_is_the_close_of_the_resampled_bars(length):
    import numpy as np

    from strategies.base import Bars

    bars = load_bars("BTC_USDT").tail(length) if length else Bars.empty()
    assert np.array_equal(bars.resampled_close(12), bars.resample(12).close)
