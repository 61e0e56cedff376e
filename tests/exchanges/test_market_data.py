"""The candle store, its loader and gap report, and the replay source, on real Binance candles."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from exchanges.market_data import ReplaySource, candle_gaps, candles_upsert, read_candle_file
from exchanges.models import Candle
from exchanges.types import Candle as C  # noqa: N817
from tests.paper_fixtures import DATA


@pytest.mark.django_db
def test_loading_the_bundled_file_reports_the_real_outages(capsys):
    call_command("load_candles", str(DATA / "BTC_USDT-5m.json.gz"))
    out = capsys.readouterr().out
    assert "binance BTC/USDT 5m: 11434 candles upserted, 2 gap(s)" in out
    gaps = candle_gaps(exchange="binance", symbol="BTC/USDT", timeframe="5m")
    assert [(g.after.isoformat(), g.missing) for g in gaps] == [
        ("2021-04-20T01:55:00+00:00", 30),
        ("2021-04-25T04:00:00+00:00", 56),
    ]
    # Loading again upserts in place: no duplicates, nothing invented.
    call_command("load_candles", str(DATA / "BTC_USDT-5m.json.gz"))
    assert Candle.objects.filter(symbol="BTC/USDT", timeframe="5m").count() == 11434


@pytest.mark.django_db
def test_upsert_replaces_a_slot_instead_of_duplicating_it():
    one = C(1_600_000_000_000, Decimal("1"), Decimal("2"), Decimal("0.5"), Decimal("1.5"), Decimal("10"))
    candles_upsert(exchange="x", symbol="A/B", timeframe="5m", candles=[one])
    fixed = C(one.ts, Decimal("1"), Decimal("3"), Decimal("0.5"), Decimal("1.5"), Decimal("11"))
    candles_upsert(exchange="x", symbol="A/B", timeframe="5m", candles=[fixed])
    row = Candle.objects.get(symbol="A/B")
    assert (row.high, row.volume) == (Decimal("3"), Decimal("11"))


def test_a_badly_named_or_malformed_file_is_refused(tmp_path, db):
    bad_name = tmp_path / "prices.json"
    bad_name.write_text("[]")
    with pytest.raises(CommandError, match="expected a name like"):
        call_command("load_candles", str(bad_name))
    bad_rows = tmp_path / "BTC_USDT-5m.json"
    bad_rows.write_text('[[1, "x"]]')
    with pytest.raises(CommandError, match="row 0"):
        call_command("load_candles", str(bad_rows))
    assert not Candle.objects.exists()


def test_the_replay_source_never_looks_ahead(btc_candles):
    src = ReplaySource(exchange="binance", timeframe="5m")
    src.load("BTC/USDT", btc_candles)
    c = btc_candles[100]
    mid = c.ts + 150_000
    done = src.completed("BTC/USDT", mid, 3)
    assert [x.ts for x in done] == [btc_candles[97].ts, btc_candles[98].ts, btc_candles[99].ts]
    # The next price after a moment inside candle 100 is the open of candle 101.
    assert src.next_price("BTC/USDT", mid) == btc_candles[101].open
    assert src.next_price("BTC/USDT", c.ts) == c.open


def test_the_file_is_real_data_with_decimals(btc_candles):
    first = btc_candles[0]
    assert first.ts == 1618444800000  # 2021-04-15 00:00 UTC
    assert isinstance(first.close, Decimal)
    assert all(x.low <= min(x.open, x.close) and x.high >= max(x.open, x.close) for x in btc_candles)
    assert read_candle_file(DATA / "ETH_USDT-1h.json.gz")[1] == "1h"
