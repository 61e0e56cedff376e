"""Support/resistance and double tops/bottoms on hand-built paths and on the bundled real candles,
and the plain pandas peer (bench/_pandas_structure.py) against them."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from bench._pandas_structure import structure_all
from core.errors import ApplicationError
from signals.factors.elliott import elliott_factor
from signals.factors.fibonacci import fibonacci_factor
from signals.factors.pivots import zigzag, zigzag_state
from signals.factors.structure import Level, cluster_levels, find_double, structure_factor
from strategies.base import Bars
from tests.signals.test_pivots import STEP, T0, assert_plain, path_bars, real_bars, window


def test_levels_group_prices_within_the_tolerance_of_their_mean():
    levels = cluster_levels([110.8, 100.0, 101.0, 110.0, 100.5], 1.0)
    # 100, 100.5 (<= 101), 101 (<= 100.25 * 1.01); 110 starts a level, 110.8 <= 111.1 joins it
    assert [lv.touches for lv in levels] == [3, 2]
    assert levels[0].price == pytest.approx(100.5) and levels[1].price == pytest.approx(110.4)
    assert cluster_levels([], 1.0) == []
    assert cluster_levels([100.0, 102.0], 1.0) == [Level(100.0, 1), Level(102.0, 1)]


def test_a_double_top_is_found_with_its_neckline_once_a_close_breaks_it():
    bars = path_bars([100, 120, 108, 120.5, 105])
    zz = zigzag_state(bars.high, bars.low, bars.ts, 3.0)
    found = find_double([*zz.pivots, zz.tentative], bars.close.tolist(), 1.0)
    assert found is not None and found.kind == "double_top"
    assert (found.first.price, found.second.price, found.neckline) == (120.0, 120.5, 108.0)
    assert (found.first.index, found.middle.index, found.second.index) == (5, 10, 15)
    assert found.confirmed_index == 20  # closes 117.4, 114.3, 111.2, 108.1, then 105 < 108
    assert found.target == pytest.approx(95.5)

    result = structure_factor(bars)
    assert result.name == "structure" and result.detail["pattern"] == "double_top"
    # levels 100, 108, 120.25 (120 and 120.5); close 105 sits 5/8 of the way from 100 to 108:
    # 0.4 * (1 - 2 * 0.625) = -0.1, and the double top -0.6
    assert result.detail["support"] == [100.0]
    assert result.detail["resistance"] == [108.0, 120.25]
    assert result.score == pytest.approx(-0.7)
    assert result.detail["pivots"] == [
        {"ts": T0, "price": 100.0, "kind": "low"},
        {"ts": T0 + 5 * STEP, "price": 120.0, "kind": "high"},
        {"ts": T0 + 10 * STEP, "price": 108.0, "kind": "low"},
        {"ts": T0 + 15 * STEP, "price": 120.5, "kind": "high"},
    ]


def test_a_double_top_without_a_close_through_the_neckline_is_no_pattern():
    result = structure_factor(path_bars([100, 120, 108, 120.5, 109]))
    assert result.detail["pattern"] is None
    # close 109 just above support 108, resistance 120.25: 0.4 * (1 - 2 * 1 / 12.25)
    assert result.score == pytest.approx(0.4 * (1 - 2 / 12.25))


@pytest.mark.parametrize(
    "path",
    [
        [100, 120, 108, 120.5, 95],  # the measured target 95.5 has been reached
        [100, 120, 108, 120.5, 105, 121],  # back above the higher top
        [100, 120, 108, 123, 105],  # tops 2.4% apart, beyond the 1% tolerance
    ],
)
def test_a_spent_broken_or_uneven_double_top_is_no_pattern(path):
    assert structure_factor(path_bars(path)).detail["pattern"] is None


def test_a_double_bottom_is_found_and_scores_bullish():
    bars = path_bars([120, 100, 112, 100.5, 115])
    zz = zigzag_state(bars.high, bars.low, bars.ts, 3.0)
    found = find_double([*zz.pivots, zz.tentative], bars.close.tolist(), 1.0)
    assert found is not None and found.kind == "double_bottom"
    assert (found.neckline, found.confirmed_index, found.target) == (112.0, 19, 124.0)
    result = structure_factor(bars)
    assert result.detail["pattern"] == "double_bottom"
    assert result.detail["support"] == [112.0, 100.25] and result.detail["resistance"] == [120.0]
    # 0.4 * (1 - 2 * 3 / 8) = 0.1, and the double bottom +0.6
    assert result.score == pytest.approx(0.7)


def test_a_close_above_every_level_is_a_mild_breakout():
    result = structure_factor(path_bars([100, 120, 105, 130], steps=7))
    assert result.detail["resistance"] == [] and result.detail["support"] == [120.0, 105.0, 100.0]
    assert result.score == pytest.approx(0.2)
    assert structure_factor(path_bars([100, 120, 105, 130], steps=7), max_levels=1).detail["support"] == [120.0]


def test_too_few_candles_or_no_swing_give_no_view():
    short = structure_factor(path_bars([100, 120], steps=9))
    assert short.score == 0.0 and "Too few candles" in short.reason and short.detail["pivots"] == []
    flat = structure_factor(path_bars([100, 101, 100.5, 101], steps=10))
    assert flat.score == 0.0 and "No 3% swing" in flat.reason
    assert set(flat.detail) == {"pivots", "support", "resistance", "pattern"}


@pytest.mark.parametrize(
    ("field", "kwargs"), [("zigzag_pct", {"zigzag_pct": 0}), ("tolerance_pct", {"tolerance_pct": 0})]
)
def test_bad_parameters_are_refused_on_their_field(field, kwargs):
    with pytest.raises(ApplicationError) as e:
        structure_factor(path_bars([100, 120, 105, 130], steps=7), **kwargs)
    assert e.value.field == field


@pytest.mark.parametrize("name", ["BTC_USDT-5m", "ETH_USDT-1h", "LINK_USDT-5m"])
def test_real_results_are_plain_json_and_deterministic(name):
    bars = real_bars(name)
    patterns = set()
    for end in range(1000, len(bars), 450):
        sub = window(bars, end - 1000, end)
        for factor in (structure_factor, fibonacci_factor, elliott_factor):
            first = factor(sub, zigzag_pct=1.5).as_json()
            assert_plain(first)
            assert json.dumps(first) == json.dumps(factor(sub, zigzag_pct=1.5).as_json())
            assert -1.0 <= first["score"] <= 1.0
        detail = structure_factor(sub, zigzag_pct=1.5).detail
        close = float(sub.close[-1])
        assert all(p < close for p in detail["support"]) and all(p >= close for p in detail["resistance"])
        assert detail["support"] == sorted(detail["support"], reverse=True)
        assert detail["resistance"] == sorted(detail["resistance"])
        kinds = [p["kind"] for p in detail["pivots"]]
        assert all(a != b for a, b in itertools.pairwise(kinds))
        patterns.add(detail["pattern"])
    assert None in patterns


def wavy_frame() -> tuple[Bars, pd.DataFrame]:
    i = np.arange(600, dtype=np.float64)
    mid = 100 + 10 * np.sin(i / 17) + 3 * np.sin(i / 4.3) + 0.02 * i
    high, low = mid + 0.4 + 0.3 * np.abs(np.sin(i)), mid - 0.4 - 0.3 * np.abs(np.cos(i))
    ts = T0 + STEP * np.arange(600, dtype=np.int64)
    bars = Bars(ts, mid.copy(), high, low, mid.copy(), np.ones_like(mid))
    return bars, pd.DataFrame({"ts": ts, "high": high, "low": low, "close": mid})


def test_the_pandas_peer_finds_the_same_pivots_on_a_constructed_series():
    bars, frame = wavy_frame()
    ours = zigzag(bars.high, bars.low, bars.ts, 3.0)
    assert len(ours) > 10
    peer = structure_all(frame, 3.0)
    assert peer["pivots"] == [p.as_json() for p in ours]
    assert peer["structure"]["score"] == pytest.approx(structure_factor(bars).score)


def test_the_pandas_peer_agrees_with_every_factor_on_real_candles():
    bars = real_bars("ETH_USDT-5m")
    for end in (1000, 4000, 7000, 10000):
        sub = window(bars, end - 1000, end)
        frame = pd.DataFrame({"ts": sub.ts, "high": sub.high, "low": sub.low, "close": sub.close})
        peer = structure_all(frame, 1.0)
        s = structure_factor(sub, zigzag_pct=1.0)
        f = fibonacci_factor(sub, zigzag_pct=1.0)
        e = elliott_factor(sub, zigzag_pct=1.0)
        assert peer["pivots"][-50:] == s.detail["pivots"]
        assert peer["structure"]["support"] == pytest.approx(s.detail["support"])
        assert peer["structure"]["pattern"] == s.detail["pattern"]
        assert peer["fibonacci"]["levels"] == pytest.approx(f.detail["levels"])
        assert peer["elliott"]["waves"] == e.detail["waves"]
        for ours, theirs in ((s, peer["structure"]), (f, peer["fibonacci"]), (e, peer["elliott"])):
            assert theirs["score"] == pytest.approx(ours.score, abs=1e-12)
