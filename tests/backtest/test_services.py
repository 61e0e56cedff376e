"""Backtest rows: created, run by the Celery task with progress, failures recorded, sweeps ranked."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.models import Backtest, BacktestStatus
from backtest.services import backtest_create, backtest_requeue
from backtest.tasks import backtest_run_task
from core.errors import ApplicationError, PermissionDeniedError
from exchanges.market_data import candles_upsert, read_candle_file
from exchanges.models import Candle as CandleRow
from organizations.models import Role

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
START = dt.datetime(2021, 4, 22, tzinfo=dt.UTC)
END = dt.datetime(2021, 4, 29, tzinfo=dt.UTC)


@pytest.fixture
def stored_candles(db):
    """The bundled BTC/USDT 5m candles in the candle store (up to the end of the test period)."""
    _, _, candles = read_candle_file(DATA / "BTC_USDT-5m.json.gz")
    cut = int(END.timestamp() * 1000)
    candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="5m", candles=[c for c in candles if c.ts < cut])


@pytest.fixture
def eager(settings):
    """Tasks enqueued on commit run in this process (Celery's own eager mode), so a test sees the
    whole path from the service to the task's result."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def create(org, user, **overrides):
    fields = {
        "organization": org,
        "user": user,
        "strategy": "rsi_bb_atr",
        "symbol": "BTC/USDT",
        "timeframe": "5m",
        "start": START,
        "end": END,
        "capital": Decimal("1000"),
    } | overrides
    return backtest_create(**fields)


def test_it_runs_a_queued_backtest_on_a_worker_and_stores_the_results(
    org_a, alice, stored_candles, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        backtest = create(org_a, alice)
        assert backtest.status == BacktestStatus.QUEUED
    assert len(callbacks) == 1
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE, backtest.error
    assert backtest.progress == 100
    assert backtest.started_at <= backtest.finished_at
    results = backtest.results
    stats = results["stats"]
    for key in (
        "total_return_pct",
        "annualised_return_pct",
        "sharpe",
        "sortino",
        "max_drawdown_pct",
        "max_drawdown_days",
        "win_rate_pct",
        "profit_factor",
        "average_trade",
        "exposure_pct",
    ):
        assert key in stats
    # Every stored candle of the week is decided on (the warm-up comes from before the start);
    # the week has the 56-candle exchange outage of 2021-04-25.
    stored = CandleRow.objects.filter(symbol="BTC/USDT", ts__gte=START, ts__lt=END).count()
    assert stats["bars"] == stored == 7 * 288 - 56
    assert 2 <= len(results["equity"]) <= 500
    assert results["equity"][0][0] == int(START.timestamp() * 1000) + 300_000
    assert results["trades"] and stats["trades"] == sum(1 for t in results["trades"] if t["exit_ms"])
    # Money leaves as Decimal text, never a float.
    assert all(isinstance(t["pnl"], str) and Decimal(t["pnl"]) == Decimal(t["pnl"]) for t in results["trades"])
    final = results["final"]
    assert Decimal(final["equity"]).quantize(Decimal("1e-8")) == Decimal(stats["final_equity"])
    closed = sum(Decimal(t["pnl"]) for t in results["trades"] if t["exit_ms"])
    if Decimal(final["quantity"]) == 0:
        assert Decimal(final["equity"]) == Decimal("1000") + closed


def test_progress_is_written_while_the_task_runs(org_a, alice, stored_candles, monkeypatch):
    backtest = create(org_a, alice)
    seen = []
    original = Backtest.objects.filter

    # Read the row's progress as the task writes it: every write goes through the same UPDATE.
    from backtest import services

    real_compute = services.backtest_compute

    def watching(**kwargs):
        inner = kwargs["progress"]

        def progress(pct):
            inner(pct)
            seen.append(original(pk=backtest.pk).values_list("progress", flat=True).get())

        return real_compute(**{**kwargs, "progress": progress})

    monkeypatch.setattr(services, "backtest_compute", watching)
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE
    assert seen == sorted(seen)
    assert len(set(seen)) >= 10
    assert 0 < seen[len(seen) // 2] < 100
    assert seen[-1] == 100


def test_a_run_with_bad_params_fails_with_a_clear_error(org_a, stored_candles):
    # Saved around the service (as a raw admin or shell edit could): the run checks again.
    backtest = Backtest.objects.create(
        organization=org_a,
        strategy="rsi_bb_atr",
        params={"rsi_period": "fourteen"},
        symbol="BTC/USDT",
        start=START,
        end=END,
    )
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.FAILED
    assert backtest.error == "rsi_period must be a int, got 'fourteen'."
    assert backtest.results == {}
    assert backtest.progress < 100


def test_a_period_without_candles_fails_and_says_how_to_load_them(org_a, stored_candles):
    backtest = Backtest.objects.create(
        organization=org_a,
        strategy="macd_trend",
        symbol="DOGE/USDT",
        start=START,
        end=END,
    )
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.FAILED
    assert "No 5m candles of DOGE/USDT" in backtest.error and "load_candles" in backtest.error


def test_it_rejects_bad_input_before_saving(org_a, alice):
    with pytest.raises(ApplicationError) as exc:
        create(org_a, alice, params={"rsi_period": 1})
    assert exc.value.field == "params.rsi_period"
    with pytest.raises(ApplicationError) as exc:
        create(org_a, alice, sweep={"no_such": [1, 2]})
    assert exc.value.field == "sweep.no_such"
    with pytest.raises(ApplicationError) as exc:
        create(org_a, alice, end=START)
    assert exc.value.field == "end"
    with pytest.raises(ApplicationError) as exc:
        create(org_a, alice, strategy="nope")
    assert exc.value.field == "strategy"
    assert not Backtest.objects.exists()


def test_it_rejects_a_viewer_and_another_orgs_member(org_a, alice, bob, member):
    with pytest.raises(PermissionDeniedError):
        create(org_a, member(Role.VIEWER))
    with pytest.raises(PermissionDeniedError):
        create(org_a, bob)
    assert not Backtest.objects.exists()


def test_a_sweep_runs_every_combination_and_ranks_them(org_a, alice, stored_candles):
    backtest = create(
        org_a,
        alice,
        strategy="rsi_bb_atr",
        sweep={"rsi_oversold": [20, 30, 40], "stop_atr": ["1", "3"]},
        rank_by="total_return_pct",
    )
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE, backtest.error
    table = backtest.results["sweep"]
    assert [row["rank"] for row in table] == [1, 2, 3, 4, 5, 6]
    combos = {(row["params"]["rsi_oversold"], row["params"]["stop_atr"]) for row in table}
    assert combos == {(a, b) for a in ("20", "30", "40") for b in ("1", "3")}
    returns = [row["stats"]["total_return_pct"] for row in table]
    assert returns == sorted(returns, reverse=True)
    assert len(set(returns)) > 1  # the grid matters on these candles
    # The stored run is the best one.
    assert backtest.results["params"] == table[0]["params"]
    assert backtest.results["stats"] == table[0]["stats"]


def test_a_sweep_ranked_by_drawdown_puts_the_smallest_first(org_a, alice, stored_candles):
    backtest = create(org_a, alice, sweep={"rsi_oversold": [20, 30, 40]}, rank_by="max_drawdown_pct")
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    drawdowns = [row["stats"]["max_drawdown_pct"] for row in backtest.results["sweep"]]
    assert drawdowns == sorted(drawdowns)


def test_a_second_delivery_of_the_task_does_not_run_it_again(org_a, alice, stored_candles):
    backtest = create(org_a, alice)
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    finished = backtest.finished_at
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE and backtest.finished_at == finished


def test_it_can_be_queued_again_once_finished(org_a, alice, stored_candles, eager, django_capture_on_commit_callbacks):
    backtest = create(org_a, alice)
    backtest_run_task.apply(args=[backtest.pk])
    with django_capture_on_commit_callbacks(execute=True):
        backtest_requeue(backtest=backtest, user=alice)
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE and backtest.progress == 100


def test_a_running_backtest_is_requeued_only_once_its_worker_is_presumed_dead(
    org_a, alice, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    backtest = Backtest.objects.create(
        organization=org_a,
        strategy="macd_trend",
        symbol="BTC/USDT",
        start=START,
        end=END,
        status=BacktestStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=5),
    )
    with pytest.raises(ApplicationError, match="running"):
        backtest_requeue(backtest=backtest, user=alice)
    Backtest.objects.filter(pk=backtest.pk).update(started_at=timezone.now() - dt.timedelta(hours=3))
    with django_capture_on_commit_callbacks() as callbacks:
        backtest_requeue(backtest=backtest, user=alice)
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.QUEUED and len(callbacks) == 1


def test_a_perpetual_runs_on_its_spot_pairs_candles_with_leverage_and_funding(org_a, alice, stored_candles):
    backtest = create(
        org_a,
        alice,
        symbol="BTC/USDT:USDT",
        market_type="perp",
        leverage=Decimal("3"),
        funding_rate=Decimal("0.0001"),
        funding_interval_hours=1,  # rsi_bb_atr holds for hours, not days
    )
    assert (backtest.market_type, backtest.leverage, backtest.funding_interval_hours) == ("perp", 3, 1)
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE, backtest.error
    results = backtest.results
    assert Decimal(results["perp"]["leverage"]) == 3 and results["perp"]["funding_interval_hours"] == 1
    funding = results["funding"]
    assert len(funding) > 5 and results["funding_payments"] == len(funding)
    assert all(row["ts"] % 3_600_000 == 0 for row in funding)  # on the hour only
    # rsi_bb_atr is long only: a positive rate is paid, 0.0001 of the notional each time.
    for row in funding:
        assert Decimal(row["amount"]) == -(Decimal(row["quantity"]) * Decimal(row["mark"]) * Decimal("0.0001"))
    total = sum((Decimal(row["amount"]) for row in funding), Decimal(0))
    assert Decimal(results["funding_total"]) == total < 0
    assert sum((Decimal(t["funding"]) for t in results["trades"]), Decimal(0)) == total
    # The round trips (funding included) add up to the final equity.
    pnl = sum((Decimal(t["pnl"]) for t in results["trades"]), Decimal(0))
    assert abs(Decimal("1000") + pnl - Decimal(results["final"]["equity"])) < Decimal("1e-12")
    assert results["liquidations"] == [] and results["stats"]["liquidations"] == 0


def test_a_spot_run_of_the_same_backtest_keeps_its_spot_results(org_a, alice, stored_candles):
    backtest = create(org_a, alice)
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.market_type == "spot" and backtest.funding_interval_hours is None
    assert not {"perp", "funding", "funding_total", "liquidations"} & set(backtest.results)
    assert "funding" not in backtest.results["trades"][0]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"leverage": Decimal("2")}, "leverage", "Spot trades without leverage"),
        ({"symbol": "BTC/USDT:USDT"}, "market_type", "BTC/USDT:USDT is a perpetual: set the market type to perp."),
        ({"funding_rate": Decimal("0.0001")}, "funding_rate", "Funding applies to perpetuals only"),
        ({"market_type": "future"}, "market_type", "The market type is spot or perp."),
        ({"market_type": "perp"}, "symbol", "A perpetual is named BASE/QUOTE:SETTLE, e.g. BTC/USDT:USDT"),
        (
            {"market_type": "perp", "symbol": "ETH/USDC:USDC", "leverage": Decimal("60")},
            "leverage",
            "Leverage must be from 1x up to the market's maximum 50x, not 60x.",
        ),
        (
            {"market_type": "perp", "symbol": "ETH/USDC:USDC", "leverage": Decimal("0.5")},
            "leverage",
            "not 0.5x",
        ),
        (
            {"market_type": "perp", "symbol": "ETH/USDC:USDC", "leverage": Decimal("5"), "max_leverage": Decimal(4)},
            "leverage",
            "maximum 4x, not 5x",
        ),
        ({"market_type": "perp", "symbol": "ETH/USDC:USDC", "margin_mode": "portfolio"}, "margin_mode", "isolated"),
        ({"market_type": "perp", "symbol": "ETH/USDC:USDC", "funding_interval_hours": 0}, "funding_interval_hours", ""),
        ({"market_type": "perp", "symbol": "ETH/USDC:USDC", "funding_rate": Decimal("1")}, "funding_rate", ""),
    ],
)
def test_it_rejects_bad_market_settings_naming_the_field(org_a, alice, fields, field, message):
    with pytest.raises(ApplicationError) as exc:
        create(org_a, alice, **fields)
    assert exc.value.field == field
    assert message in exc.value.message
    assert not Backtest.objects.exists()


def test_a_spot_backtest_cannot_ask_a_strategy_for_shorts():
    from backtest.services import backtest_market_validate

    with pytest.raises(ApplicationError) as exc:
        backtest_market_validate(market_type="spot", symbol="BTC/USDT", params={"direction": "short"})
    assert exc.value.field == "params.direction" and "needs market type perp" in exc.value.message
    with pytest.raises(ApplicationError):
        backtest_market_validate(market_type="spot", symbol="BTC/USDT", sweep={"direction": ["long", "both"]})
    terms = backtest_market_validate(market_type="perp", symbol="BTC/USDT:USDT", params={"direction": "short"})
    assert terms.funding_interval_hours == 8
    hourly = backtest_market_validate(market_type="perp", symbol="BTC/USDC:USDC", exchange="hyperliquid")
    assert hourly.funding_interval_hours == 1


def test_a_row_saved_around_the_service_with_too_much_leverage_fails_with_the_same_message(org_a, stored_candles):
    backtest = Backtest.objects.create(
        organization=org_a,
        strategy="rsi_bb_atr",
        symbol="BTC/USDT:USDT",
        market_type="perp",
        leverage=Decimal("80"),
        start=START,
        end=END,
    )
    backtest_run_task.apply(args=[backtest.pk])
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.FAILED
    assert backtest.error == "Leverage must be from 1x up to the market's maximum 50x, not 80x."
