"""Metric snapshots: one row per running bot every minute, and their retention.

`snapshots_take` values every running bot in a fixed number of statements whatever the number of
bots (aggregates over positions, orders and fills, one lookup of the last prices, one insert), so
the beat job costs the same for ten bots or ten thousand. `snapshots_downsample` keeps raw rows
for `ANALYTICS_RAW_RETENTION_DAYS`, hourly rows for `ANALYTICS_HOURLY_RETENTION_DAYS`, and daily
rows after that.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Min, Sum
from django.utils import timezone

from analytics.models import MetricSnapshot, Resolution
from bots.live import collecting, publish_on_commit
from bots.models import OPEN_ORDER_STATUSES, Bot, Fill, Order, Position
from bots.state import BotStatus
from core.db import insert_rows
from exchanges.market_data import TIMEFRAME_MS, timeframe_ms
from exchanges.models import PAPER_EXCHANGE, Candle

ZERO = Decimal("0")
HUNDRED = Decimal("100")
# Bots that are trading: a degraded bot still holds positions and orders worth watching.
SNAPSHOT_STATUSES = (BotStatus.RUNNING, BotStatus.DEGRADED)
# The paper clock is set by this series, as in exchanges.gateway.paper_clock.
PAPER_CLOCK_SYMBOL = "BTC/USDT"


@dataclass(frozen=True)
class _MarkKey:
    exchange: str
    symbol: str


def _paper_market_ms(now: dt.datetime) -> int | None:
    """The paper exchange's market time at `now`: the replay clock wraps wall time onto the stored
    series (start + wall ms modulo its span), as `exchanges.gateway.paper_clock` does."""
    span = Candle.objects.filter(
        exchange=settings.PAPER_DATA_EXCHANGE, symbol=PAPER_CLOCK_SYMBOL, timeframe=settings.PAPER_TIMEFRAME
    ).aggregate(first=Min("ts"), last=Max("ts"))
    if span["first"] is None:
        return None
    start = int(span["first"].timestamp() * 1000)
    end = int(span["last"].timestamp() * 1000) + timeframe_ms(settings.PAPER_TIMEFRAME)
    wall = int(now.timestamp() * 1000)
    return start + wall % max(1, end - start)


def _last_prices(keys: set[_MarkKey], *, now: dt.datetime, paper_ms: int | None) -> dict[_MarkKey, Decimal]:
    """The close of the newest closed candle per market, in one statement: the paper exchange's
    replayed series at its market time, and for real exchanges the newest stored candle of any
    timeframe up to now."""
    probes: list[tuple[_MarkKey, str, str, dt.datetime]] = []
    for key in keys:
        if key.exchange == PAPER_EXCHANGE:
            if paper_ms is None:
                continue
            step = timeframe_ms(settings.PAPER_TIMEFRAME)
            before = dt.datetime.fromtimestamp((paper_ms - step) / 1000, tz=dt.UTC)
            probes.append((key, settings.PAPER_DATA_EXCHANGE, settings.PAPER_TIMEFRAME, before))
        else:
            probes.extend((key, key.exchange, timeframe, now) for timeframe in TIMEFRAME_MS)
    if not probes:
        return {}
    table = connection.ops.quote_name(Candle._meta.db_table)
    params: list = []
    rows_sql = []
    for i, (key, exchange, timeframe, before) in enumerate(probes):
        rows_sql.append("(%s, %s, %s, %s, %s)")
        params.extend([i, exchange, key.symbol, timeframe, before])
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT v.i, c.ts, c.close
            FROM (VALUES {", ".join(rows_sql)}) AS v(i, exchange, symbol, timeframe, before)
            CROSS JOIN LATERAL (
                SELECT ts, close FROM {table}
                WHERE exchange = v.exchange AND symbol = v.symbol AND timeframe = v.timeframe
                  AND ts <= v.before::timestamptz
                ORDER BY ts DESC LIMIT 1
            ) AS c
        """
    else:  # SQLite: a correlated subquery per probe
        sql = f"""
            WITH v(i, exchange, symbol, timeframe, before) AS (VALUES {", ".join(rows_sql)})
            SELECT v.i, c.ts, c.close FROM v JOIN {table} AS c ON c.id = (
                SELECT id FROM {table} WHERE exchange = v.exchange AND symbol = v.symbol
                AND timeframe = v.timeframe AND ts <= v.before ORDER BY ts DESC LIMIT 1
            )
        """
    close_field = Candle._meta.get_field("close")
    newest: dict[_MarkKey, tuple[dt.datetime, Decimal]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for i, ts, close in cursor.fetchall():
            key = probes[i][0]
            close = close_field.to_python(close)
            if key not in newest or str(ts) > str(newest[key][0]):
                newest[key] = (ts, close)
    return {key: close for key, (_ts, close) in newest.items()}


def snapshots_take(*, now: dt.datetime | None = None) -> list[MetricSnapshot]:
    """Write one snapshot per running bot at `now` (truncated to the second) and publish them to
    each organization's live listeners. Safe to run twice for the same instant: bots that already
    have a row at that time are left alone."""
    now = (now or timezone.now()).replace(microsecond=0)
    bots = list(
        Bot.objects.filter(status__in=SNAPSHOT_STATUSES)
        .exclude(metric_snapshots__ts=now)
        .values("id", "organization_id", "capital", "symbol", "exchange_account__exchange")
    )
    if not bots:
        return []
    ids = [b["id"] for b in bots]
    exchange_of = {b["id"]: b["exchange_account__exchange"] for b in bots}

    realized = dict(
        Position.objects.filter(bot_id__in=ids)
        .values("bot_id")
        .annotate(net=Sum(F("realized_pnl") - F("fees_paid") + F("funding")))
        .values_list("bot_id", "net")
    )
    open_positions = list(
        Position.objects.filter(bot_id__in=ids, closed_at__isnull=True)
        .exclude(quantity=0)
        .values_list("bot_id", "symbol", "quantity", "average_entry_price")
    )
    open_orders = dict(
        Order.objects.filter(bot_id__in=ids, status__in=OPEN_ORDER_STATUSES)
        .values("bot_id")
        .annotate(n=Count("id"))
        .values_list("bot_id", "n")
    )
    notional = ExpressionWrapper(F("price") * F("amount"), output_field=DecimalField(max_digits=38, decimal_places=18))
    day = {
        row["bot_id"]: row
        for row in Fill.objects.filter(bot_id__in=ids, ts__gt=now - dt.timedelta(days=1), ts__lte=now)
        .values("bot_id")
        .annotate(volume=Sum(notional), orders=Count("order_id", distinct=True))
    }

    keys = {_MarkKey(exchange_of[bot_id], symbol) for bot_id, symbol, _q, _p in open_positions}
    paper_ms = _paper_market_ms(now) if any(k.exchange == PAPER_EXCHANGE for k in keys) else None
    marks = _last_prices(keys, now=now, paper_ms=paper_ms)

    unrealized: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for bot_id, symbol, quantity, average in open_positions:
        # Without a stored price the position is carried at cost: no invented gain or loss.
        mark = marks.get(_MarkKey(exchange_of[bot_id], symbol), average)
        unrealized[bot_id] += (mark - average) * quantity

    rows = []
    for b in bots:
        bot_id, capital = b["id"], b["capital"]
        realized_net = realized.get(bot_id) or ZERO
        balance = capital + realized_net
        equity = balance + unrealized[bot_id]
        pnl = equity - capital
        rows.append(
            MetricSnapshot(
                organization_id=b["organization_id"],
                bot_id=bot_id,
                ts=now,
                resolution=Resolution.MINUTE,
                balance=balance,
                equity=equity,
                pnl=pnl,
                pnl_pct=(pnl / capital * HUNDRED).quantize(Decimal("1e-8")),
                realized_pnl=realized_net,
                unrealized_pnl=unrealized[bot_id],
                open_orders=open_orders.get(bot_id, 0),
                filled_orders=day.get(bot_id, {}).get("orders", 0),
                volume_24h=day.get(bot_id, {}).get("volume") or ZERO,
            )
        )
    # One frame per snapshot, sent after the commit as one message per organization.
    with transaction.atomic(), collecting():
        insert_rows(MetricSnapshot, rows)
        for row in rows:
            publish_on_commit(row.organization_id, "metric", metric=snapshot_payload(row))
    return rows


def snapshot_payload(row: MetricSnapshot) -> dict:
    """A snapshot as JSON-ready data: money as strings, never floats."""
    return {
        "bot": row.bot_id,
        "ts": row.ts.isoformat(),
        "balance": str(row.balance),
        "equity": str(row.equity),
        "pnl": str(row.pnl),
        "pnl_pct": str(row.pnl_pct),
        "realized_pnl": str(row.realized_pnl),
        "unrealized_pnl": str(row.unrealized_pnl),
        "open_orders": row.open_orders,
        "filled_orders": row.filled_orders,
        "volume_24h": str(row.volume_24h),
    }


# -- retention --------------------------------------------------------------------------------------
_MONEY = ("balance", "equity", "pnl", "pnl_pct", "realized_pnl", "unrealized_pnl", "volume_24h")


def _roll_up(*, source: int, target: int, before: dt.datetime) -> int:
    """Replace the `source`-resolution rows older than `before` by one `target`-resolution row per
    bot and bucket: the average of the money values, the last open-order count and the highest
    filled-order count. One statement, so a crash leaves either the old rows or the new ones."""
    table = connection.ops.quote_name(MetricSnapshot._meta.db_table)
    step = dt.timedelta(seconds=target)
    if connection.vendor != "postgresql":
        return _roll_up_python(source=source, target=target, before=before)
    averages = ", ".join(f"AVG({c})" for c in _MONEY)
    sql = f"""
        WITH moved AS (
            DELETE FROM {table} WHERE resolution = %s AND ts < %s
            RETURNING organization_id, bot_id, ts, {", ".join(_MONEY)}, open_orders, filled_orders
        )
        INSERT INTO {table} (organization_id, bot_id, ts, resolution, {", ".join(_MONEY)},
                             open_orders, filled_orders)
        SELECT organization_id, bot_id, date_bin(%s, ts, TIMESTAMPTZ '2000-01-01'), %s, {averages},
               (ARRAY_AGG(open_orders ORDER BY ts DESC))[1], MAX(filled_orders)
        FROM moved GROUP BY organization_id, bot_id, date_bin(%s, ts, TIMESTAMPTZ '2000-01-01')
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [source, before, step, target, step])
        return cursor.rowcount


def _roll_up_python(*, source: int, target: int, before: dt.datetime) -> int:
    """The same roll-up for SQLite (development data is small)."""
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    groups: dict[tuple[int, dt.datetime], list[MetricSnapshot]] = defaultdict(list)
    old = MetricSnapshot.objects.filter(resolution=source, ts__lt=before).order_by("ts")
    for row in old:
        bucket = epoch + dt.timedelta(seconds=(row.ts - epoch).total_seconds() // target * target)
        groups[(row.bot_id, bucket)].append(row)
    new = []
    for (bot_id, bucket), members in groups.items():
        n = len(members)
        values = {c: sum((getattr(m, c) for m in members), ZERO) / n for c in _MONEY}
        new.append(
            MetricSnapshot(
                organization_id=members[0].organization_id,
                bot_id=bot_id,
                ts=bucket,
                resolution=target,
                open_orders=members[-1].open_orders,
                filled_orders=max(m.filled_orders for m in members),
                **values,
            )
        )
    old.delete()
    MetricSnapshot.objects.bulk_create(new)
    return len(new)


def snapshots_downsample(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Roll raw rows older than the raw retention into hours, and hourly rows older than the
    hourly retention into days. Only whole buckets are rolled, so running it again (or twice at
    once: the second waits on the first's locks) changes nothing."""
    now = now or timezone.now()
    hour_cut = _floor(now - dt.timedelta(days=settings.ANALYTICS_RAW_RETENTION_DAYS), Resolution.HOUR)
    day_cut = _floor(now - dt.timedelta(days=settings.ANALYTICS_HOURLY_RETENTION_DAYS), Resolution.DAY)
    with transaction.atomic():
        hours = _roll_up(source=Resolution.MINUTE, target=Resolution.HOUR, before=hour_cut)
        days = _roll_up(source=Resolution.HOUR, target=Resolution.DAY, before=day_cut)
    return {"hourly": hours, "daily": days}


def _floor(value: dt.datetime, seconds: int) -> dt.datetime:
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return epoch + dt.timedelta(seconds=(value - epoch).total_seconds() // seconds * seconds)
