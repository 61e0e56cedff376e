"""Candles for backtests as numpy arrays: from the candle store, or from a candle file."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import numpy as np

from exchanges.market_data import dt_to_ms, timeframe_ms
from exchanges.models import Candle as CandleRow
from strategies.base import Bars


def bars_from_rows(rows: list) -> Bars:
    """`[ms, open, high, low, close, volume]` rows as Bars, converted column-wise."""
    if not rows:
        return Bars.empty()
    arr = np.asarray([r[1:6] for r in rows], dtype=np.float64)
    ts = np.asarray([r[0] for r in rows], dtype=np.int64)
    return Bars(ts, *(np.ascontiguousarray(arr[:, k]) for k in range(5)))


def bars_from_file(path: Path) -> Bars:
    """A bundled candle file (`data/market/BTC_USDT-5m.json.gz`) as Bars."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return bars_from_rows(json.load(handle))


def bars_from_store(
    *, exchange: str, symbol: str, timeframe: str, start: dt.datetime, end: dt.datetime, warmup: int
) -> tuple[Bars, int]:
    """Stored candles opening in [start, end), preceded by up to `warmup` earlier candles for the
    indicators. Returns the bars and the index of the first candle at or after `start`."""
    rows = CandleRow.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
    columns = ("ts", "open", "high", "low", "close", "volume")
    before = list(rows.filter(ts__lt=start).order_by("-ts").values_list(*columns)[:warmup])
    inside = list(rows.filter(ts__gte=start, ts__lt=end).order_by("ts").values_list(*columns))
    series = before[::-1] + inside
    bars = bars_from_rows([(dt_to_ms(r[0]), *r[1:]) for r in series])
    timeframe_ms(timeframe)  # an unknown timeframe fails here, with a clear message
    return bars, len(before)
