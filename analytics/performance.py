"""Performance statistics on plain pandas data: no ORM, no I/O, so live reports and backtests
share them.

Inputs:
- an equity curve: a Series of equity values indexed by aware UTC timestamps (any spacing);
- trades: a DataFrame of round trips with `opened_at`, `closed_at` (NaT while open) and `pnl`
  (net of fees, in the quote currency).

Conventions (docs/metrics.md): returns are daily (the last equity of each UTC day, carried over
days without data), a year is 365 days (crypto trades every day), the risk-free rate is 0.
Ratios are floats; money comes back as Decimal. A statistic that is undefined for the data
(no trades, no variance, no losses) is None, never infinity or NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365
ZERO = Decimal("0")
TRADE_COLUMNS = ["opened_at", "closed_at", "pnl"]


def to_decimal(value: Any) -> Decimal:
    """A Decimal from a Decimal, int or float (a float through its shortest repr, so 0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ZERO
    return Decimal(str(value))


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


# -- returns ----------------------------------------------------------------------------------------
def daily_equity(equity: pd.Series) -> pd.Series:
    """The last equity of each UTC day (floats), carried forward over days without a point."""
    if equity.empty:
        return pd.Series(dtype=float)
    series = equity.sort_index().astype(float)
    return series.resample("D").last().ffill()


def equity_returns(equity: pd.Series) -> pd.Series:
    """Daily simple returns of an equity curve. The first day's return is measured from the
    curve's first value, so a curve that starts mid-day counts that day's change."""
    if equity.empty:
        return pd.Series(dtype=float)
    first = float(equity.sort_index().iloc[0])
    daily = daily_equity(equity)
    previous = daily.shift(1)
    previous.iloc[0] = first
    # A day after zero equity has no defined return: counted as flat.
    return (daily / previous.where(previous != 0) - 1.0).fillna(0.0)


def portfolio_returns(equities: Mapping[Any, pd.Series]) -> pd.Series:
    """Daily returns of several curves taken together (an organization's bots): each day the
    summed change of the curves present on both days over their summed equity the day before, so
    a bot that starts later adds its capital without counting it as a gain."""
    frames = {key: daily_equity(curve) for key, curve in equities.items() if not curve.empty}
    if not frames:
        return pd.Series(dtype=float)
    table = pd.DataFrame(frames)
    change = (table - table.shift(1)).sum(axis=1, min_count=1)
    base = table.shift(1).where(table.notna()).sum(axis=1, min_count=1)
    returns = (change / base.where(base != 0)).iloc[1:]
    return returns.fillna(0.0)


def growth_index(returns: pd.Series) -> pd.Series:
    """Compounded value of 1 invested at the start, with that starting 1 as the first point."""
    if returns.empty:
        return pd.Series(dtype=float)
    start = returns.index[0] - pd.Timedelta(days=1)
    index = (1.0 + returns).cumprod()
    return pd.concat([pd.Series([1.0], index=[start]), index])


# -- return and risk --------------------------------------------------------------------------------
def total_return(returns: pd.Series) -> float:
    return float((1.0 + returns).prod() - 1.0) if not returns.empty else 0.0


def annualized_return(returns: pd.Series, *, periods_per_year: int = DAYS_PER_YEAR) -> float | None:
    """Compound annual growth: (1 + total) ** (periods per year / periods) - 1."""
    if returns.empty:
        return None
    growth = 1.0 + total_return(returns)
    if growth <= 0:
        return -1.0
    return _finite(growth ** (periods_per_year / len(returns)) - 1.0)


def sharpe_ratio(returns: pd.Series, *, periods_per_year: int = DAYS_PER_YEAR) -> float | None:
    """Mean over sample standard deviation of the period returns, times sqrt(periods per year)."""
    if len(returns) < 2:
        return None
    std = float(returns.std(ddof=1))
    if std == 0 or not np.isfinite(std):
        return None
    return _finite(float(returns.mean()) / std * math.sqrt(periods_per_year))


def sortino_ratio(returns: pd.Series, *, periods_per_year: int = DAYS_PER_YEAR) -> float | None:
    """Mean return over the downside deviation (root mean square of the negative returns, with
    the positive ones counted as zero), times sqrt(periods per year)."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(float((returns.clip(upper=0.0) ** 2).mean()))
    if downside == 0:
        return None
    return _finite(float(returns.mean()) / downside * math.sqrt(periods_per_year))


def max_drawdown(curve: pd.Series) -> tuple[float, dt.timedelta]:
    """The deepest fall from a running peak, as a fraction of that peak (0.1 = 10 %), and how long
    that drawdown lasted: from the peak to the first point back at or above it, or to the last
    point when it has not recovered."""
    if curve.empty:
        return 0.0, dt.timedelta(0)
    values = curve.sort_index().astype(float)
    peak = values.cummax()
    depth = 1.0 - values / peak
    deepest = float(depth.max())
    if deepest <= 0:
        return 0.0, dt.timedelta(0)
    trough_at = depth.idxmax()
    at_peak = values >= peak
    peak_at = values.index[at_peak & (values.index <= trough_at)][-1]
    after = values.index[at_peak & (values.index > trough_at)]
    end_at = after[0] if len(after) else values.index[-1]
    return deepest, (end_at - peak_at).to_pytimedelta()


# -- trades -----------------------------------------------------------------------------------------
def trade_stats(trades: pd.DataFrame) -> dict[str, Any]:
    """Closed round trips only: count, win rate, profit factor (gross profit over gross loss),
    average, best and worst trade, gross profit and loss."""
    closed = trades[trades["closed_at"].notna()] if not trades.empty else trades
    pnls = [to_decimal(v) for v in closed["pnl"]] if not closed.empty else []
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit = sum(wins, ZERO)
    gross_loss = -sum(losses, ZERO)
    net = sum(pnls, ZERO)
    return {
        "trades": len(pnls),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": len(wins) / len(pnls) if pnls else None,
        "profit_factor": float(gross_profit / gross_loss) if gross_loss > 0 else None,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "net_pnl": net,
        "average_trade": net / len(pnls) if pnls else None,
        "best_trade": max(pnls) if pnls else None,
        "worst_trade": min(pnls) if pnls else None,
    }


def exposure_time(trades: pd.DataFrame, *, start: dt.datetime, end: dt.datetime) -> float:
    """Share of [start, end) during which at least one position was open (overlapping trades
    count once; a still-open trade runs to `end`)."""
    total = (end - start).total_seconds()
    if total <= 0 or trades.empty:
        return 0.0
    spans = []
    for opened, closed in zip(trades["opened_at"], trades["closed_at"], strict=True):
        if pd.isna(opened):
            continue
        lo = max(pd.Timestamp(opened), pd.Timestamp(start))
        hi = min(pd.Timestamp(end) if pd.isna(closed) else pd.Timestamp(closed), pd.Timestamp(end))
        if hi > lo:
            spans.append((lo, hi))
    spans.sort()
    covered = 0.0
    current_lo = current_hi = None
    for lo, hi in spans:
        if current_hi is None or lo > current_hi:
            if current_hi is not None:
                covered += (current_hi - current_lo).total_seconds()
            current_lo, current_hi = lo, hi
        else:
            current_hi = max(current_hi, hi)
    if current_hi is not None:
        covered += (current_hi - current_lo).total_seconds()
    return covered / total


# -- the report -------------------------------------------------------------------------------------
def performance(
    *,
    returns: pd.Series,
    trades: pd.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    periods_per_year: int = DAYS_PER_YEAR,
) -> dict[str, Any]:
    """Every statistic of a period from its daily returns and its round trips."""
    drawdown, drawdown_duration = max_drawdown(growth_index(returns))
    return {
        "start": start,
        "end": end,
        "days": len(returns),
        "total_return": total_return(returns),
        "annualized_return": annualized_return(returns, periods_per_year=periods_per_year),
        "sharpe": sharpe_ratio(returns, periods_per_year=periods_per_year),
        "sortino": sortino_ratio(returns, periods_per_year=periods_per_year),
        "max_drawdown": drawdown,
        "max_drawdown_duration": drawdown_duration,
        "exposure_time": exposure_time(trades, start=start, end=end),
        **trade_stats(trades),
    }


def period_summary(equity: pd.Series, trades: pd.DataFrame, *, freq: str = "D") -> pd.DataFrame:
    """One row per day (`freq="D"`) or per week starting Monday (`freq="W"`): equity at the start
    and the end, PnL (Decimal), return, and the round trips closed in the period with their net
    PnL. A period's start equity is the previous period's end (the curve's first value for the
    first period)."""
    columns = ["start_equity", "end_equity", "pnl", "return", "trades", "trade_pnl"]
    if equity.empty:
        return pd.DataFrame(columns=columns)
    rule = {"D": "D", "W": "W-MON"}[freq]
    options = {"label": "left", "closed": "left"} if freq == "W" else {}
    curve = equity.sort_index().map(to_decimal)
    end_equity = curve.resample(rule, **options).last().ffill()
    start_equity = end_equity.shift(1)
    start_equity.iloc[0] = curve.iloc[0]
    pnl = [e - s for s, e in zip(start_equity, end_equity, strict=True)]
    summary = pd.DataFrame(
        {
            "start_equity": start_equity,
            "end_equity": end_equity,
            "pnl": pnl,
            "return": [float(p / s) if s else None for p, s in zip(pnl, start_equity, strict=True)],
        },
        index=end_equity.index,
    )
    closed = trades[trades["closed_at"].notna()] if not trades.empty else trades
    counts = pd.Series(0, index=summary.index)
    sums = pd.Series([ZERO] * len(summary), index=summary.index, dtype=object)
    if not closed.empty:
        keyed = pd.Series([to_decimal(v) for v in closed["pnl"]], index=pd.DatetimeIndex(closed["closed_at"]))
        grouped = keyed.sort_index().resample(rule, **options)
        counts = counts.add(grouped.count(), fill_value=0).astype(int)
        for period, values in grouped:
            if period in sums.index:
                sums[period] = sum(values, ZERO)
    summary["trades"] = counts.reindex(summary.index, fill_value=0).astype(int)
    summary["trade_pnl"] = sums.reindex(summary.index)
    return summary[columns]
