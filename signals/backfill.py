"""Signals over stored history: the engine run at every closed candle of a past period, as the beat
would have run it, so the evaluation has a record to score before live signals accumulate.

Each bar sees only the `window` candles that had closed by then (the same window the beat reads),
so a backfilled signal is the signal the beat would have recorded at that close. Bars that
already have a signal of the source are skipped, which makes a rerun (or a run over a period the
beat has covered) add only what is missing. Rows are written in batches, each batch in one
transaction, so a long run interrupted keeps what it finished and resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from core.errors import ApplicationError
from core.events import event_record
from exchanges.market_data import TIMEFRAME_MS
from signals.engine import bars_for_market, evaluate
from signals.models import Signal, SignalSide, SourceKind, WatchedMarket
from signals.services import DEFAULT_VALID_BARS
from strategies.base import Bars

BATCH = 200
MAX_BARS = 20_000


@dataclass(frozen=True)
class BackfillResult:
    evaluated: int
    recorded: int
    skipped: int


def _window(bars: Bars, end: int, size: int) -> Bars:
    start = max(0, end - size)
    return Bars(*(a[start:end] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)))


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def signals_backfill(
    *,
    watched_market: WatchedMarket,
    bars: int = 500,
    window: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Record the engine's signal at each of the last `bars` closed candles of the market."""
    source = watched_market.source
    if source.kind != SourceKind.ENGINE:
        raise ApplicationError("Only a factor-engine source can be backfilled (the AI factor costs money).")
    if not 1 <= bars <= MAX_BARS:
        raise ApplicationError(f"Bars must be from 1 to {MAX_BARS:,}.", field="bars")
    if not 50 <= window <= 5000:
        raise ApplicationError("The window must be from 50 to 5,000 candles.", field="window")
    history = bars_for_market(
        exchange=watched_market.exchange,
        symbol=watched_market.symbol,
        timeframe=watched_market.timeframe,
        limit=bars + window,
    )
    if len(history) == 0:
        raise ApplicationError(
            f"No {watched_market.timeframe} candles stored for {watched_market.exchange} {watched_market.symbol}."
        )
    step = TIMEFRAME_MS[watched_market.timeframe]
    valid_for = timedelta(milliseconds=step * DEFAULT_VALID_BARS)
    config = source.config.get("engine") or {}
    done = set(
        Signal.objects.filter(
            source=source,
            exchange=watched_market.exchange,
            symbol=watched_market.symbol,
            timeframe=watched_market.timeframe,
            bar_ts__gte=_utc(int(history.ts[max(0, len(history) - bars)])),
        ).values_list("bar_ts", flat=True)
    )
    first = max(1, len(history) - bars)
    total = len(history) - first
    pending: list[Signal] = []
    evaluated = recorded = skipped = 0

    def flush() -> None:
        nonlocal recorded
        if pending:
            with transaction.atomic():
                Signal.objects.bulk_create(pending, ignore_conflicts=True)
            recorded += len(pending)
            pending.clear()

    for end in range(first, len(history)):
        bar_ts = _utc(int(history.ts[end]))
        if bar_ts in done:
            skipped += 1
            continue
        result = evaluate(_window(history, end + 1, window), config=config)
        evaluated += 1
        closed_at = bar_ts + timedelta(milliseconds=step)
        pending.append(
            Signal(
                organization_id=source.organization_id,
                source=source,
                exchange=watched_market.exchange,
                symbol=watched_market.symbol,
                timeframe=watched_market.timeframe,
                side=result.side,
                confidence=Decimal(str(round(result.confidence, 4))),
                factors=result.factors,
                reasoning=result.reasoning[:4000],
                price=Decimal(repr(float(history.close[end]))),
                bar_ts=bar_ts,
                valid_until=closed_at + valid_for,
            )
        )
        if len(pending) >= BATCH:
            flush()
            if progress:
                progress(end - first + 1, total)
    flush()
    if progress:
        progress(total, total)
    directional = (
        Signal.objects.filter(source=source, symbol=watched_market.symbol, timeframe=watched_market.timeframe)
        .exclude(side=SignalSide.NEUTRAL)
        .count()
    )
    event_record(
        organization_id=source.organization_id,
        kind="signal.backfilled",
        message=(
            f"{source.name!r}: {recorded} signal(s) computed over the last {total} {watched_market.timeframe} candles "
            f"of {watched_market.symbol} ({directional} directional in store)."
        ),
        data={"source_id": source.pk, "watched_market_id": watched_market.pk, "recorded": recorded},
    )
    return BackfillResult(evaluated=evaluated, recorded=recorded, skipped=skipped)
