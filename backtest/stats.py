"""A backtest's statistics: its equity curve and round trips handed to the project's performance
functions (`analytics.performance`, the same definitions bot reports use), and the answer made
JSON-ready: ratios as floats (percentages where the name says `_pct`), money as Decimal text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from analytics import performance as perf

E8 = Decimal("1e-8")


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 4)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def money(value: Decimal | None) -> str | None:
    """Money as the statistics show it: Decimal text to 8 decimals."""
    return None if value is None else str(Decimal(value).quantize(E8))


def statistics(
    *,
    equity_ts: np.ndarray,
    equity: np.ndarray,
    capital: Decimal,
    final_equity: Decimal,
    trades: list[tuple[int, int | None, Decimal]],
) -> dict[str, Any]:
    """Statistics of one run. `equity_ts`/`equity`: the equity at each candle close (ms, float);
    `trades`: (entry ms, exit ms or None while open, net PnL) of each round trip."""
    index = pd.to_datetime(equity_ts, unit="ms", utc=True)
    curve = pd.Series(equity, index=index)
    frame = pd.DataFrame(
        {
            "opened_at": pd.to_datetime([t[0] for t in trades], unit="ms", utc=True),
            "closed_at": pd.to_datetime([t[1] for t in trades], unit="ms", utc=True),
            "pnl": [t[2] for t in trades],
        },
        columns=perf.TRADE_COLUMNS,
    )
    start = index[0].to_pydatetime() if len(index) else dt.datetime.now(dt.UTC)
    end = index[-1].to_pydatetime() if len(index) else start
    report = perf.performance(returns=perf.equity_returns(curve), trades=frame, start=start, end=end)
    duration = report["max_drawdown_duration"]
    return {
        "start_equity": money(capital),
        "final_equity": money(final_equity),
        "total_return_pct": _pct(float(final_equity / capital - 1)) if capital else None,
        "annualised_return_pct": _pct(report["annualized_return"]),
        "sharpe": _ratio(report["sharpe"]),
        "sortino": _ratio(report["sortino"]),
        "max_drawdown_pct": _pct(report["max_drawdown"]),
        "max_drawdown_days": round(duration.total_seconds() / 86400, 4),
        "trades": report["trades"],
        "win_rate_pct": _pct(report["win_rate"]),
        "profit_factor": _ratio(report["profit_factor"]),
        "average_trade": money(report["average_trade"]),
        "net_pnl": money(report["net_pnl"]),
        "gross_profit": money(report["gross_profit"]),
        "gross_loss": money(report["gross_loss"]),
        "exposure_pct": _pct(report["exposure_time"]),
        "days": report["days"],
    }
