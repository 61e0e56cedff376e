"""Celery tasks of the signals app: the beat computes each watched market's signal at its candle close.

`signals_compute_due` runs every minute: a watched market whose newest closed candle is newer than
the last one it was computed on gets a `signals_compute` task. That task reads the last 1,000
closed candles, runs the factor engine (and, for an AI source, the AI factor on the engine's
factors) and records the signal through `signal_record`. The candle is claimed by moving
`last_bar_ts` in the same transaction as the record, so a task run twice (two beats, a redelivery)
records one signal; a refusal (bad config, AI budget spent) is written to the organization's event
log once for that candle and the market's later candles go on.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from celery import shared_task
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, event_record
from exchanges.market_data import TIMEFRAME_MS
from exchanges.models import Candle
from signals.engine import bars_for_market, evaluate
from signals.models import SignalSource, SourceKind, WatchedMarket
from signals.services import signal_record

logger = logging.getLogger(__name__)

WINDOW = 1000
COMPUTED_KINDS = (SourceKind.ENGINE, SourceKind.AI)


def _closed_cutoff(timeframe: str, now: dt.datetime) -> dt.datetime:
    """The latest open time of a closed candle: it closed at ts + timeframe <= now."""
    return now - dt.timedelta(milliseconds=TIMEFRAME_MS[timeframe])


def due_market_ids(*, now: dt.datetime | None = None) -> list[int]:
    """Enabled watched markets of enabled engine/AI sources with a closed candle newer than the
    one they were last computed on (one query per timeframe in use)."""
    now = now or timezone.now()
    watched = WatchedMarket.objects.filter(
        enabled=True, source__enabled=True, source__kind__in=COMPUTED_KINDS, timeframe__in=list(TIMEFRAME_MS)
    )
    due: list[int] = []
    for timeframe in sorted(set(watched.values_list("timeframe", flat=True))):
        newest = (
            Candle.objects.filter(
                exchange=OuterRef("exchange"),
                symbol=OuterRef("symbol"),
                timeframe=timeframe,
                ts__lte=_closed_cutoff(timeframe, now),
            )
            .order_by("-ts")
            .values("ts")[:1]
        )
        due += (
            watched.filter(timeframe=timeframe)
            .annotate(newest=Subquery(newest))
            .filter(newest__isnull=False)
            .filter(Q(last_bar_ts__isnull=True) | Q(last_bar_ts__lt=F("newest")))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return due


@shared_task(ignore_result=True)
def signals_compute_due() -> int:
    """Beat job, every minute: one `signals_compute` task per watched market with a new closed candle."""
    ids = due_market_ids()
    for market_id in ids:
        transaction.on_commit(lambda market_id=market_id: signals_compute.delay(market_id))
    return len(ids)


def _claim(market_id: int, bar_ts: dt.datetime) -> bool:
    """Move the market's last_bar_ts to `bar_ts` unless it is there already; inside a transaction
    the row stays locked until commit, so a concurrent run waits and then finds it claimed."""
    return bool(
        WatchedMarket.objects.filter(pk=market_id)
        .filter(Q(last_bar_ts__isnull=True) | Q(last_bar_ts__lt=bar_ts))
        .update(last_bar_ts=bar_ts)
    )


def _failure_event(market: WatchedMarket, bar_ts: dt.datetime, exc: ApplicationError) -> None:
    event_record(
        organization_id=market.organization_id,
        kind="signal.compute_failed",
        level=EventLevel.WARNING,
        message=(
            f"{market.source.name!r}: no signal for {market.exchange} {market.symbol} {market.timeframe} "
            f"at {bar_ts:%Y-%m-%d %H:%M} UTC: {exc.message}"
        ),
        data={"source_id": market.source_id, "watched_market_id": market.pk, "bar_ts": bar_ts.isoformat()},
    )


def _report_failure(market: WatchedMarket, bar_ts: dt.datetime, exc: ApplicationError) -> None:
    """The candle counts as done (a refusal would repeat every minute otherwise) and the refusal
    goes to the organization's event log, where alert rules see it."""
    with transaction.atomic():
        if _claim(market.pk, bar_ts):
            _failure_event(market, bar_ts, exc)


def _engine_config(source: SignalSource) -> dict:
    config = source.config or {}
    if source.kind == SourceKind.AI:
        # An AI source's own settings (model, prompt) are not the engine's.
        return config.get("engine") or {}
    return config.get("engine") or config


@shared_task(acks_late=True, ignore_result=True)
def signals_compute(watched_market_id: int) -> int | None:
    """Compute and record the signal of one watched market at its newest closed candle; the id of
    the signal, or None when there was nothing to do or it was refused."""
    market = (
        WatchedMarket.objects.select_related("source")
        .filter(pk=watched_market_id, enabled=True, source__enabled=True, source__kind__in=COMPUTED_KINDS)
        .first()
    )
    if market is None or market.timeframe not in TIMEFRAME_MS:
        return None
    source = market.source
    now = timezone.now()
    last = (
        Candle.objects.filter(
            exchange=market.exchange,
            symbol=market.symbol,
            timeframe=market.timeframe,
            ts__lte=_closed_cutoff(market.timeframe, now),
        )
        .order_by("-ts")
        .only("ts", "close")
        .first()
    )
    if last is None or (market.last_bar_ts is not None and last.ts <= market.last_bar_ts):
        return None
    bar_ts = last.ts
    try:
        # `until` is the close of that candle, so a candle stored meanwhile stays out.
        bars = bars_for_market(
            exchange=market.exchange,
            symbol=market.symbol,
            timeframe=market.timeframe,
            limit=WINDOW,
            until=bar_ts + dt.timedelta(milliseconds=TIMEFRAME_MS[market.timeframe]),
        )
        evaluation = evaluate(bars, config=_engine_config(source), higher=None)
        if source.kind == SourceKind.AI:
            return _record_ai(market, bars, evaluation.factors, bar_ts, now)
        with transaction.atomic():
            if not _claim(market.pk, bar_ts):
                return None
            try:
                signal = signal_record(
                    signal_source=source,
                    exchange=market.exchange,
                    symbol=market.symbol,
                    timeframe=market.timeframe,
                    side=evaluation.side,
                    confidence=evaluation.confidence,
                    factors=evaluation.factors,
                    reasoning=evaluation.reasoning,
                    price=Decimal(last.close),
                    bar_ts=bar_ts,
                    now=now,
                )
            except ApplicationError as exc:
                if exc.field == "bar_ts":  # recorded already (a backfill): nothing to do
                    return None
                raise
        return signal.pk
    except ApplicationError as exc:
        logger.info("No signal for watched market %s: %s", market.pk, exc.message)
        _report_failure(market, bar_ts, exc)
        return None


def _record_ai(market: WatchedMarket, bars, factors: dict, bar_ts: dt.datetime, now: dt.datetime) -> int | None:
    """The AI factor on the engine's factors. A call costs money, so the candle is claimed (and
    committed) first: a redelivered task never pays twice, at the price of a candle lost to a crash."""
    try:
        from signals.ai import ai_signal
    except ImportError:
        raise ApplicationError("The AI factor is not installed.", field="kind") from None

    with transaction.atomic():
        if not _claim(market.pk, bar_ts):
            return None
    try:
        signal = ai_signal(
            signal_source=market.source,
            symbol=market.symbol,
            timeframe=market.timeframe,
            bars=bars,
            factors=factors,
            exchange=market.exchange,
            bar_ts=bar_ts,
            now=now,
        )
    except ApplicationError as exc:
        if exc.field == "bar_ts":
            return None
        # Claimed already: only the event remains to write.
        _failure_event(market, bar_ts, exc)
        return None
    return signal.pk
