"""Reads of the signals app.

Every function takes a queryset the caller has already scoped (`Signal.objects.for_user(user)`,
`Signal.objects.for_organization(org)`): nothing here widens it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.db.models.functions import Coalesce

from exchanges.market_data import TIMEFRAME_MS, dt_to_ms
from exchanges.models import Candle
from signals.evaluation import DEFAULT_HORIZONS, CloseSeries, Market, SignalPoint, evaluate_signals, horizons_check
from signals.models import Signal, SignalSource

# The newest signals evaluated at most, so one request stays fast; the answer says when it was cut.
MAX_EVALUATED_SIGNALS = 20_000


def _market_series(market: Market, *, first_ms: int, last_ms: int, max_horizon: int) -> CloseSeries:
    """One query: the market's closes from the bar of its first signal to the last one's horizon."""
    exchange, symbol, timeframe = market
    step = TIMEFRAME_MS[timeframe]
    start = dt.datetime.fromtimestamp((first_ms - step) / 1000, tz=dt.UTC)
    end = dt.datetime.fromtimestamp((last_ms + (max_horizon + 1) * step) / 1000, tz=dt.UTC)
    rows = list(
        Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe, ts__gt=start, ts__lte=end)
        .order_by("ts")
        .values_list("ts", "close")
    )
    ts = np.fromiter((dt_to_ms(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    close = np.fromiter((float(r[1]) for r in rows), dtype=np.float64, count=len(rows))
    return CloseSeries(ts=ts, close=close, step_ms=step)


def signal_evaluation(
    *,
    signals: QuerySet[Signal],
    horizons: Sequence[int] | str | int | None = DEFAULT_HORIZONS,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    source_id: int | None = None,
) -> dict[str, Any]:
    """Hit rate and average forward return of the (already scoped) `signals` at each horizon,
    overall, per source and per factor (signals.evaluation). `since`/`until` bound the signal's
    bar time (`bar_ts`, else `created_at`); one candle query per exchange, symbol and timeframe."""
    horizons = horizons_check(horizons)
    rows = signals.annotate(at=Coalesce("bar_ts", "created_at"))
    if since is not None:
        rows = rows.filter(at__gte=since)
    if until is not None:
        rows = rows.filter(at__lt=until)
    if source_id is not None:
        rows = rows.filter(source_id=source_id)
    picked = list(
        rows.order_by("-at", "-id").values_list(
            "id", "source_id", "side", "exchange", "symbol", "timeframe", "at", "factors"
        )[: MAX_EVALUATED_SIGNALS + 1]
    )
    truncated = len(picked) > MAX_EVALUATED_SIGNALS
    picked = picked[:MAX_EVALUATED_SIGNALS]
    points = [
        SignalPoint(id=r[0], source_id=r[1], side=r[2], market=(r[3], r[4], r[5]), at_ms=dt_to_ms(r[6]), factors=r[7])
        for r in reversed(picked)
    ]
    spans: dict[Market, list[int]] = {}
    for p in points:
        if p.market[0] and p.market[2] in TIMEFRAME_MS:
            span = spans.setdefault(p.market, [p.at_ms, p.at_ms])
            span[0], span[1] = min(span[0], p.at_ms), max(span[1], p.at_ms)
    series = {
        market: _market_series(market, first_ms=first, last_ms=last, max_horizon=max(horizons))
        for market, (first, last) in spans.items()
    }
    report = evaluate_signals(points, series, horizons)
    names = dict(
        SignalSource.objects.filter(pk__in=[s["source_id"] for s in report["sources"]]).values_list("pk", "name")
    )
    for entry in report["sources"]:
        entry["name"] = names.get(entry["source_id"], "")
    report["truncated"] = truncated
    return report
