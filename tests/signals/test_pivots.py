"""Zigzag pivots on hand-built price paths and on the bundled real candles."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from backtest.data import bars_from_file
from core.errors import ApplicationError
from signals.factors.pivots import Pivot, zigzag, zigzag_state
from strategies.base import Bars

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
T0 = 1_700_000_000_000
STEP = 300_000


def path_bars(waypoints: list[float], steps: int = 5) -> Bars:
    """Candles walking straight from waypoint to waypoint in `steps` bars per leg, each candle a
    single price (open = high = low = close), so waypoint k sits at bar k * steps."""
    prices = [waypoints[0]]
    for a, b in itertools.pairwise(waypoints):
        prices += [a + (b - a) * j / steps for j in range(1, steps + 1)]
    p = np.asarray(prices, dtype=np.float64)
    ts = T0 + STEP * np.arange(len(p), dtype=np.int64)
    return Bars(ts, p.copy(), p.copy(), p.copy(), p.copy(), np.ones_like(p))


def real_bars(name: str = "BTC_USDT-5m") -> Bars:
    return bars_from_file(DATA / f"{name}.json.gz")


def window(bars: Bars, start: int, end: int) -> Bars:
    return Bars(*(a[start:end] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)))


def test_a_zigzag_through_known_prices_gives_those_pivots():
    bars = path_bars([100, 120, 105, 130, 110, 125])
    pivots = zigzag(bars.high, bars.low, bars.ts, 3.0)
    assert pivots == [
        Pivot(index=0, ts=T0, price=100.0, kind="low"),
        Pivot(index=5, ts=T0 + 5 * STEP, price=120.0, kind="high"),
        Pivot(index=10, ts=T0 + 10 * STEP, price=105.0, kind="low"),
        Pivot(index=15, ts=T0 + 15 * STEP, price=130.0, kind="high"),
        Pivot(index=20, ts=T0 + 20 * STEP, price=110.0, kind="low"),
    ]


def test_the_open_last_leg_is_tentative_and_each_pivot_is_confirmed_by_a_later_bar():
    bars = path_bars([100, 120, 105, 130, 110, 125])
    state = zigzag_state(bars.high, bars.low, bars.ts, 3.0)
    assert state.tentative == Pivot(index=25, ts=T0 + 25 * STEP, price=125.0, kind="high")
    # 100 -> 120 in steps of 4: 104 is the first price >= 103 (100 * 1.03); 120 -> 105 in steps of
    # 3: 114 is the first <= 116.4; 105 -> 130 by 5: 110 >= 108.15; 130 -> 110 by 4: 126 <= 126.1;
    # 110 -> 125 by 3: 116 >= 113.3.
    assert state.confirmed_at == [1, 7, 11, 16, 22]


def test_a_reversal_smaller_than_pct_makes_no_pivot():
    bars = path_bars([100, 120, 117, 130])  # 120 -> 117 is 2.5%
    assert zigzag(bars.high, bars.low, bars.ts, 3.0) == [Pivot(0, T0, 100.0, "low")]


def test_a_bar_making_a_new_high_does_not_also_confirm_it():
    high = np.array([100.0, 104.0, 120.0, 119.0, 118.0])
    low = np.array([99.0, 103.0, 110.0, 117.0, 116.0])
    ts = T0 + STEP * np.arange(5)
    state = zigzag_state(high, low, ts, 3.0)
    # Bar 2 makes the high 120 and trades down to 110 (below 116.4) in the same candle: unknown
    # order, so only bar 4's 116 <= 116.4 confirms the high.
    assert state.pivots == [Pivot(0, T0, 99.0, "low"), Pivot(2, T0 + 2 * STEP, 120.0, "high")]
    assert state.confirmed_at == [1, 4]


def test_pivots_use_highs_for_highs_and_lows_for_lows():
    high = np.array([10.0, 10.5, 11.0, 10.6, 10.2, 10.9])
    low = np.array([9.8, 10.2, 10.6, 10.3, 9.9, 10.5])
    ts = T0 + STEP * np.arange(6)
    pivots = zigzag(high, low, ts, 3.0)
    # low 9.8 confirmed by 10.5 >= 10.094; high 11.0 by 10.3 <= 10.67; low 9.9 by 10.9 >= 10.197
    assert [(p.index, p.price, p.kind) for p in pivots] == [(0, 9.8, "low"), (2, 11.0, "high"), (4, 9.9, "low")]


@pytest.mark.parametrize("pct", [0, -1, 50, 75, "x", None])
def test_a_bad_zigzag_pct_is_refused_on_its_field(pct):
    bars = path_bars([100, 120, 105])
    with pytest.raises(ApplicationError) as e:
        zigzag(bars.high, bars.low, bars.ts, pct)
    assert e.value.field == "zigzag_pct"


def test_no_candles_give_no_pivots():
    empty = Bars.empty()
    assert zigzag_state(empty.high, empty.low, empty.ts, 3.0).pivots == []


@pytest.mark.parametrize(("name", "pct"), [("BTC_USDT-5m", 1.0), ("ETH_USDT-1h", 3.0), ("XRP_USDT-5m", 2.0)])
def test_real_pivots_alternate_and_each_leg_reverses_at_least_pct(name, pct):
    bars = real_bars(name)
    pivots = zigzag(bars.high, bars.low, bars.ts, pct)
    assert len(pivots) > 20
    for a, b in itertools.pairwise(pivots):
        assert a.kind != b.kind and a.index < b.index
        if a.kind == "low":
            assert b.price >= a.price * (1 + pct / 100)
            # a pivot high is the highest high after the low before it (that low's own bar aside:
            # a bar's new extreme is never read as its own reversal), a pivot low the mirror
            assert b.price == bars.high[a.index + 1 : b.index + 1].max()
        else:
            assert b.price <= a.price * (1 - pct / 100)
            assert b.price == bars.low[a.index + 1 : b.index + 1].min()


@pytest.mark.parametrize("name", ["BTC_USDT-5m", "SOL_USDT-5m"])
def test_real_pivots_of_a_prefix_are_the_confirmed_pivots_of_the_whole(name):
    bars = real_bars(name)
    full = zigzag_state(bars.high, bars.low, bars.ts, 1.5)
    for cut in range(50, len(bars), 997):
        head = window(bars, 0, cut)
        seen = zigzag(head.high, head.low, head.ts, 1.5)
        assert seen == [p for p, at in zip(full.pivots, full.confirmed_at, strict=True) if at < cut]


def assert_plain(value) -> None:
    """Only plain JSON types all the way down (numpy scalars are not: np.float64 slips through
    json.dumps, np.int64 and np.bool_ do not)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            assert_plain(v)
    elif isinstance(value, list):
        for v in value:
            assert_plain(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), (value, type(value))
