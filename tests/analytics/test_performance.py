"""The pure statistics against values worked out by hand (arithmetic in the comments)."""

import datetime as dt
import math
from decimal import Decimal

import pandas as pd
import pytest

from analytics import performance as perf

UTC = dt.UTC


def day(n: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2, tzinfo=UTC) + dt.timedelta(days=n, hours=hour)  # 2 March 2026 is a Monday


def curve(values, *, hour: int = 23) -> pd.Series:
    return pd.Series(
        [Decimal(str(v)) for v in values], index=pd.DatetimeIndex([day(i, hour) for i in range(len(values))])
    )


# Daily equity 100 -> 110 -> 99 -> 118.8 -> 112.86: returns +10 %, -10 %, +20 %, -5 %.
EQUITY = curve(["100", "110", "99", "118.8", "112.86"])
TRADES = pd.DataFrame(
    {
        "opened_at": pd.to_datetime([day(0), day(0, 6), day(2), day(3)], utc=True),
        "closed_at": pd.to_datetime([day(0, 12), day(1), day(2, 6), None], utc=True),
        "pnl": [Decimal("10"), Decimal("-5"), Decimal("20"), Decimal("-2.5")],
    }
)


def test_daily_returns_of_an_equity_curve():
    returns = perf.equity_returns(EQUITY)
    # The first day is measured from the curve's first value (a flat day), then day over day.
    assert list(returns.round(12)) == [0.0, 0.1, -0.1, 0.2, -0.05]


def test_return_and_risk_ratios_match_the_hand_computation():
    returns = perf.equity_returns(EQUITY).iloc[1:]  # the four days with a change
    # total: 112.86 / 100 - 1 = 0.1286
    assert perf.total_return(returns) == pytest.approx(0.1286)
    # annualised over 4 days: 1.1286 ** (365 / 4) - 1
    assert perf.annualized_return(returns) == pytest.approx(1.1286 ** (365 / 4) - 1)
    # mean 0.0375; deviations .0625 -.1375 .1625 -.0875; squares .00390625 .01890625
    # .02640625 .00765625 sum to .056875; / 3 -> sd .1376893
    sd = math.sqrt(0.056875 / 3)
    assert perf.sharpe_ratio(returns) == pytest.approx(0.0375 / sd * math.sqrt(365))
    assert perf.sharpe_ratio(returns) == pytest.approx(5.2033, abs=1e-4)
    # downside: (.1**2 + .05**2) / 4 = .003125 -> .0559017; .0375 / .0559017 = .670820; * sqrt(365) = 12.8160
    assert perf.sortino_ratio(returns) == pytest.approx(0.0375 / math.sqrt(0.003125) * math.sqrt(365))
    assert perf.sortino_ratio(returns) == pytest.approx(12.8160, abs=1e-4)


def test_max_drawdown_and_its_duration():
    # Peaks 110 (day 1) -> trough 99 (day 2): 10 %, recovered at 118.8 on day 3 -> 2 days.
    # The later fall 118.8 -> 112.86 is 5 % and not recovered.
    depth, duration = perf.max_drawdown(EQUITY)
    assert depth == pytest.approx(0.10)
    assert duration == dt.timedelta(days=2)


def test_an_unrecovered_drawdown_lasts_until_the_last_point():
    depth, duration = perf.max_drawdown(curve(["100", "120", "90", "100"]))
    assert depth == pytest.approx(0.25)  # 30 / 120
    assert duration == dt.timedelta(days=2)


def test_trade_statistics():
    stats = perf.trade_stats(TRADES)
    # Closed: +10, -5, +20 (the -2.5 one is still open).
    assert stats["trades"] == 3
    assert stats["win_rate"] == pytest.approx(2 / 3)
    assert stats["profit_factor"] == pytest.approx(30 / 5)
    assert stats["average_trade"] == Decimal("25") / 3
    assert stats["net_pnl"] == Decimal("25")
    assert stats["gross_loss"] == Decimal("5")


def test_statistics_without_losses_or_trades_are_none_not_infinite():
    only_wins = TRADES.iloc[[0, 2]]
    assert perf.trade_stats(only_wins)["profit_factor"] is None
    empty = perf.trade_stats(TRADES.iloc[0:0])
    assert empty["trades"] == 0
    assert empty["win_rate"] is None
    assert empty["average_trade"] is None
    assert perf.sharpe_ratio(pd.Series([0.01, 0.01, 0.01])) is None  # no variance


def test_exposure_time_counts_overlaps_once_and_open_trades_to_the_end():
    # [d0 00h, d0 12h] and [d0 06h, d1 00h] overlap: 24 h; [d2 00h, d2 06h]: 6 h;
    # the open one from d3 00h runs to the end d4 00h: 24 h. 54 h of 96 h.
    assert perf.exposure_time(TRADES, start=day(0), end=day(4)) == pytest.approx(54 / 96)


def test_portfolio_returns_do_not_count_a_new_bots_capital_as_gain():
    a = curve(["100", "110", "121"])
    b = pd.Series([Decimal("50"), Decimal("45")], index=pd.DatetimeIndex([day(1, 23), day(2, 23)]))
    returns = perf.portfolio_returns({"a": a, "b": b})
    # day 1: a +10 on 100 (b only starts) -> 0.10; day 2: (a +11, b -5) / (110 + 50) = 6 / 160
    assert list(returns.round(12)) == [0.1, round(6 / 160, 12)]


def test_performance_report_has_every_statistic():
    returns = perf.equity_returns(EQUITY)
    report = perf.performance(returns=returns, trades=TRADES, start=day(0), end=day(4))
    assert report["total_return"] == pytest.approx(0.1286)
    assert report["max_drawdown"] == pytest.approx(0.10)
    assert report["win_rate"] == pytest.approx(2 / 3)
    assert report["exposure_time"] == pytest.approx(54 / 96)
    assert report["days"] == 5


def test_daily_summary():
    summary = perf.period_summary(EQUITY, TRADES, freq="D")
    assert list(summary["end_equity"]) == [
        Decimal("100"),
        Decimal("110"),
        Decimal("99"),
        Decimal("118.8"),
        Decimal("112.86"),
    ]
    assert list(summary["pnl"]) == [Decimal("0"), Decimal("10"), Decimal("-11"), Decimal("19.8"), Decimal("-5.94")]
    assert list(summary["return"].round(12)) == [0.0, 0.1, -0.1, 0.2, -0.05]
    # Closed trades: day 0 (+10), day 1 (-5, closed at 00:00 of day 1), day 2 (+20).
    assert list(summary["trades"]) == [1, 1, 1, 0, 0]
    assert list(summary["trade_pnl"]) == [Decimal("10"), Decimal("-5"), Decimal("20"), Decimal("0"), Decimal("0")]


def test_weekly_summary_starts_on_monday():
    # Ten days from Monday 2 March: week of 2 March (7 days) and week of 9 March (3 days).
    ten = curve([str(100 + i) for i in range(10)])
    summary = perf.period_summary(ten, TRADES, freq="W")
    assert [p.date() for p in summary.index] == [dt.date(2026, 3, 2), dt.date(2026, 3, 9)]
    assert list(summary["start_equity"]) == [Decimal("100"), Decimal("106")]
    assert list(summary["end_equity"]) == [Decimal("106"), Decimal("109")]
    assert list(summary["pnl"]) == [Decimal("6"), Decimal("3")]
    assert list(summary["trades"]) == [3, 0]
    assert list(summary["trade_pnl"]) == [Decimal("25"), Decimal("0")]
