"""The factor engine: every non-AI factor over one market's closed candles, blended into one call.

`evaluate(bars, config=...)` runs the factors of `FACTORS` and blends their scores (docs/signals.md,
"How factors are blended"):

- score S = sum(w_i * s_i) / sum(w_i) over the factors with a weight above 0 (`DEFAULT_WEIGHTS`,
  overridden per source by `config["weights"]`; a factor weighted 0 is not computed);
- side: "buy" when S >= threshold, "sell" when S <= -threshold, else "neutral"
  (`config["threshold"]`, default `DEFAULT_THRESHOLD`);
- agreement A = |sum(w_i * s_i)| / sum(w_i * |s_i|): 1 when every factor with a view points the same
  way, near 0 when they cancel out;
- confidence = (|S| + A) / 2 * d for a buy or sell, 0 for neutral, where d is the ATR factor's
  damping (1 in a normal volatility regime, down to its floor at the highest volatility of its
  window; 1 when `config["volatility_damping"]` is false). ATR is direction-neutral: it has no
  weight and only scales confidence.

`config["params"]` sets factor parameters (`{"rsi": {"period": 21}, "structure": {"zigzag_pct": 2}}`);
`engine_config_check` validates a whole config for the API and forms. `bars_for_market` reads the
stored candles a beat or an evaluation runs the engine on.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils import timezone

from core.errors import ApplicationError
from exchanges.market_data import TIMEFRAME_MS, dt_to_ms, timeframe_ms
from exchanges.models import Candle
from signals.factors.base import FactorResult
from signals.factors.elliott import elliott_factor
from signals.factors.fibonacci import fibonacci_factor
from signals.factors.indicators import (
    adx_factor,
    atr_factor,
    bollinger_factor,
    check_number,
    ema_cross_factor,
    macd_factor,
    multi_timeframe_factor,
    rsi_factor,
)
from signals.factors.patterns import patterns_factor
from signals.factors.structure import structure_factor
from strategies.base import Bars

FACTORS: dict[str, Callable[..., FactorResult]] = {
    "rsi": rsi_factor,
    "macd": macd_factor,
    "bollinger": bollinger_factor,
    "adx": adx_factor,
    "atr": atr_factor,
    "ema_cross": ema_cross_factor,
    "multi_timeframe": multi_timeframe_factor,
    "patterns": patterns_factor,
    "structure": structure_factor,
    "fibonacci": fibonacci_factor,
    "elliott": elliott_factor,
}
# Trend factors count a little more than the oscillators, whose contrarian reading fights a trend;
# the wave count and the Fibonacci levels are the least certain readings, so they count least.
DEFAULT_WEIGHTS: dict[str, float] = {
    "rsi": 1.0,
    "macd": 1.0,
    "bollinger": 0.75,
    "adx": 1.0,
    "ema_cross": 1.0,
    "multi_timeframe": 1.25,
    "patterns": 0.75,
    "structure": 1.0,
    "fibonacci": 0.5,
    "elliott": 0.5,
}
DEFAULT_THRESHOLD = 0.15
MAX_WEIGHT = 100.0
CONFIG_KEYS = ("weights", "threshold", "params", "volatility_damping", "higher_timeframe")
# Arguments a factor takes that are not parameters a source may set.
_NOT_PARAMS = {"bars", "higher"}


@dataclass(frozen=True)
class Evaluation:
    """One blended call: `factors` maps each factor computed to its `FactorResult.as_json()`."""

    side: str
    confidence: float
    factors: dict[str, dict[str, Any]]
    reasoning: str
    score: float = 0.0


# -- config -----------------------------------------------------------------------------------------
def _check_weights(weights: Any) -> dict[str, float]:
    if not isinstance(weights, Mapping):
        raise ApplicationError("weights must be an object of factor name to weight.", field="weights")
    clean: dict[str, float] = {}
    for name, value in weights.items():
        field = f"weights.{name}"
        if name == "atr":
            raise ApplicationError(
                "atr is direction-neutral: it scales confidence (volatility_damping) and takes no weight.",
                field=field,
            )
        if name not in DEFAULT_WEIGHTS:
            raise ApplicationError(f"Unknown factor {name!r}; use one of {', '.join(DEFAULT_WEIGHTS)}.", field=field)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ApplicationError(f"The weight of {name} must be a number.", field=field)
        if value < 0:
            raise ApplicationError(f"The weight of {name} cannot be negative.", field=field)
        if value > MAX_WEIGHT:
            raise ApplicationError(f"The weight of {name} cannot exceed {MAX_WEIGHT:g}.", field=field)
        clean[name] = float(value)
    if sum({**DEFAULT_WEIGHTS, **clean}.values()) <= 0:
        raise ApplicationError("At least one factor needs a weight above 0.", field="weights")
    return clean


def _check_params(params: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(params, Mapping):
        raise ApplicationError("params must be an object of factor name to parameters.", field="params")
    clean: dict[str, dict[str, Any]] = {}
    for name, given in params.items():
        if name not in FACTORS:
            raise ApplicationError(f"Unknown factor {name!r}; use one of {', '.join(FACTORS)}.", field=f"params.{name}")
        if not isinstance(given, Mapping):
            raise ApplicationError(f"The parameters of {name} must be an object.", field=f"params.{name}")
        fn = FACTORS[name]
        accepted = [p for p in inspect.signature(fn).parameters if p not in _NOT_PARAMS]
        for key in given:
            if key not in accepted:
                raise ApplicationError(
                    f"{name} has no parameter {key!r}; it takes {', '.join(accepted)}.", field=f"params.{name}.{key}"
                )
        try:
            # Factors check their parameters before they look at the candles, so empty bars suffice.
            fn(Bars.empty(), **given)
        except ApplicationError as error:
            raise ApplicationError(
                f"{name}: {error.message}", field=f"params.{name}.{error.field or ''}".rstrip("."), code=error.code
            ) from None
        clean[name] = dict(given)
    return clean


def engine_config_check(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate an engine source's config and answer the cleaned config (only the keys given; the
    engine fills in the defaults when it runs). Raises ApplicationError naming the field at fault:
    `weights.<factor>`, `threshold`, `params.<factor>.<param>`, `volatility_damping`, `higher_timeframe`."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ApplicationError("The engine config must be an object.", field="config")
    for key in config:
        if key not in CONFIG_KEYS:
            raise ApplicationError(f"Unknown engine setting {key!r}; use {', '.join(CONFIG_KEYS)}.", field=key)
    clean: dict[str, Any] = {}
    if "weights" in config:
        clean["weights"] = _check_weights(config["weights"])
    if "threshold" in config:
        clean["threshold"] = check_number("threshold", config["threshold"], low=0, high=1, inclusive=False)
    if "params" in config:
        clean["params"] = _check_params(config["params"])
    if "volatility_damping" in config:
        if not isinstance(config["volatility_damping"], bool):
            raise ApplicationError("volatility_damping must be true or false.", field="volatility_damping")
        clean["volatility_damping"] = config["volatility_damping"]
    if config.get("higher_timeframe") is not None:
        if config["higher_timeframe"] not in TIMEFRAME_MS:
            raise ApplicationError(
                f"higher_timeframe must be one of {', '.join(TIMEFRAME_MS)}.", field="higher_timeframe"
            )
        clean["higher_timeframe"] = config["higher_timeframe"]
    return clean


# -- evaluation -------------------------------------------------------------------------------------
def blend(
    results: Mapping[str, FactorResult], weights: Mapping[str, float], *, threshold: float, damping: float = 1.0
) -> tuple[str, float, float]:
    """(side, confidence, score) of factor results under weights: the formula of the module doc."""
    total = sum(weights[name] for name in results)
    signed = sum(weights[name] * results[name].score for name in results)
    spread = sum(weights[name] * abs(results[name].score) for name in results)
    score = signed / total if total > 0 else 0.0
    agreement = abs(signed) / spread if spread > 0 else 0.0
    if score >= threshold:
        side = "buy"
    elif score <= -threshold:
        side = "sell"
    else:
        return "neutral", 0.0, score
    return side, min(1.0, (abs(score) + agreement) / 2 * damping), score


def evaluate(bars: Bars, *, config: Mapping[str, Any] | None = None, higher: Bars | None = None) -> Evaluation:
    """Run every non-AI factor on `bars` (closed candles, oldest first) and blend them into a side,
    a confidence and a reasoning. `higher` is a higher timeframe's candles for the multi-timeframe
    factor (else it resamples `bars`). `config` is a source's engine config (engine_config_check)."""
    cfg = engine_config_check(config)
    weights = {**DEFAULT_WEIGHTS, **cfg.get("weights", {})}
    threshold = cfg.get("threshold", DEFAULT_THRESHOLD)
    params = cfg.get("params", {})
    results: dict[str, FactorResult] = {}
    for name, fn in FACTORS.items():
        if name == "atr":
            continue
        if weights[name] <= 0:
            continue
        kwargs = dict(params.get(name, {}))
        if name == "multi_timeframe":
            kwargs["higher"] = higher
        results[name] = fn(bars, **kwargs)
    atr = atr_factor(bars, **params.get("atr", {}))
    damping = 1.0
    if cfg.get("volatility_damping", True):
        damping = float(atr.detail.get("damping") or 1.0)
    side, confidence, score = blend(results, weights, threshold=threshold, damping=damping)
    factors = {name: result.as_json() for name, result in results.items()}
    factors["atr"] = atr.as_json()
    return Evaluation(
        side=side,
        confidence=round(confidence, 4),
        factors=factors,
        reasoning=reasoning(side, score, confidence, threshold, results, weights, atr, damping),
        score=round(score, 4),
    )


def reasoning(
    side: str,
    score: float,
    confidence: float,
    threshold: float,
    results: Mapping[str, FactorResult],
    weights: Mapping[str, float],
    atr: FactorResult,
    damping: float,
) -> str:
    """The call and the factors that carried it most (largest weighted scores first)."""
    if side == "neutral":
        head = f"Neutral: the blended score {score:+.2f} is inside ±{threshold:g}."
    else:
        head = (
            f"{side.capitalize()}: blended score {score:+.2f} (threshold ±{threshold:g}), confidence {confidence:.2f}."
        )
    ranked = sorted(
        (r for r in results.values() if r.score), key=lambda r: abs(weights[r.name] * r.score), reverse=True
    )
    lines = [head, *(r.reason for r in ranked[:4])]
    if damping < 1:
        lines.append(f"{atr.reason} Confidence damped x{damping:.2f}.")
    return " ".join(lines)


# -- stored candles ---------------------------------------------------------------------------------
def bars_for_market(
    *, exchange: str, symbol: str, timeframe: str, limit: int = 1000, until: dt.datetime | None = None
) -> Bars:
    """The last `limit` stored candles of a market that had closed by `until` (now when omitted),
    oldest first, in one query."""
    step = dt.timedelta(milliseconds=timeframe_ms(timeframe))
    until = until or timezone.now()
    rows = list(
        Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe, ts__lte=until - step)
        .order_by("-ts")
        .values_list("ts", "open", "high", "low", "close", "volume")[:limit]
    )
    if not rows:
        return Bars.empty()
    rows.reverse()
    ts = np.array([dt_to_ms(r[0]) for r in rows], dtype=np.int64)
    values = np.array([r[1:] for r in rows], dtype=np.float64)
    return Bars(ts, *(values[:, k].copy() for k in range(5)))
