"""The strategy registry: what strategies exist and what parameters each accepts.

Pure Python: no ORM, no I/O. A bot stores a registry key and a params dict; `validate_params`
is the one place that dict is checked (admin forms, API, lifecycle services all call it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import ApplicationError

_TYPES = {"int": int, "decimal": Decimal, "bool": bool, "str": str}


@dataclass(frozen=True)
class Param:
    """One strategy parameter: its type, default, bounds and help text."""

    name: str
    type: str
    default: Any
    help: str
    minimum: Any = None
    maximum: Any = None
    choices: tuple = ()
    pattern: str = ""  # a str parameter must match it whole (also given in the JSON Schema)

    def coerce(self, raw: Any) -> Any:
        """Convert an incoming value (JSON or form text) to the declared type, or raise naming the field."""
        where = f"params.{self.name}"
        try:
            if self.type == "bool":
                if isinstance(raw, bool):
                    value = raw
                elif str(raw).lower() in {"true", "1", "yes", "on"}:
                    value = True
                elif str(raw).lower() in {"false", "0", "no", "off"}:
                    value = False
                else:
                    raise ValueError
            elif self.type == "int":
                if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                    raise ValueError
                value = int(str(raw))
            elif self.type == "decimal":
                if isinstance(raw, bool):
                    raise ValueError
                value = Decimal(str(raw))
                if not value.is_finite():
                    raise ValueError
            else:
                if not isinstance(raw, str):
                    raise ValueError
                value = raw
        except (ValueError, TypeError, InvalidOperation):
            raise ApplicationError(f"{self.name} must be a {self.type}, got {raw!r}.", field=where) from None
        if self.minimum is not None and value < self.minimum:
            raise ApplicationError(f"{self.name} must be at least {self.minimum}.", field=where)
        if self.maximum is not None and value > self.maximum:
            raise ApplicationError(f"{self.name} must be at most {self.maximum}.", field=where)
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ApplicationError(f"{self.name} is not in the expected form, got {raw!r}.", field=where)
        if self.choices and value not in self.choices:
            raise ApplicationError(f"{self.name} must be one of {', '.join(map(str, self.choices))}.", field=where)
        return value

    def json_schema(self) -> dict:
        kind = {"int": "integer", "decimal": "number", "bool": "boolean", "str": "string"}[self.type]
        schema: dict[str, Any] = {"type": kind, "description": self.help, "default": _jsonable(self.default)}
        if self.minimum is not None:
            schema["minimum"] = _jsonable(self.minimum)
        if self.maximum is not None:
            schema["maximum"] = _jsonable(self.maximum)
        if self.pattern:
            schema["pattern"] = f"^(?:{self.pattern})$"
        if self.choices:
            schema["enum"] = [_jsonable(c) for c in self.choices]
        return schema


def _jsonable(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: key, description, parameters, warm-up length (in candles of
    `timeframe`) and its pure decision function `decide(Context) -> Decision` (strategies.base).

    `warmup` is a fixed count, or a function of the typed params when the lookback depends on
    them (an EMA period, a higher timeframe).

    `prepare(bars, params, last=None)`, when given, computes the strategy's indicators for every bar at once
    (see strategies.base). Two of its columns are read by the backtester to skip candles on which
    nothing can happen: `wake_flat` (bool) is False on a bar where a flat strategy with no order
    working would place nothing, and `wake_holding` likewise while it holds a position. On such a
    bar `decide` may still change its state, but only in a way the next decision would repeat.

    `uses_signals` asks the runtime to load the organization's valid stored signals for the bot's
    symbol into `Context.market_signals` at every tick (one query; other strategies pay none)."""

    key: str
    label: str
    summary: str
    params: tuple[Param, ...]
    warmup: int | Callable[[dict[str, Any]], int] = 0
    timeframe: str = "5m"
    needs_second_account: bool = False
    uses_signals: bool = False
    decide: Callable[..., Any] | None = None
    prepare: Callable[..., dict[str, Any]] | None = None
    extra: dict = field(default_factory=dict)

    def warmup_bars(self, params: dict[str, Any]) -> int:
        """Closed candles the decision needs, for these (typed) params."""
        return self.warmup(params) if callable(self.warmup) else self.warmup

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def json_schema(self) -> dict:
        return {
            "title": self.label,
            "description": self.summary,
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "additionalProperties": False,
        }


_REGISTRY: dict[str, StrategySpec] = {}


def register(spec: StrategySpec) -> StrategySpec:
    if spec.key in _REGISTRY:
        raise ValueError(f"Strategy {spec.key!r} is registered twice.")
    _REGISTRY[spec.key] = spec
    return spec


def get(key: str) -> StrategySpec:
    _load_builtins()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ApplicationError(
            f"Unknown strategy {key!r}; choose one of {', '.join(sorted(_REGISTRY))}.", field="strategy"
        ) from None


def all_specs() -> list[StrategySpec]:
    _load_builtins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def choices() -> list[tuple[str, str]]:
    return [(s.key, s.label) for s in all_specs()]


def validate_params(key: str, params: dict | None) -> dict[str, Any]:
    """Return the full, typed parameter dict (defaults filled in) or raise naming the bad field."""
    spec = get(key)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ApplicationError("params must be a JSON object.", field="params")
    unknown = sorted(set(params) - {p.name for p in spec.params})
    if unknown:
        raise ApplicationError(f"Unknown parameter(s) for {key}: {', '.join(unknown)}.", field=f"params.{unknown[0]}")
    return {p.name: p.coerce(params[p.name]) if p.name in params else p.default for p in spec.params}


def params_to_json(params: dict[str, Any]) -> dict[str, Any]:
    """Typed params as stored in a JSONField: Decimals as strings so no precision is lost."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in params.items()}


def _load_builtins() -> None:
    from strategies import builtin  # noqa: F401 - registers on import
