"""`manage.py backtest` on the command line."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from exchanges.market_data import candles_upsert, read_candle_file

DATA = Path(__file__).resolve().parents[2] / "data" / "market"


def run(*args) -> str:
    out = StringIO()
    call_command("backtest", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def stored_candles(db):
    _, _, candles = read_candle_file(DATA / "BTC_USDT-5m.json.gz")
    candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="5m", candles=candles[:4000])


def test_it_prints_the_statistics_of_one_run(stored_candles):
    text = run("--strategy", "macd_trend", "--symbol", "BTC/USDT", "--timeframe", "5m", "--param", "fast_period=10")
    assert "macd_trend BTC/USDT 5m" in text
    assert "fast_period=10" in text
    for key in ("total_return_pct", "sharpe", "sortino", "max_drawdown_pct", "win_rate_pct", "profit_factor"):
        assert f"  {key} " in text
    assert "sweep" not in text


def test_it_prints_a_ranked_sweep_table(stored_candles):
    text = run(
        "--strategy",
        "macd_trend",
        "--symbol",
        "BTC/USDT",
        "--sweep",
        "fast_period=8,12,16",
        "--param",
        "volume_surge=1",
        "--rank-by",
        "sharpe",
    )
    table = text.split("sweep, ranked by sharpe:")[1].strip().splitlines()
    assert table[0].split()[:2] == ["rank", "fast_period"]
    rows = [line.split() for line in table[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert sorted(r[1] for r in rows) == ["12", "16", "8"]
    sharpes = [float(r[3]) if r[3] != "None" else float("-inf") for r in rows]
    assert sharpes == sorted(sharpes, reverse=True)


def test_it_reads_a_candle_file_and_prints_json(db):
    text = run(
        "--strategy", "rsi_bb_atr", "--symbol", "ETH/USDT", "--file", str(DATA / "ETH_USDT-5m.json.gz"), "--json"
    )
    results = json.loads(text)
    assert results["stats"]["bars"] == 11_434 - 840  # the file's candles after the 841-candle warm-up
    assert results["trades"]


def test_it_names_the_bad_parameter(db):
    with pytest.raises(CommandError, match="fast_period must be at least 2"):
        run("--strategy", "macd_trend", "--symbol", "BTC/USDT", "--param", "fast_period=1")
    with pytest.raises(CommandError, match="--param takes name=value"):
        run("--strategy", "macd_trend", "--symbol", "BTC/USDT", "--param", "fast_period")


def test_it_says_when_no_candles_are_stored(db):
    with pytest.raises(CommandError, match="load_candles"):
        run("--strategy", "macd_trend", "--symbol", "BTC/USDT")
