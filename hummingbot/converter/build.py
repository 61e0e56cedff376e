"""Filling one config's keys: Hummingbot's defaults, then the user's overrides of Hummingbot-only
keys, then what the bot dictates. Every key the bot dictates remembers the input it came from, so
an error names that input and an override cannot quietly replace it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import ApplicationError
from hummingbot.converter.config import plain
from hummingbot.converter.schema import Key, Mode


def _default(key: Key) -> Any:
    if key.kind == "mode":
        return {}
    if isinstance(key.default, tuple):
        return list(key.default)
    return copy.deepcopy(key.default)


def describe(key: Key) -> str:
    low, low_in, high, high_in = key.bounds()
    parts = []
    if low is not None:
        parts.append(f"at least {plain(low)}" if low_in else f"greater than {plain(low)}")
    if high is not None:
        parts.append(f"at most {plain(high)}" if high_in else f"less than {plain(high)}")
    out = " and ".join(parts)
    if key.off is not None:
        out += f" (or {plain(key.off)} for off)"
    return out


def coerce(key: Key, raw: Any, where: str) -> Any:
    """An override value as the key's type, or an error naming `where`."""
    if raw is None:
        if key.default is None:
            return None
        raise ApplicationError(f"{key.name} needs a value.", field=where)
    try:
        if key.kind == "decimal":
            if isinstance(raw, bool):
                raise ValueError
            value = Decimal(str(raw).strip())
            if not value.is_finite():
                raise ValueError
            return value
        if key.kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(str(raw).strip().removesuffix(".0"))
        if key.kind == "bool":
            if isinstance(raw, bool):
                return raw
            return {"true": True, "yes": True, "false": False, "no": False}[str(raw).strip().lower()]
        if key.kind == "str" and isinstance(raw, str):
            return raw
    except (ValueError, KeyError, InvalidOperation):
        pass
    raise ApplicationError(f"{key.name} must be a {key.kind}, got {raw!r}.", field=where)


def _pick_mode(key: Key, raw: Any, where: str) -> tuple[Mode, dict[str, Any]]:
    """A mode override: a title (its sub-keys at their defaults) or a mapping of sub-keys."""
    titles = ", ".join(m.title for m in key.modes)
    if isinstance(raw, str):
        given: dict[str, Any] = {}
        matches = [m for m in key.modes if m.title == raw]
    elif isinstance(raw, Mapping):
        given = dict(raw)
        matches = [m for m in key.modes if set(given) <= {k.name for k in m.keys}]
    else:
        matches = []
    if not matches:
        raise ApplicationError(f"{key.name} must be one of {titles}, or a mapping of one's keys.", field=where)
    mode = matches[0]
    values = {}
    for sub in mode.keys:
        if sub.name in given:
            values[sub.name] = coerce(sub, given[sub.name], f"{where}.{sub.name}")
        elif sub.default is None:
            raise ApplicationError(f"{key.name} {mode.title} needs {sub.name}.", field=f"{where}.{sub.name}")
        else:
            values[sub.name] = sub.default
    return mode, values


def check(key: Key, value: Any, where: str) -> None:
    """Raise unless `value` is what Hummingbot accepts for `key`."""
    if value is None or key.kind in ("fixed", "list", "json", "str", "bool", "mode"):
        if key.choices and value is not None and value not in key.choices:
            raise ApplicationError(f"{key.name} must be one of {', '.join(map(str, key.choices))}.", field=where)
        return
    if key.choices and value not in key.choices:
        raise ApplicationError(f"{key.name} must be one of {', '.join(map(str, key.choices))}.", field=where)
    if key.off is not None and value == key.off:
        return
    low, low_in, high, high_in = key.bounds()
    number = Decimal(value)
    bad = (low is not None and (number < low or (number == low and not low_in))) or (
        high is not None and (number > high or (number == high and not high_in))
    )
    if bad:
        raise ApplicationError(f"{key.name} must be {describe(key)}, got {plain(number)}.", field=where)


class Builder:
    """The values of one config while they are being decided."""

    def __init__(self, schema: tuple[Key, ...], overrides: Mapping[str, Any] | None) -> None:
        self.keys = {k.name: k for k in schema}
        self.values: dict[str, Any] = {k.name: _default(k) for k in schema}
        self.modes: dict[str, str] = {k.name: k.modes[0].title for k in schema if k.kind == "mode"}
        self.sources: dict[str, str] = {}
        self.overridden: set[str] = set()
        for name, raw in (overrides or {}).items():
            self._override(str(name), raw)

    def _override(self, name: str, raw: Any) -> None:
        where = f"overrides.{name}"
        key = self.keys.get(name)
        if key is None:
            known = ", ".join(k for k, v in self.keys.items() if v.kind != "fixed")
            raise ApplicationError(f"{name} is not a key of this Hummingbot config; known keys: {known}.", field=where)
        if key.kind in ("fixed", "json", "list"):
            raise ApplicationError(
                f"{name} cannot be set through overrides: it is fixed, or it would bypass the size and level "
                "checks made from the bot's params and limits.",
                field=where,
            )
        if key.kind == "mode":
            mode, values = _pick_mode(key, raw, where)
            self.modes[name] = mode.title
            self.values[name] = values
        else:
            self.values[name] = coerce(key, raw, where)
        self.overridden.add(name)

    def field(self, name: str) -> str:
        """The input a key's value comes from: one of ours, or else the override that sets it."""
        return self.sources.get(name, f"overrides.{name}")

    def set(self, name: str, value: Any, source: str) -> None:
        """A value the bot dictates."""
        self.values[name] = value
        self.sources[name] = source

    def suggest(self, name: str, value: Any) -> None:
        """A default of ours for a Hummingbot-only key; an override wins."""
        if name not in self.overridden:
            self.values[name] = value

    def sub(self, name: str, sub: str) -> Any:
        """A sub-key of a mode key (None when the chosen mode has no such key)."""
        return self.values[name].get(sub)

    def finish(self) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """(values, modes, sources) once every value is checked; an override of a key the bot
        dictates is refused here, naming where that key comes from."""
        for name in sorted(self.overridden & set(self.sources)):
            raise ApplicationError(
                f"{name} comes from {self.sources[name]}; change it there, not in overrides.",
                field=f"overrides.{name}",
            )
        for name, key in self.keys.items():
            value = self.values[name]
            check(key, value, self.field(name))
            if key.kind == "mode":
                mode = next(m for m in key.modes if m.title == self.modes[name])
                for sub in mode.keys:
                    check(sub, value.get(sub.name), f"{self.field(name)}.{sub.name}")
        return dict(self.values), {k: v for k, v in self.modes.items()}, dict(self.sources)
