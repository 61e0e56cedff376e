"""Which rules an event matches: kind patterns, severity threshold and the dedupe fingerprint.
Pure functions of plain values, so they cost nothing per event."""

from __future__ import annotations

import hashlib
import re

from alerts.levels import at_least

_KIND = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_PREFIX = re.compile(r"^([a-z0-9_]+\.)*[a-z0-9_]*\*?$|^([a-z0-9_]+\.)+$")


def pattern_error(pattern: object) -> str | None:
    """Why a rule's kind pattern is unusable, or None when it is fine."""
    if not isinstance(pattern, str) or not pattern:
        return "Each event kind must be a non-empty string."
    if pattern == "*" or _KIND.match(pattern):
        return None
    if pattern.endswith(".") and _KIND.match(pattern[:-1]):
        return None
    if pattern.endswith("*") and _PREFIX.match(pattern):
        return None
    return f"{pattern!r} is not an event kind, a prefix ending in '.' or '*', or '*'."


def kind_matches(pattern: str, kind: str) -> bool:
    """`*` matches everything, `bot.` and `bot.watchdog*` match by prefix, anything else exactly."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return kind.startswith(pattern[:-1])
    if pattern.endswith("."):
        return kind.startswith(pattern)
    return kind == pattern


def rule_matches(*, patterns: list[str], min_level: str, kind: str, level: str) -> bool:
    return at_least(level, min_level) and any(kind_matches(p, kind) for p in patterns)


def fingerprint(*, rule_id: int, kind: str, bot_id: int | None, extra: str = "") -> str:
    """Occurrences with the same fingerprint are one alert (the organization is the rule's)."""
    raw = f"{rule_id}|{kind}|{bot_id if bot_id is not None else '-'}|{extra}"
    return hashlib.sha256(raw.encode()).hexdigest()
