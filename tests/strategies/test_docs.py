"""docs/strategies.md documents every registered strategy, and its parameter tables say exactly
what the registry accepts (names, order, types, defaults, bounds), so the page cannot drift."""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from strategies.registry import Param, all_specs

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"
HEADER = "| Parameter | Type | Default | Bounds | Meaning |"
SECTION = re.compile(r"^## `(?P<key>[a-z_]+)` — (?P<label>.+)$", re.M)


def sections() -> dict[str, tuple[str, str]]:
    """key -> (label, text of its section)."""
    text = DOC.read_text()
    found = list(SECTION.finditer(text))
    out = {}
    for n, m in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) else len(text)
        out[m["key"]] = (m["label"], text[m.end() : end])
    return out


def table(section: str) -> list[list[str]]:
    lines = section.splitlines()
    start = lines.index(HEADER)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def same_value(text: str, value: object) -> bool:
    if isinstance(value, bool):
        return text == str(value).lower()
    if isinstance(value, Decimal | int):
        return Decimal(text) == value
    return text == value


def bounds_match(text: str, p: Param) -> bool:
    if p.choices:
        return text == "one of " + ", ".join(f"`{c}`" for c in p.choices)
    if p.minimum is None and p.maximum is None:
        return text == "—"
    if p.maximum is None:
        return text.startswith("≥ ") and same_value(text[2:], p.minimum)
    low, high = text.split(" \N{EN DASH} ")
    return same_value(low, p.minimum) and same_value(high, p.maximum)


def test_every_strategy_has_a_section_with_its_label():
    found = sections()
    assert sorted(found) == [s.key for s in all_specs()]
    for spec in all_specs():
        assert found[spec.key][0] == spec.label


@pytest.mark.parametrize("spec", all_specs(), ids=lambda s: s.key)
def test_the_parameter_table_matches_the_registry(spec):
    rows = table(sections()[spec.key][1])
    assert [r[0] for r in rows] == [f"`{p.name}`" for p in spec.params]
    for (_, kind, default, bounds, meaning), p in zip(rows, spec.params, strict=True):
        assert kind == p.type, p.name
        assert same_value(default, p.default), f"{spec.key}.{p.name} default: doc {default}, registry {p.default}"
        assert bounds_match(bounds, p), f"{spec.key}.{p.name} bounds: doc {bounds}"
        assert meaning, p.name
