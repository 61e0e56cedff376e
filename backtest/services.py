"""Backtest services: create and validate a backtest, run it (one run or a parameter sweep), and
the in-process runner the command line and the Celery task share."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from backtest.data import bars_from_store
from backtest.engine import BacktestOutcome, run_backtest
from backtest.models import Backtest, BacktestStatus
from backtest.stats import statistics
from core.errors import ApplicationError
from exchanges.fill_model import FillTerms
from exchanges.market_data import timeframe_ms
from organizations.models import Organization, Role
from organizations.permissions import require_role
from strategies.base import Bars
from strategies.registry import get as get_strategy
from strategies.registry import params_to_json, validate_params

logger = logging.getLogger(__name__)

EQUITY_POINTS = 500  # points of the equity curve kept with the results
TRADES_KEPT = 5000  # trades kept with the results (the statistics count them all)
MAX_SWEEP_RUNS = 200
STALE_RUN = dt.timedelta(hours=2)  # a run still "running" after this lost its worker
RANKABLE = (
    "total_return_pct",
    "annualised_return_pct",
    "sharpe",
    "sortino",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "trades",
)
LOWER_IS_BETTER = {"max_drawdown_pct"}


@dataclass(frozen=True)
class RunSpec:
    """A validated backtest request: the strategy key, typed params and the sweep grid (typed)."""

    strategy: str
    params: dict[str, Any]
    grid: dict[str, list[Any]]
    rank_by: str


def backtest_validate(
    *, strategy: str, params: Mapping[str, Any] | None, sweep: Mapping[str, Any] | None, rank_by: str
) -> RunSpec:
    """Check the strategy, its params and the sweep grid; raise naming the field at fault."""
    spec = get_strategy(strategy)
    typed = validate_params(strategy, dict(params or {}))
    if sweep is not None and not isinstance(sweep, Mapping):
        raise ApplicationError("sweep must be an object of parameter names to lists of values.", field="sweep")
    grid: dict[str, list[Any]] = {}
    for name, values in (sweep or {}).items():
        if not isinstance(values, list | tuple) or not values:
            raise ApplicationError(f"sweep.{name} must be a non-empty list of values.", field=f"sweep.{name}")
        try:
            param = spec.param(name)
        except KeyError:
            raise ApplicationError(f"Unknown parameter for {strategy}: {name}.", field=f"sweep.{name}") from None
        grid[name] = [param.coerce(v) for v in values]
    runs = int(np.prod([len(v) for v in grid.values()])) if grid else 1
    if runs > MAX_SWEEP_RUNS:
        raise ApplicationError(f"The sweep has {runs} combinations; at most {MAX_SWEEP_RUNS}.", field="sweep")
    if rank_by not in RANKABLE:
        raise ApplicationError(f"rank_by must be one of {', '.join(RANKABLE)}.", field="rank_by")
    return RunSpec(strategy, typed, grid, rank_by)


def backtest_create(
    *,
    organization: Organization,
    user=None,
    strategy: str,
    symbol: str,
    start: dt.datetime,
    end: dt.datetime,
    timeframe: str = "5m",
    params: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Any] | None = None,
    rank_by: str = "total_return_pct",
    capital: Decimal = Decimal("1000"),
    name: str = "",
) -> Backtest:
    """Validate and save a backtest, then queue it for a worker once the transaction commits."""
    require_role(user=user, organization=organization, role=Role.TRADER, action="Running a backtest")
    run = backtest_validate(strategy=strategy, params=params, sweep=sweep, rank_by=rank_by)
    _check_window(symbol=symbol, timeframe=timeframe, start=start, end=end, capital=capital)
    backtest = Backtest.objects.create(
        organization=organization,
        created_by=user,
        name=name,
        strategy=strategy,
        params=params_to_json(run.params),
        sweep={k: [params_to_json({k: v})[k] for v in vs] for k, vs in run.grid.items()},
        rank_by=rank_by,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=end,
        capital=capital,
    )
    backtest_enqueue(backtest=backtest)
    return backtest


def _check_window(*, symbol: str, timeframe: str, start, end, capital: Decimal) -> None:
    if not symbol or "/" not in symbol:
        raise ApplicationError(f"{symbol!r} is not a market symbol like BTC/USDT.", field="symbol")
    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        raise ApplicationError(str(exc), field="timeframe") from None
    if start is None or end is None or end <= start:
        raise ApplicationError("end must be after start.", field="end")
    if capital is None or capital <= 0:
        raise ApplicationError("capital must be positive.", field="capital")


def backtest_enqueue(*, backtest: Backtest) -> None:
    """Hand the backtest to a Celery worker after the surrounding transaction commits."""
    from backtest.tasks import backtest_run_task

    transaction.on_commit(lambda: backtest_run_task.delay(backtest.pk))


def backtest_requeue(*, backtest: Backtest, user=None) -> None:
    """Queue a finished (or failed) backtest to run again; a running one is left alone unless it
    started more than STALE_RUN ago (its worker died: acks_late redelivers the message, but the
    claim only takes queued rows, so such a row needs this)."""
    require_role(user=user, organization=backtest.organization_id, role=Role.TRADER, action="Running a backtest")
    # A run whose worker died mid-way stays "running"; after STALE_RUN it may be queued again.
    stale = timezone.now() - STALE_RUN
    requeued = (
        Backtest.objects.filter(pk=backtest.pk)
        .exclude(status=BacktestStatus.RUNNING, started_at__gt=stale)
        .update(status=BacktestStatus.QUEUED, progress=0, error="", results={}, started_at=None, finished_at=None)
    )
    if not requeued:
        raise ApplicationError("This backtest is running; wait for it to finish.", code="running")
    backtest_enqueue(backtest=backtest)


def backtest_run(*, backtest_id: int) -> Backtest | None:
    """Run a queued backtest: claim it (only one worker wins), run it, store the results or the
    error. Never raises for the backtest's own failure: it is recorded on the row."""
    claimed = Backtest.objects.filter(pk=backtest_id, status=BacktestStatus.QUEUED).update(
        status=BacktestStatus.RUNNING, progress=0, started_at=timezone.now(), error=""
    )
    if not claimed:
        return None
    backtest = Backtest.objects.get(pk=backtest_id)
    reported = [0]

    def progress(pct: int) -> None:
        if pct >= reported[0] + 5 or pct == 100:
            reported[0] = pct
            Backtest.objects.filter(pk=backtest_id).update(progress=pct)

    try:
        run = backtest_validate(
            strategy=backtest.strategy, params=backtest.params, sweep=backtest.sweep, rank_by=backtest.rank_by
        )
        _check_window(
            symbol=backtest.symbol,
            timeframe=backtest.timeframe,
            start=backtest.start,
            end=backtest.end,
            capital=backtest.capital,
        )
        bars, start_index = _load_bars(backtest, run)
        terms = FillTerms(taker_fee=backtest.taker_fee, maker_fee=backtest.maker_fee, slippage=backtest.slippage)
        results = backtest_compute(
            run=run,
            bars=bars,
            start_index=start_index,
            symbol=backtest.symbol,
            timeframe=backtest.timeframe,
            capital=backtest.capital,
            terms=terms,
            progress=progress,
        )
    except ApplicationError as exc:
        return _finish(backtest_id, status=BacktestStatus.FAILED, error=exc.message)
    except Exception as exc:  # the run's own failure belongs on the row, not in a dead task
        logger.exception("Backtest %s failed", backtest_id)
        return _finish(backtest_id, status=BacktestStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _finish(backtest_id, status=BacktestStatus.DONE, results=results)


def _finish(backtest_id: int, *, status: str, error: str = "", results: dict | None = None) -> Backtest:
    fields: dict[str, Any] = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == BacktestStatus.DONE:
        fields |= {"progress": 100, "results": results or {}}
    Backtest.objects.filter(pk=backtest_id).update(**fields)
    return Backtest.objects.get(pk=backtest_id)


def _load_bars(backtest: Backtest, run: RunSpec) -> tuple[Bars, int]:
    """The period's candles plus the largest warm-up any run of the sweep needs."""
    spec = get_strategy(run.strategy)
    warmup = max(spec.warmup_bars(p) for p in sweep_params(run))
    bars, start_index = bars_from_store(
        exchange=backtest.exchange,
        symbol=backtest.symbol,
        timeframe=backtest.timeframe,
        start=backtest.start,
        end=backtest.end,
        warmup=warmup,
    )
    if len(bars) - start_index <= 0:
        raise ApplicationError(
            f"No {backtest.timeframe} candles of {backtest.symbol} on {backtest.exchange} between "
            f"{backtest.start:%Y-%m-%d %H:%M} and {backtest.end:%Y-%m-%d %H:%M}: load them with "
            "`manage.py load_candles`.",
            field="symbol",
        )
    return bars, start_index


def sweep_params(run: RunSpec) -> list[dict[str, Any]]:
    """Every parameter set of the grid on top of the base params (just the base without a grid)."""
    if not run.grid:
        return [dict(run.params)]
    names = list(run.grid)
    return [{**run.params, **dict(zip(names, combo, strict=True))} for combo in itertools.product(*run.grid.values())]


def backtest_compute(
    *,
    run: RunSpec,
    bars: Bars,
    symbol: str,
    timeframe: str,
    capital: Decimal,
    start_index: int = 0,
    terms: FillTerms | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run one backtest or the whole sweep in this process and return the results JSON."""
    spec = get_strategy(run.strategy)
    step = timeframe_ms(timeframe)
    combos = sweep_params(run)
    rows = []
    best: tuple[dict[str, Any], BacktestOutcome, dict[str, Any]] | None = None
    for n, params in enumerate(combos):

        def scaled(pct: int, n: int = n) -> None:
            if progress is not None:
                progress(min(99, int((n * 100 + pct) / len(combos))))

        outcome = run_backtest(
            spec=spec,
            params=params,
            bars=bars,
            symbol=symbol,
            step_ms=step,
            capital=capital,
            terms=terms,
            start_index=start_index,
            progress=scaled,
        )
        stats = outcome_statistics(outcome)
        rows.append({"params": params_to_json(params), "stats": stats})
        if best is None or _better(stats, best[2], run.rank_by):
            best = (params, outcome, stats)
    params, outcome, stats = best
    results = outcome_json(outcome, stats=stats, params=params)
    if run.grid:
        results["sweep"] = rank(rows, run.rank_by)
        results["rank_by"] = run.rank_by
    if progress is not None:
        progress(100)
    return results


def outcome_statistics(outcome: BacktestOutcome) -> dict[str, Any]:
    if len(outcome.equity) == 0:
        raise ApplicationError("The period is shorter than the strategy's warm-up: no candle was traded.")
    return statistics(
        equity_ts=outcome.equity_ts,
        equity=outcome.equity,
        capital=outcome.capital,
        final_equity=outcome.final_equity,
        trades=[(t.entry_ms, t.exit_ms, t.pnl) for t in outcome.trades],
    ) | {"bars": outcome.bars, "rejected": outcome.rejected}


def _key(stats: Mapping[str, Any], rank_by: str) -> float:
    value = stats.get(rank_by)
    if value is None:
        return float("-inf")
    return -float(value) if rank_by in LOWER_IS_BETTER else float(value)


def _better(a: Mapping[str, Any], b: Mapping[str, Any], rank_by: str) -> bool:
    return _key(a, rank_by) > _key(b, rank_by)


def rank(rows: list[dict[str, Any]], rank_by: str) -> list[dict[str, Any]]:
    """Sweep rows best first by `rank_by` (a missing figure ranks last; ties keep grid order)."""
    ordered = sorted(rows, key=lambda r: _key(r["stats"], rank_by), reverse=True)
    return [{"rank": i + 1, **row} for i, row in enumerate(ordered)]


def downsample(ts: np.ndarray, values: np.ndarray, points: int = EQUITY_POINTS) -> list[list]:
    """At most `points` [ms, value] pairs spread evenly over the curve, first and last included."""
    if len(ts) == 0:
        return []
    idx = np.unique(np.linspace(0, len(ts) - 1, min(points, len(ts))).round().astype(np.int64))
    return [[int(ts[i]), str(Decimal(repr(float(values[i]))).quantize(Decimal("1e-8")))] for i in idx]


def outcome_json(outcome: BacktestOutcome, *, stats: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "params": params_to_json(dict(params)),
        "stats": stats,
        "trades": [t.as_json() for t in outcome.trades[:TRADES_KEPT]],
        "trades_total": len(outcome.trades),
        "equity": downsample(outcome.equity_ts, outcome.equity),
        "final": {
            "cash": str(outcome.final_cash),
            "quantity": str(outcome.final_quantity),
            "equity": str(outcome.final_equity),
        },
    }
