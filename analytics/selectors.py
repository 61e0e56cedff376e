"""Reads of analytics data: the chart series, performance reports and trade exports.

Every function takes a bot or an organization the caller has already read through a scoped
queryset (`Bot.objects.for_user(user)`), and filters by its organization again.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import connection

from analytics import performance as perf
from analytics.models import MetricSnapshot
from bots.models import Bot, Fill, Position
from organizations.models import Organization

DEFAULT_MAX_POINTS = 500
SERIES_FIELDS = (
    "balance",
    "equity",
    "pnl",
    "pnl_pct",
    "realized_pnl",
    "unrealized_pnl",
    "open_orders",
    "filled_orders",
    "volume_24h",
)


def series_step(start: dt.datetime, end: dt.datetime, max_points: int) -> dt.timedelta:
    """The bucket width that splits [start, end) into at most `max_points` buckets (whole
    seconds, never under a minute: the raw rows are a minute apart)."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1.")
    seconds = max(60, math.ceil((end - start).total_seconds() / max_points))
    return dt.timedelta(seconds=seconds)


def series(bot: Bot, start: dt.datetime, end: dt.datetime, max_points: int = DEFAULT_MAX_POINTS) -> list[dict]:
    """At most `max_points` snapshots of a bot in [start, end), oldest first. [start, end) is cut
    into equal time buckets (the bins `date_bin(step, ts, start)` would give) and each bucket is
    represented by its newest snapshot, so equity and PnL are real values, never averages of
    averages.

    Each bucket is one backward probe of the (bot, ts) index (`ORDER BY ts DESC LIMIT 1`), so the
    cost grows with the number of points, not with the rows in the range: a year of minutes
    (525,600 rows) costs the same 500 probes as a day. Grouping every row with date_bin reads the
    whole range instead (about 0.25 s for that year)."""
    if end <= start:
        return []
    step = series_step(start, end, max_points)
    if connection.vendor != "postgresql":
        return _series_python(bot, start, end, step)
    table = connection.ops.quote_name(MetricSnapshot._meta.db_table)
    columns = ", ".join(f"s.{c}" for c in ("ts", "resolution", *SERIES_FIELDS))
    sql = f"""
        SELECT {columns}
        FROM generate_series(%s::timestamptz, %s::timestamptz, %s::interval) AS b(bucket)
        CROSS JOIN LATERAL (
            SELECT * FROM {table}
            WHERE bot_id = %s AND organization_id = %s
              AND ts >= b.bucket AND ts < LEAST(b.bucket + %s::interval, %s::timestamptz)
            ORDER BY ts DESC LIMIT 1
        ) AS s
        ORDER BY s.ts
    """
    last_bucket = start + step * ((end - start - dt.timedelta(microseconds=1)) // step)
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, last_bucket, step, bot.pk, bot.organization_id, step, end])
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _series_python(bot: Bot, start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> list[dict]:
    """The same buckets for SQLite (development data is small)."""
    rows = (
        MetricSnapshot.objects.for_organization(bot.organization_id)
        .filter(bot=bot, ts__gte=start, ts__lt=end)
        .order_by("ts")
        .values("ts", "resolution", *SERIES_FIELDS)
    )
    newest: dict[int, dict] = {}
    for row in rows:
        newest[int((row["ts"] - start) / step)] = row
    return [newest[k] for k in sorted(newest)]


# -- performance ------------------------------------------------------------------------------------
def _daily_points(bot_ids: list[int], organization_id: int, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """The first and the last snapshot of each bot and UTC day in [start, end): enough for daily
    returns, read by the (bot, ts) index instead of loading every minute."""
    if not bot_ids:
        return pd.DataFrame(columns=["bot_id", "ts", "equity"])
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(MetricSnapshot._meta.db_table)
        sql = f"""
            SELECT s.bot_id, s.ts, s.equity FROM (
                SELECT bot_id, MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM {table}
                WHERE bot_id = ANY(%s) AND ts >= %s AND ts < %s
                GROUP BY bot_id, date_bin('1 day', ts, TIMESTAMPTZ '2000-01-01')
            ) AS d
            JOIN {table} AS s ON s.bot_id = d.bot_id AND s.ts IN (d.first_ts, d.last_ts)
            WHERE s.organization_id = %s
            ORDER BY s.bot_id, s.ts
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, [bot_ids, start, end, organization_id])
            rows = cursor.fetchall()
    else:
        rows = list(
            MetricSnapshot.objects.for_organization(organization_id)
            .filter(bot_id__in=bot_ids, ts__gte=start, ts__lt=end)
            .order_by("bot_id", "ts")
            .values_list("bot_id", "ts", "equity")
        )
    return pd.DataFrame(rows, columns=["bot_id", "ts", "equity"])


def _curves(points: pd.DataFrame) -> dict[int, pd.Series]:
    return {
        bot_id: pd.Series(list(group["equity"]), index=pd.DatetimeIndex(group["ts"]).tz_convert("UTC"))
        for bot_id, group in points.groupby("bot_id")
    }


def trades_frame(
    *, organization_id: int, start: dt.datetime, end: dt.datetime, bot_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Round trips that overlap [start, end): closed ones with their net PnL (realized minus fees)
    and open ones (closed_at empty) for the exposure time."""
    rows = Position.objects.for_organization(organization_id).filter(
        opened_at__lt=end, closed_at__isnull=True
    ) | Position.objects.for_organization(organization_id).filter(closed_at__gte=start, closed_at__lt=end)
    if bot_ids is not None:
        rows = rows.filter(bot_id__in=list(bot_ids))
    data = [
        (p["bot_id"], p["symbol"], p["opened_at"], p["closed_at"], p["realized_pnl"] - p["fees_paid"] + p["funding"])
        for p in rows.order_by("opened_at").values(
            "bot_id", "symbol", "opened_at", "closed_at", "realized_pnl", "fees_paid", "funding"
        )
    ]
    frame = pd.DataFrame(data, columns=["bot_id", "symbol", "opened_at", "closed_at", "pnl"])
    for column in ("opened_at", "closed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def bot_performance(*, bot: Bot, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Statistics of one bot over [start, end) from its snapshots and round trips."""
    curves = _curves(_daily_points([bot.pk], bot.organization_id, start, end))
    returns = perf.equity_returns(curves.get(bot.pk, pd.Series(dtype=object)))
    trades = trades_frame(organization_id=bot.organization_id, start=start, end=end, bot_ids=[bot.pk])
    return perf.performance(returns=returns, trades=trades, start=start, end=end)


def organization_performance(*, organization: Organization, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Statistics of all of an organization's bots taken together over [start, end)."""
    bot_ids = list(Bot.objects.for_organization(organization).values_list("pk", flat=True))
    curves = _curves(_daily_points(bot_ids, organization.pk, start, end))
    returns = perf.portfolio_returns(curves)
    trades = trades_frame(organization_id=organization.pk, start=start, end=end)
    return perf.performance(returns=returns, trades=trades, start=start, end=end)


def bot_period_summary(*, bot: Bot, start: dt.datetime, end: dt.datetime, freq: str = "D") -> list[dict]:
    """Daily (`D`) or weekly (`W`, weeks from Monday) rows of a bot: start and end equity, PnL,
    return, round trips closed and their PnL."""
    curves = _curves(_daily_points([bot.pk], bot.organization_id, start, end))
    curve = curves.get(bot.pk, pd.Series(dtype=object))
    trades = trades_frame(organization_id=bot.organization_id, start=start, end=end, bot_ids=[bot.pk])
    summary = perf.period_summary(curve, trades, freq=freq)
    return [{"period": period.to_pydatetime(), **row} for period, row in summary.to_dict("index").items()]


# -- CSV export -------------------------------------------------------------------------------------
FILL_COLUMNS = ["ts", "trade_id", "client_order_id", "symbol", "side", "price", "amount", "fee", "fee_currency"]
ROUND_TRIP_COLUMNS = ["symbol", "opened_at", "closed_at", "realized_pnl", "fees", "net_pnl", "exit_reason"]


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def trades_csv(*, bot: Bot, start: dt.datetime, end: dt.datetime, kind: str = "fills") -> Iterator[str]:
    """The bot's trades in [start, end) as CSV lines (a header first): every fill (`fills`), or
    every round trip closed in the period (`round_trips`). Streams: rows are read in chunks."""
    writer = csv.writer(_Echo())
    if kind == "fills":
        yield writer.writerow(FILL_COLUMNS)
        rows = (
            Fill.objects.for_organization(bot.organization_id)
            .filter(bot=bot, ts__gte=start, ts__lt=end)
            .order_by("ts", "pk")
            .values_list(
                "ts", "trade_id", "order__client_order_id", "symbol", "side", "price", "amount", "fee", "fee_currency"
            )
        )
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow([_text(v) for v in row])
    elif kind == "round_trips":
        yield writer.writerow(ROUND_TRIP_COLUMNS)
        rows = (
            Position.objects.for_organization(bot.organization_id)
            .filter(bot=bot, closed_at__gte=start, closed_at__lt=end)
            .order_by("closed_at", "pk")
            .values_list("symbol", "opened_at", "closed_at", "realized_pnl", "fees_paid", "exit_reason")
        )
        for symbol, opened, closed, realized, fees, reason in rows.iterator(chunk_size=2000):
            yield writer.writerow([_text(v) for v in (symbol, opened, closed, realized, fees, realized - fees, reason)])
    else:
        raise ValueError(f"Unknown trade export {kind!r}; use fills or round_trips.")
