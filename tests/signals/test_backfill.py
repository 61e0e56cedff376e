from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bots.models import BotEvent
from core.errors import ApplicationError
from exchanges.market_data import candles_upsert, read_candle_file
from signals.backfill import signals_backfill
from signals.engine import bars_for_market, evaluate
from signals.models import Signal, WatchedMarket
from tests.factories import SignalSourceFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "data" / "market"


@pytest.fixture
def btc_hourly():
    _, _, candles = read_candle_file(DATA / "BTC_USDT-1h.json.gz")
    candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="1h", candles=candles[:400])
    return candles[:400]


def _market(org, **kw):
    src = SignalSourceFactory(organization=org, **kw)
    return WatchedMarket.objects.create(
        organization=org, source=src, exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )


def test_each_bar_gets_the_signal_the_beat_would_have_recorded_at_its_close(org_a, btc_hourly):
    wm = _market(org_a)
    result = signals_backfill(watched_market=wm, bars=30, window=200)
    assert (result.evaluated, result.recorded, result.skipped) == (30, 30, 0)
    rows = list(Signal.objects.filter(source=wm.source).order_by("bar_ts"))
    assert [int(r.bar_ts.timestamp() * 1000) for r in rows] == [c.ts for c in btc_hourly[-30:]]
    # The 10th backfilled bar, recomputed the way the beat computes it: only candles closed by then.
    probe = rows[9]
    step_close = probe.bar_ts + (rows[1].bar_ts - rows[0].bar_ts)
    bars = bars_for_market(exchange="binance", symbol="BTC/USDT", timeframe="1h", limit=200, until=step_close)
    expected = evaluate(bars)
    assert int(bars.ts[-1]) == int(probe.bar_ts.timestamp() * 1000)
    assert probe.side == expected.side
    assert float(probe.confidence) == pytest.approx(expected.confidence, abs=1e-4)
    assert probe.factors == expected.factors
    assert BotEvent.objects.filter(kind="signal.backfilled", organization=org_a).count() == 1


def test_a_rerun_adds_only_the_missing_bars(org_a, btc_hourly):
    wm = _market(org_a)
    signals_backfill(watched_market=wm, bars=10, window=100)
    result = signals_backfill(watched_market=wm, bars=15, window=100)
    assert (result.recorded, result.skipped) == (5, 10)
    assert Signal.objects.filter(source=wm.source).count() == 15


def test_only_engine_sources_are_backfilled_and_bad_sizes_are_refused(org_a, btc_hourly):
    with pytest.raises(ApplicationError):
        signals_backfill(watched_market=_market(org_a, kind="ai"))
    wm = _market(org_a)
    with pytest.raises(ApplicationError) as e:
        signals_backfill(watched_market=wm, bars=0)
    assert e.value.field == "bars"
    assert not Signal.objects.exists()


def test_the_command_reports_progress_and_refuses_when_nothing_matches(org_a, btc_hourly, capsys):
    wm = _market(org_a)
    call_command("signals_backfill", "--bars", "5", "--market", str(wm.pk))
    assert "5 recorded" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("signals_backfill", "--organization", "nobody")
