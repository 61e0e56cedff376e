"""Backtest services: create and validate a backtest (spot or perpetual), run it (one run or a
parameter sweep), and the in-process runner the command line and the Celery task share."""

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
from backtest.ledger import PerpTerms
from backtest.models import Backtest, BacktestStatus
from backtest.stats import money, statistics
from core.errors import ApplicationError
from exchanges.fill_model import FillTerms
from exchanges.market_data import timeframe_ms
from exchanges.perps import FUNDING_INTERVAL_HOURS
from exchanges.venues import is_perp_symbol, spot_symbol
from organizations.models import Organization, Role
from organizations.permissions import require_role
from strategies.base import Bars
from strategies.registry import get as get_strategy
from strategies.registry import params_to_json, validate_params

logger = logging.getLogger(__name__)

EQUITY_POINTS = 500  # points of the equity curve kept with the results
TRADES_KEPT = 5000  # trades kept with the results (the statistics count them all)
FUNDING_KEPT = 5000  # funding payments kept with the results (the total counts them all)
MAX_FUNDING_INTERVAL_HOURS = 168
LEVERAGE_QUANTUM = Decimal("0.01")  # as stored
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


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError, TypeError):
        number = None
    if number is None or not number.is_finite():
        raise ApplicationError(f"{name} must be a number, got {value!r}.", field=name)
    return number


def backtest_market_validate(
    *,
    market_type: str,
    symbol: str,
    leverage: Any = Decimal("1"),
    margin_mode: str = "isolated",
    funding_rate: Any = Decimal("0"),
    funding_interval_hours: int | None = None,
    max_leverage: Any = Decimal("50"),
    exchange: str = "binance",
    params: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Any] | None = None,
) -> PerpTerms | None:
    """Check the market settings; the perpetual's terms (the funding interval filled in from the
    exchange when not given), or None for spot. Raises naming the field at fault."""
    if market_type not in ("spot", "perp"):
        raise ApplicationError("The market type is spot or perp.", field="market_type")
    perp = market_type == "perp"
    if perp and not is_perp_symbol(symbol or ""):
        base = spot_symbol(symbol or "") or "BTC/USDT"
        settle = base.partition("/")[2] or "USDT"
        raise ApplicationError(
            f"A perpetual is named BASE/QUOTE:SETTLE, e.g. {base}:{settle}, not {symbol!r}.", field="symbol"
        )
    if not perp and is_perp_symbol(symbol or ""):
        raise ApplicationError(f"{symbol} is a perpetual: set the market type to perp.", field="market_type")
    leverage = _decimal(leverage, "leverage")
    max_leverage = _decimal(max_leverage, "max_leverage")
    funding_rate = _decimal(funding_rate, "funding_rate")
    swept = (sweep or {}).get("direction") or []
    directions = [(params or {}).get("direction", "long"), *(swept if isinstance(swept, list | tuple) else [])]
    if not perp:
        if leverage != 1:
            raise ApplicationError(
                "Spot trades without leverage: leave leverage at 1 or choose market type perp.", field="leverage"
            )
        if funding_rate != 0:
            raise ApplicationError("Funding applies to perpetuals only: leave it at 0 on spot.", field="funding_rate")
        for direction in directions:
            if direction != "long":
                raise ApplicationError(
                    f"A spot backtest cannot sell short: direction '{direction}' needs market type perp.",
                    field="params.direction",
                )
        return None
    if max_leverage < 1 or max_leverage != max_leverage.quantize(LEVERAGE_QUANTUM) or max_leverage >= 10_000:
        raise ApplicationError("max_leverage is from 1 to 9999.99, with at most 2 decimals.", field="max_leverage")
    if leverage != leverage.quantize(LEVERAGE_QUANTUM):
        raise ApplicationError("Leverage has at most 2 decimals.", field="leverage")
    if not 1 <= leverage <= max_leverage:
        raise ApplicationError(
            f"Leverage must be from 1x up to the market's maximum {max_leverage.normalize():f}x, "
            f"not {leverage.normalize():f}x.",
            field="leverage",
        )
    if margin_mode not in ("isolated", "cross"):
        raise ApplicationError("The margin mode is isolated or cross.", field="margin_mode")
    if not -1 < funding_rate < 1:
        raise ApplicationError(
            "The funding rate is a fraction per interval between -1 and 1 (0.0001 is 0.01%).", field="funding_rate"
        )
    if funding_interval_hours is None:
        funding_interval_hours = FUNDING_INTERVAL_HOURS.get(exchange, 8)
    if (
        isinstance(funding_interval_hours, bool)
        or not isinstance(funding_interval_hours, int)
        or not 1 <= funding_interval_hours <= MAX_FUNDING_INTERVAL_HOURS
    ):
        raise ApplicationError(
            f"funding_interval_hours is a whole number of hours from 1 to {MAX_FUNDING_INTERVAL_HOURS}.",
            field="funding_interval_hours",
        )
    return PerpTerms(
        leverage=leverage,
        margin_mode=margin_mode,
        funding_rate=funding_rate,
        funding_interval_hours=funding_interval_hours,
        max_leverage=max_leverage,
    )


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
    market_type: str = "spot",
    leverage: Decimal = Decimal("1"),
    margin_mode: str = "isolated",
    funding_rate: Decimal = Decimal("0"),
    funding_interval_hours: int | None = None,
    max_leverage: Decimal = Decimal("50"),
) -> Backtest:
    """Validate and save a backtest, then queue it for a worker once the transaction commits.
    `market_type="perp"` trades `symbol` (BASE/QUOTE:SETTLE) as a linear perpetual with the
    given leverage, margin mode and funding (an interval of None takes the exchange's)."""
    require_role(user=user, organization=organization, role=Role.TRADER, action="Running a backtest")
    run = backtest_validate(strategy=strategy, params=params, sweep=sweep, rank_by=rank_by)
    _check_window(symbol=symbol, timeframe=timeframe, start=start, end=end, capital=capital)
    perp = backtest_market_validate(
        market_type=market_type,
        symbol=symbol,
        leverage=leverage,
        margin_mode=margin_mode,
        funding_rate=funding_rate,
        funding_interval_hours=funding_interval_hours,
        max_leverage=max_leverage,
        exchange=Backtest._meta.get_field("exchange").default,
        params=run.params,
        sweep=run.grid,
    )
    market = {"market_type": market_type}
    if perp is not None:
        market |= {
            "leverage": perp.leverage,
            "margin_mode": perp.margin_mode,
            "funding_rate": perp.funding_rate,
            "funding_interval_hours": perp.funding_interval_hours,
            "max_leverage": perp.max_leverage,
        }
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
        **market,
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
        perp = backtest_market_of(backtest=backtest, run=run)
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
            perp=perp,
        )
    except ApplicationError as exc:
        return _finish(backtest_id, status=BacktestStatus.FAILED, error=exc.message)
    except Exception as exc:  # the run's own failure belongs on the row, not in a dead task
        logger.exception("Backtest %s failed", backtest_id)
        return _finish(backtest_id, status=BacktestStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _finish(backtest_id, status=BacktestStatus.DONE, results=results)


def backtest_market_of(*, backtest: Backtest, run: RunSpec | None = None) -> PerpTerms | None:
    """The market settings of a saved row, checked again (a row edited around the service fails
    with the same message): the perpetual's terms, or None for spot."""
    return backtest_market_validate(
        market_type=backtest.market_type,
        symbol=backtest.symbol,
        leverage=backtest.leverage,
        margin_mode=backtest.margin_mode,
        funding_rate=backtest.funding_rate,
        funding_interval_hours=backtest.funding_interval_hours,
        max_leverage=backtest.max_leverage,
        exchange=backtest.exchange,
        params=run.params if run else None,
        sweep=run.grid if run else None,
    )


def _finish(backtest_id: int, *, status: str, error: str = "", results: dict | None = None) -> Backtest:
    fields: dict[str, Any] = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == BacktestStatus.DONE:
        fields |= {"progress": 100, "results": results or {}}
    Backtest.objects.filter(pk=backtest_id).update(**fields)
    return Backtest.objects.get(pk=backtest_id)


def _load_bars(backtest: Backtest, run: RunSpec) -> tuple[Bars, int]:
    """The period's candles plus the largest warm-up any run of the sweep needs (a perpetual
    replays the candles of its spot pair)."""
    spec = get_strategy(run.strategy)
    warmup = max(spec.warmup_bars(p) for p in sweep_params(run))
    pair = spot_symbol(backtest.symbol)
    bars, start_index = bars_from_store(
        exchange=backtest.exchange,
        symbol=pair,
        timeframe=backtest.timeframe,
        start=backtest.start,
        end=backtest.end,
        warmup=warmup,
    )
    if len(bars) - start_index <= 0:
        raise ApplicationError(
            f"No {backtest.timeframe} candles of {pair} on {backtest.exchange} between "
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
    perp: PerpTerms | None = None,
) -> dict[str, Any]:
    """Run one backtest or the whole sweep in this process and return the results JSON; with
    `perp` the symbol is traded as a linear perpetual on those terms."""
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
            perp=perp,
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
    stats = statistics(
        equity_ts=outcome.equity_ts,
        equity=outcome.equity,
        capital=outcome.capital,
        final_equity=outcome.final_equity,
        trades=[(t.entry_ms, t.exit_ms, t.pnl) for t in outcome.trades],
    ) | {"bars": outcome.bars, "rejected": outcome.rejected}
    if outcome.perp is not None:
        stats |= {"funding_total": money(outcome.funding_total), "liquidations": len(outcome.liquidations)}
    return stats


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
    results = {
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
    if outcome.perp is not None:
        results["final"]["margin"] = str(outcome.final_margin)
        results |= {
            "perp": outcome.perp.as_json(),
            "funding": [f.as_json() for f in outcome.funding[:FUNDING_KEPT]],
            "funding_total": str(outcome.funding_total),
            "funding_payments": len(outcome.funding),
            "liquidations": [x.as_json() for x in outcome.liquidations],
        }
    return results
