"""The Elliott impulse count: hand-built impulses, one variant per broken rule, counts in progress,
and every count on the bundled real candles checked against the rules independently."""

from __future__ import annotations

import itertools

import pytest

from core.errors import ApplicationError
from signals.factors.elliott import elliott_factor, impulse_count, rules_hold
from signals.factors.pivots import Pivot
from tests.signals.test_pivots import STEP, T0, path_bars, real_bars, window

# 100 -> 120 (wave 1: 20), back 0.55 to 109, up 1.618 x 20 to 141.36, back 0.382 of 32.36 to 129,
# up 20 (wave 5 = wave 1) to 149
IDEAL = [100, 120, 109, 141.36, 129, 149]
# every rule kept, every guideline missed: wave 2 retraces 0.95, wave 3 2.45 x wave 1, wave 4 0.59
BARELY = [100, 120, 101, 150, 121, 170]
R4 = 12.36 / 32.36


def pivots_at(prices: list[float], first: str = "low") -> list[Pivot]:
    other = {"low": "high", "high": "low"}
    kinds = [first if k % 2 == 0 else other[first] for k in range(len(prices))]
    return [
        Pivot(k * 5, T0 + k * 5 * STEP, float(p), kind) for k, (p, kind) in enumerate(zip(prices, kinds, strict=True))
    ]


def test_an_impulse_built_to_the_rules_is_counted_with_its_labels_at_the_right_times():
    # the drop to 140 after 149 confirms point 5
    result = elliott_factor(path_bars([*IDEAL, 140]))
    assert result.name == "elliott"
    assert result.detail["waves"] == [
        {"label": str(k), "ts": T0 + k * 5 * STEP, "price": float(p)} for k, p in enumerate(IDEAL)
    ]
    assert result.detail["valid"] is True
    assert result.detail["direction"] == "up" and result.detail["next_direction"] == "down"
    # 0.3 (w3 = 1.618 w1) + 0.2 (r2 0.55) + 0.2 * fit(r4 ~ 0.382) + 0.15 * |0.55 - r4| / 0.25 + 0.15 (w5 = w1)
    expected = 0.3 + 0.2 + 0.2 * (1 - abs(R4 - 0.382) / 0.25) + 0.15 * abs(0.55 - R4) / 0.25 + 0.15
    assert result.detail["confidence"] == pytest.approx(expected, abs=1e-4)
    assert expected == pytest.approx(0.9508, abs=1e-4)
    assert result.score == pytest.approx(-0.5 * expected, abs=1e-4)  # a correction follows wave 5


def test_a_down_impulse_is_the_mirror():
    mirrored = [300 - p for p in IDEAL]
    count = impulse_count(pivots_at(mirrored, "high"))
    assert count is not None and count.complete and count.direction == -1 and count.next_direction == 1
    assert count.confidence == pytest.approx(impulse_count(pivots_at(IDEAL)).confidence)


def test_an_ideal_impulse_is_more_confident_than_a_barely_valid_one():
    ideal, barely = impulse_count(pivots_at(IDEAL)), impulse_count(pivots_at(BARELY))
    assert ideal.complete and barely.complete
    # barely: 0.3 * (1 - (2.45 - 1.618)) + 0.2 * 0 + 0.2 * (1 - (29/49 - 0.382) / 0.25) + 0.15 * 1 + 0.15 * 0
    assert barely.confidence == pytest.approx(0.3 * 0.168 + 0.2 * (1 - (29 / 49 - 0.382) / 0.25) + 0.15, abs=1e-4)
    assert ideal.confidence > 0.9 > 0.3 > barely.confidence


@pytest.mark.parametrize(
    ("prices", "rule"),
    [
        ([100, 120, 99, 141.36, 129, 149], "wave 2 beyond wave 1's start"),
        ([100, 120, 110, 128, 122, 145], "wave 3 (18) the shortest"),
        ([100, 120, 110, 130, 125, 150], "wave 3 tied with wave 1 for shortest"),
        ([100, 120, 110, 145, 119, 150], "wave 4 into wave 1's territory"),
    ],
)
def test_an_impulse_breaking_one_rule_is_not_counted(prices, rule):
    assert rules_hold([float(p) for p in IDEAL], 1)
    assert not rules_hold([float(p) for p in prices], 1), rule
    count = impulse_count(pivots_at(prices))
    assert count is None or not count.complete
    waves = elliott_factor(path_bars([*prices, prices[-1] * 0.94])).detail["waves"]
    assert len(waves) != 6


def test_a_count_to_wave_4_anticipates_wave_5():
    result = elliott_factor(path_bars([100, 120, 109, 141.36, 129, 135]))
    assert [w["label"] for w in result.detail["waves"]] == ["0", "1", "2", "3", "4"]
    assert result.detail["next_direction"] == "up"
    # the guidelines known so far (wave 5 not yet), renormalised, x 0.8 for the unknown wave 5
    known = 0.3 + 0.2 + 0.2 * (1 - abs(R4 - 0.382) / 0.25) + 0.15 * abs(0.55 - R4) / 0.25
    confidence = known / 0.85 * 0.8
    assert result.detail["confidence"] == pytest.approx(confidence, abs=1e-4)
    assert result.score == pytest.approx(0.8 * confidence, abs=1e-4)


def test_a_count_to_wave_3_expects_the_wave_4_pull_back():
    result = elliott_factor(path_bars([200, 180, 191, 158.64, 165]))
    assert [w["price"] for w in result.detail["waves"]] == [200.0, 180.0, 191.0, 158.64]
    assert result.detail["direction"] == "down" and result.detail["next_direction"] == "up"
    assert result.detail["confidence"] == pytest.approx(0.6)  # both guidelines met, x 0.6
    assert result.score == pytest.approx(0.4 * 0.6)  # -0.4 x down (-1) x 0.6: the pull-back is up


def test_a_count_in_progress_broken_by_the_last_close_is_dropped():
    pivots = pivots_at([100, 120, 109, 141.36])
    assert impulse_count(pivots) is not None
    assert impulse_count(pivots, last_price=119.0) is None  # inside wave 1's territory
    result = elliott_factor(path_bars([100, 120, 109, 141.36, 118], steps=6))
    assert result.score == 0.0 and result.detail["valid"] is False and result.detail["waves"] == []
    # wave 3 (15) shorter than wave 1 (20): wave 5 may not reach 15 (from 125) either
    short3 = pivots_at([100, 120, 115, 130, 125])
    assert impulse_count(short3, last_price=139.0) is not None
    assert impulse_count(short3, last_price=140.0) is None


def test_too_few_candles_or_pivots_give_no_view():
    assert "Too few candles" in elliott_factor(path_bars([100, 120], steps=5)).reason
    few = elliott_factor(path_bars([100, 120, 105], steps=10))
    assert few.score == 0.0 and "Too few 3% pivots" in few.reason and few.detail["valid"] is False
    assert impulse_count([]) is None
    with pytest.raises(ApplicationError) as e:
        elliott_factor(path_bars([100, 120, 105], steps=10), zigzag_pct=-2)
    assert e.value.field == "zigzag_pct"


def check_rules_independently(waves: list[dict], close: float) -> None:
    p = [w["price"] for w in waves]
    assert [w["label"] for w in waves] == [str(k) for k in range(len(waves))]
    assert all(a["ts"] < b["ts"] for a, b in itertools.pairwise(waves))
    up = p[1] > p[0]
    q = p if up else [-x for x in p]  # read a down count as an up one
    for k in range(len(q) - 1):
        assert (q[k + 1] > q[k]) == (k % 2 == 0)  # odd waves with the trend, even ones against
    assert q[2] > q[0], "wave 2 went beyond the start of wave 1"
    if len(q) >= 5:
        assert q[4] > q[1], "wave 4 entered wave 1's territory"
    if len(q) == 6:
        w1, w3, w5 = q[1] - q[0], q[3] - q[2], q[5] - q[4]
        assert w3 > w1 or w3 > w5, "wave 3 is the shortest"
    else:
        c = close if up else -close
        assert c > q[1], "the price is back inside wave 1"


@pytest.mark.parametrize("name", ["BTC_USDT-5m", "ETH_USDT-5m", "SOL_USDT-5m", "ETH_USDT-1h"])
def test_every_count_on_real_candles_keeps_the_three_rules(name):
    bars = real_bars(name)
    sizes = {4: 0, 5: 0, 6: 0}
    for pct in (0.75, 1.5, 3.0):
        for end in range(300, len(bars), 61):
            sub = window(bars, max(0, end - 1000), end)
            detail = elliott_factor(sub, zigzag_pct=pct).detail
            if detail["waves"]:
                assert detail["valid"] and 0 <= detail["confidence"] <= 1
                check_rules_independently(detail["waves"], float(sub.close[-1]))
                sizes[len(detail["waves"])] += 1
            else:
                assert detail["valid"] is False
    assert sizes[6] > 5 and sizes[4] > 5, sizes
