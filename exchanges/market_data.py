"""Market data: the candle store (upsert, gap report, file loader), a replay source over stored
candles for the paper exchange and backtests, a live source over an exchange client, and clocks."""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import connection

from exchanges.client import ExchangeClient
from exchanges.models import Candle as CandleRow
from exchanges.types import Candle
from exchanges.venues import spot_symbol

TIMEFRAME_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
_FILE_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<tf>\d+[mhd])\.json(\.gz)?$")
UPSERT_BATCH = 5000


def timeframe_ms(timeframe: str) -> int:
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValueError(f"Unsupported timeframe {timeframe!r}; use one of {', '.join(TIMEFRAME_MS)}.") from None


def ms_to_dt(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def dt_to_ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


# -- candle store -----------------------------------------------------------------------------------
def candles_upsert(*, exchange: str, symbol: str, timeframe: str, candles: Iterable[Candle]) -> int:
    """Insert or update candles by their slot; returns how many were written."""
    written = 0
    batch: list[CandleRow] = []

    def flush() -> None:
        CandleRow.objects.bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["exchange", "symbol", "timeframe", "ts"],
            update_fields=["open", "high", "low", "close", "volume"],
        )

    for c in candles:
        batch.append(
            CandleRow(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                ts=ms_to_dt(c.ts),
                open=c.open,
                high=c.high,
                low=c.low,
                close=c.close,
                volume=c.volume,
            )
        )
        if len(batch) >= UPSERT_BATCH:
            flush()
            written += len(batch)
            batch = []
    if batch:
        flush()
        written += len(batch)
    return written


@dataclass(frozen=True)
class Gap:
    after: dt.datetime  # last candle before the hole
    before: dt.datetime  # first candle after it
    missing: int


def candle_gaps(*, exchange: str, symbol: str, timeframe: str) -> list[Gap]:
    """Holes in the stored series, found with one window query (no per-candle Python loop)."""
    step = dt.timedelta(milliseconds=timeframe_ms(timeframe))
    table = CandleRow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT prev_ts, ts FROM (
                SELECT ts, LAG(ts) OVER (ORDER BY ts) AS prev_ts FROM {table}
                WHERE exchange = %s AND symbol = %s AND timeframe = %s
            ) AS s WHERE prev_ts IS NOT NULL AND ts <> prev_ts + %s
            ORDER BY ts
            """
            if connection.vendor == "postgresql"
            else f"""
            SELECT prev_ts, ts FROM (
                SELECT ts, LAG(ts) OVER (ORDER BY ts) AS prev_ts FROM {table}
                WHERE exchange = %s AND symbol = %s AND timeframe = %s
            ) AS s WHERE prev_ts IS NOT NULL AND ABS((julianday(ts) - julianday(prev_ts)) * 86400000 - %s) > 1
            ORDER BY ts
            """,
            [exchange, symbol, timeframe, step if connection.vendor == "postgresql" else step.total_seconds() * 1000],
        )
        rows = cursor.fetchall()
    gaps = []
    for prev, cur in rows:
        prev, cur = _aware(prev), _aware(cur)
        gaps.append(Gap(after=prev, before=cur, missing=int((cur - prev) / step) - 1))
    return gaps


def _aware(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def read_candle_file(path: Path) -> tuple[str, str, list[Candle]]:
    """Parse `BASE_QUOTE-<tf>.json[.gz]` ([ms, o, h, l, c, v] rows) into (symbol, timeframe, candles)."""
    match = _FILE_NAME.match(path.name)
    if not match:
        raise ValueError(f"{path.name}: expected a name like BTC_USDT-5m.json or BTC_USDT-5m.json.gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        rows = json.load(handle)
    candles = []
    for i, row in enumerate(rows):
        try:
            ts, o, h, low, c, v = row[:6]
            candles.append(Candle(int(ts), *(Decimal(str(x)) for x in (o, h, low, c, v))))
        except (ValueError, TypeError, ArithmeticError):
            raise ValueError(f"{path.name}: row {i} is not [ms, open, high, low, close, volume]: {row!r}") from None
    return f"{match['base']}/{match['quote']}", match["tf"], candles


# -- sources ----------------------------------------------------------------------------------------
class ReplaySource:
    """Stored candles held in memory per series, for fast lookups by time (paper fills, backtests)."""

    def __init__(self, *, exchange: str, timeframe: str) -> None:
        self.exchange = exchange
        self.timeframe = timeframe
        self.step = timeframe_ms(timeframe)
        self._series: dict[str, tuple[list[int], list[Candle]]] = {}
        self._lock = threading.Lock()

    def series(self, symbol: str) -> tuple[list[int], list[Candle]]:
        # A perpetual replays the candles of the spot pair it tracks (BTC/USDT:USDT -> BTC/USDT):
        # the stored candles are spot candles, and a perpetual's mark follows its index closely.
        symbol = spot_symbol(symbol)
        with self._lock:
            if symbol not in self._series:
                rows = (
                    CandleRow.objects.filter(exchange=self.exchange, symbol=symbol, timeframe=self.timeframe)
                    .order_by("ts")
                    .values_list("ts", "open", "high", "low", "close", "volume")
                )
                candles = [Candle(dt_to_ms(r[0]), *r[1:]) for r in rows]
                self._series[symbol] = ([c.ts for c in candles], candles)
            return self._series[symbol]

    def load(self, symbol: str, candles: list[Candle]) -> None:
        """Use candles given directly (tests, backtests over a file) instead of the store."""
        with self._lock:
            self._series[spot_symbol(symbol)] = ([c.ts for c in candles], list(candles))

    def symbols(self) -> list[str]:
        return sorted(
            CandleRow.objects.filter(exchange=self.exchange, timeframe=self.timeframe)
            .values_list("symbol", flat=True)
            .distinct()
        ) or sorted(self._series)

    def span(self, symbol: str) -> tuple[int, int] | None:
        times, _ = self.series(symbol)
        return (times[0], times[-1] + self.step) if times else None

    def completed(self, symbol: str, now_ms: int, limit: int) -> list[Candle]:
        """The last `limit` candles that had closed by `now_ms`."""
        times, candles = self.series(symbol)
        end = bisect.bisect_right(times, now_ms - self.step)
        return candles[max(0, end - limit) : end]

    def between(self, symbol: str, start_ms: int, end_ms: int) -> list[Candle]:
        """Closed candles opening in [start_ms, end_ms - step]."""
        times, candles = self.series(symbol)
        lo = bisect.bisect_left(times, start_ms)
        hi = bisect.bisect_right(times, end_ms - self.step)
        return candles[lo:hi]

    def next_price(self, symbol: str, now_ms: int) -> Decimal | None:
        """The first price after `now_ms`: the open of the next candle (no look-ahead into its
        range); past the end of the data, the last close."""
        times, candles = self.series(symbol)
        if not times:
            return None
        i = bisect.bisect_left(times, now_ms)
        return candles[i].open if i < len(candles) else candles[-1].close

    def last_price(self, symbol: str, now_ms: int) -> Decimal | None:
        done = self.completed(symbol, now_ms, 1)
        return done[-1].close if done else self.next_price(symbol, now_ms)


class LiveSource:
    """Candles straight from an exchange (the strategy runtime's live feed)."""

    def __init__(self, client: ExchangeClient, timeframe: str) -> None:
        self.client = client
        self.timeframe = timeframe
        self.step = timeframe_ms(timeframe)

    def completed(self, symbol: str, now_ms: int, limit: int) -> list[Candle]:
        rows = self.client.ohlcv(symbol, self.timeframe, limit=limit + 1)
        return [c for c in rows if c.ts + self.step <= now_ms][-limit:]


# -- clocks -----------------------------------------------------------------------------------------
class FixedClock:
    """A clock tests and backtests move by hand."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class ReplayClock:
    """Maps wall time onto the replayed data, looping at its end, so a paper bot started any day
    trades on real candles at real speed."""

    def __init__(self, *, start_ms: int, end_ms: int, anchor_ms: int = 0, speed: float = 1.0) -> None:
        self.start_ms, self.end_ms, self.anchor_ms, self.speed = start_ms, end_ms, anchor_ms, speed

    def now_ms(self) -> int:
        elapsed = int((time.time() * 1000 - self.anchor_ms) * self.speed)
        return self.start_ms + elapsed % max(1, self.end_ms - self.start_ms)
