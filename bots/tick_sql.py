"""The tick's reads and writes as fixed SQL statements.

A tick runs thousands of times a minute, and building each statement through the ORM costs more
than running it. These statements are written once (portable SQL: PostgreSQL, and SQLite 3.35+
for development) with explicit column lists, and rows are turned into model instances with each
field's database converters (planned once per statement), as the ORM itself would.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import DatabaseError, connection
from django.db.models import DateTimeField, DecimalField, FloatField, JSONField

from bots.models import OPEN_ORDER_STATUSES, Bot, BotMode, Order, OrderStatus, Position
from bots.state import ACTIVE_STATUSES
from exchanges.fields import SecretField
from exchanges.models import ExchangeAccount
from risk.models import KillSwitch, RiskLimits


def db_params(params) -> list:
    """Parameters as the ORM would send them: datetimes through the backend's adapter (SQLite
    stores naive UTC text, so an aware datetime passed as it is would never compare equal)."""
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(p) if isinstance(p, dt.datetime) else p for p in params]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def _fields(model, skip: type | None = None) -> list:
    return [f for f in model._meta.concrete_fields if skip is None or not isinstance(f, skip)]


def _columns(model, skip: type | None = None) -> str:
    return ", ".join(_q(f.column) for f in _fields(model, skip))


@functools.cache
def _plan(model, skip: type | None) -> tuple[list[str], list[tuple[int, list, object]]]:
    """Attribute names in column order, and the converters of the columns that need any."""
    names, converters = [], []
    for i, field in enumerate(_fields(model, skip)):
        names.append(field.attname)
        col = field.get_col(model._meta.db_table)
        fns = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if fns:
            converters.append((i, fns, col))
    return names, converters


def _fetch(model, sql: str, params: list, skip: type | None = None, *, prefixed: bool = False) -> list:
    """Run a statement whose columns are `_columns(model, skip)` and return model instances (the
    skipped fields are deferred: they load on first access)."""
    names, converters = _plan(model, skip)
    with connection.cursor() as cursor:
        cursor.execute(sql, db_params(params))
        if prefixed:
            cursor.nextset()
        rows = cursor.fetchall()
    out = []
    for row in rows:
        values = list(row)
        for i, fns, col in converters:
            for fn in fns:
                values[i] = fn(values[i], col, connection)
        out.append(model.from_db(connection.alias, names, values))
    return out


ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "
RELAX = "SET synchronous_commit TO OFF; "
RESTORE = "RESET synchronous_commit; "


def relaxed_commits(bot: Bot) -> bool:
    """Whether a paper bot's tick commits everything without waiting for the WAL flush.

    A paper bot's exchange is the paper exchange, in this same database: its orders, the paper
    book, fills and positions all commit to one write-ahead log, in order. If the database server
    crashed, asynchronous commits would lose at most the last fraction of a second, and what
    survives is always a prefix of what was committed: the same state as a worker that died a
    moment earlier, which the tick already survives (its orders are found again by their intent
    keys). A live bot's order must be durable before it leaves for a real exchange, so live bots
    keep synchronous commits for orders and fills (only their bookkeeping is asynchronous)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block and bot.mode == BotMode.PAPER


def commits_restore() -> None:
    """Back to the server's synchronous_commit for whatever this connection runs next. When the
    connection itself failed, it is closed instead: the next one starts with the server's value."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(RESTORE.strip("; "))
    except DatabaseError:
        connection.close()


def _bookkeeping(sql: str) -> tuple[str, bool]:
    """The tick's own bookkeeping (its lock, heartbeat and schedule) is committed without waiting
    for the WAL flush on PostgreSQL: if the database server itself crashed in the next fraction of
    a second, the write could be lost, and the tick would simply run again under the same tick
    number (its orders are found by their keys). Orders and fills keep synchronous commits.

    The setting rides in the same round trip (a multi-statement query is one implicit
    transaction, which SET LOCAL applies to); returns the SQL and whether it carries it."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return sql, False
    return ASYNC_COMMIT + sql, True


@functools.cache
def _sql() -> dict[str, str]:
    bot, order, pos = Bot._meta.db_table, Order._meta.db_table, Position._meta.db_table
    acct, limits, kill = ExchangeAccount._meta.db_table, RiskLimits._meta.db_table, KillSwitch._meta.db_table
    active = sorted(ACTIVE_STATUSES)
    return {
        "take": (
            f"UPDATE {_q(bot)} SET tick_lock_until = %s WHERE id = %s AND status IN ({_marks(active)})"
            f" AND (tick_lock_until IS NULL OR tick_lock_until < %s){{claim}} RETURNING {_columns(Bot)}"
        ),
        # Without the encrypted credentials: decrypting them costs more than the whole query, and
        # only a live account's client needs them (they load on first access).
        "account": f"SELECT {_columns(ExchangeAccount, SecretField)} FROM {_q(acct)} WHERE id = %s",
        "flags": (
            f"SELECT EXISTS (SELECT 1 FROM {_q(kill)} WHERE engaged = %s"
            " AND (organization_id = %s OR organization_id IS NULL)),"
            f" (SELECT COUNT(*) FROM {_q(order)} WHERE bot_id = %s AND created_at >= %s AND status <> %s)"
        ),
        "limits": (
            f"SELECT {_columns(RiskLimits)} FROM {_q(limits)}"
            " WHERE (organization_id = %s AND exchange_account_id IS NULL AND bot_id IS NULL)"
            " OR exchange_account_id = %s OR bot_id = %s"
        ),
        "open_orders": (
            f"SELECT {_columns(Order)} FROM {_q(order)}"
            f" WHERE bot_id = %s AND status IN ({_marks(OPEN_ORDER_STATUSES)}) ORDER BY id"
        ),
        # Open first, then the newest closed (portable NULLS FIRST).
        "positions": (
            f"SELECT {_columns(Position)} FROM {_q(pos)} WHERE bot_id = %s"
            " ORDER BY CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, closed_at DESC, id DESC LIMIT %s"
        ),
        "finish": (
            f"UPDATE {_q(bot)} SET last_heartbeat_at = %s, last_tick_at = %s, last_tick_ms = %s,"
            " tick_count = tick_count + 1, consecutive_errors = 0, state = %s, tick_lock_until = NULL,"
            " claimed_until = NULL,"
            " next_tick_at = CASE WHEN status IN ({active}) THEN %s ELSE next_tick_at END"
            " WHERE id = %s AND tick_lock_until = %s"
        ).replace("{active}", _marks(active)),
    }


def bot_take(*, bot_id: int, claim: dt.datetime | None, now: dt.datetime, lock_until: dt.datetime) -> Bot | None:
    """Lock an active bot for one tick and load it, in one statement; None when it is not active,
    another tick holds it, or the claim is stale."""
    sql = _sql()["take"].replace("{claim}", " AND claimed_until = %s" if claim is not None else "")
    params = [lock_until, bot_id, *sorted(ACTIVE_STATUSES), now] + ([claim] if claim is not None else [])
    sql, prefixed = _bookkeeping(sql)
    rows = _fetch(Bot, sql, params, prefixed=prefixed)
    return rows[0] if rows else None


def account_load(account_id: int) -> ExchangeAccount:
    return _fetch(ExchangeAccount, _sql()["account"], [account_id], SecretField)[0]


def flags_load(*, bot: Bot, day_start: dt.datetime) -> tuple[bool, int]:
    """(a kill switch covers the bot, orders placed today that were not rejected)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["flags"], db_params([True, bot.organization_id, bot.pk, day_start, OrderStatus.REJECTED]))
        kill, count = cursor.fetchone()
    return bool(kill), int(count)


@functools.cache
def _pooled_sql() -> str:
    order, pos, bot = Order._meta.db_table, Position._meta.db_table, Bot._meta.db_table
    opened = _marks(OPEN_ORDER_STATUSES)
    net = "COALESCE(SUM(p.realized_pnl - p.fees_paid), 0)"
    return (
        f"SELECT (SELECT COUNT(*) FROM {_q(order)} WHERE exchange_account_id = %s AND status IN ({opened})),"
        f" (SELECT COUNT(*) FROM {_q(order)} WHERE exchange_account_id = %s AND created_at >= %s AND status <> %s),"
        f" (SELECT {net} FROM {_q(pos)} p JOIN {_q(bot)} b ON b.id = p.bot_id"
        " WHERE b.exchange_account_id = %s AND p.closed_at >= %s),"
        f" (SELECT COUNT(*) FROM {_q(order)} WHERE organization_id = %s AND status IN ({opened})),"
        f" (SELECT COUNT(*) FROM {_q(order)} WHERE organization_id = %s AND created_at >= %s AND status <> %s),"
        f" (SELECT {net} FROM {_q(pos)} p WHERE p.organization_id = %s AND p.closed_at >= %s)"
    )


@dataclass(frozen=True)
class Pool:
    """What all the bots of one account or organization have together, today."""

    open_orders: int
    orders_today: int
    realized_today: Decimal


def pools_load(*, bot: Bot, day_start: dt.datetime) -> dict[str, Pool]:
    """The bot's account's and organization's pooled counts (one statement)."""
    acct, org, rejected = bot.exchange_account_id, bot.organization_id, OrderStatus.REJECTED
    params = [acct, *OPEN_ORDER_STATUSES, acct, day_start, rejected, acct, day_start]
    params += [org, *OPEN_ORDER_STATUSES, org, day_start, rejected, org, day_start]
    with connection.cursor() as cursor:
        cursor.execute(_pooled_sql(), db_params(params))
        row = cursor.fetchone()
    return {
        "account": Pool(int(row[0]), int(row[1]), Decimal(str(row[2]))),
        "organization": Pool(int(row[3]), int(row[4]), Decimal(str(row[5]))),
    }


def limits_load(*, bot: Bot) -> list[RiskLimits]:
    return _fetch(RiskLimits, _sql()["limits"], [bot.organization_id, bot.exchange_account_id, bot.pk])


def open_orders_load(*, bot: Bot) -> list[Order]:
    return _fetch(Order, _sql()["open_orders"], [bot.pk, *OPEN_ORDER_STATUSES])


def positions_load(*, bot: Bot, limit: int) -> list[Position]:
    return _fetch(Position, _sql()["positions"], [bot.pk, limit])


@dataclass
class SnapshotRows:
    account: ExchangeAccount
    kill_switch: bool
    orders_today: int
    limits: list[RiskLimits]
    open_orders: list[Order]
    positions: list[Position]


def snapshot_load(*, bot: Bot, day_start: dt.datetime, positions: int, relax: bool = False) -> SnapshotRows:
    """The bot's account, kill switch, today's order count, limits, open orders and recent
    positions: one statement on PostgreSQL (each part as JSON), six elsewhere. With `relax`, the
    same round trip turns this connection's commits asynchronous (see `relaxed_commits`) until
    `bot_finish(restore=True)` or `commits_restore()`."""
    if connection.vendor != "postgresql":
        kill, count = flags_load(bot=bot, day_start=day_start)
        return SnapshotRows(
            account_load(bot.exchange_account_id),
            kill,
            count,
            limits_load(bot=bot),
            open_orders_load(bot=bot),
            positions_load(bot=bot, limit=positions),
        )
    params = [
        bot.exchange_account_id,
        True,
        bot.organization_id,
        bot.pk,
        day_start,
        OrderStatus.REJECTED,
        bot.organization_id,
        bot.exchange_account_id,
        bot.pk,
        bot.pk,
        *OPEN_ORDER_STATUSES,
        bot.pk,
        positions,
    ]
    with connection.cursor() as cursor:
        cursor.execute((RELAX if relax else "") + _snapshot_sql(), db_params(params))
        if relax:
            cursor.nextset()
        account, kill, count, limits, orders, recent = cursor.fetchone()
    return SnapshotRows(
        _from_json(ExchangeAccount, [json.loads(account, parse_float=Decimal)], SecretField)[0],
        bool(kill),
        int(count),
        _from_json(RiskLimits, json.loads(limits, parse_float=Decimal)),
        _from_json(Order, json.loads(orders, parse_float=Decimal)),
        _from_json(Position, json.loads(recent, parse_float=Decimal)),
    )


@functools.cache
def _snapshot_sql() -> str:
    sql = _sql()

    def rows(query: str) -> str:
        return f"(SELECT COALESCE(json_agg(r), '[]'::json)::text FROM ({query}) r)"

    return (
        f"SELECT (SELECT row_to_json(r)::text FROM ({sql['account']}) r), {sql['flags'][len('SELECT ') :]},"
        f" {rows(sql['limits'])}, {rows(sql['open_orders'])}, {rows(sql['positions'])}"
    )


def _from_json(model, rows: list[dict], skip: type | None = None) -> list:
    """Model instances from rows that PostgreSQL rendered as JSON (numbers parsed as Decimal)."""
    names, columns, kinds = _json_plan(model, skip)
    out = []
    for row in rows:
        values = []
        for column, kind in zip(columns, kinds, strict=True):
            value = row[column]
            if value is not None:
                if kind == "decimal":
                    value = Decimal(value) if not isinstance(value, Decimal) else value
                elif kind == "datetime":
                    value = dt.datetime.fromisoformat(value)
                elif kind == "float":
                    value = float(value)
            values.append(value)
        out.append(model.from_db(connection.alias, names, values))
    return out


@functools.cache
def _json_plan(model, skip: type | None) -> tuple[list[str], list[str], list[str]]:
    kinds = []
    for field in _fields(model, skip):
        if isinstance(field, DecimalField):
            kinds.append("decimal")
        elif isinstance(field, DateTimeField):
            kinds.append("datetime")
        elif isinstance(field, FloatField):
            kinds.append("float")
        else:
            kinds.append("")
    fields = _fields(model, skip)
    return [f.attname for f in fields], [f.column for f in fields], kinds


_STATE = JSONField()


def bot_finish(
    *,
    bot_id: int,
    lock_until: dt.datetime,
    now: dt.datetime,
    next_at: dt.datetime,
    state: dict,
    ms: float,
    restore: bool = False,
) -> int:
    """Heartbeat, counters, memory and the next tick in one UPDATE that also releases the bot.
    Guarded by our lock value; next_tick_at is only set while the bot is still active. With
    `restore`, the same round trip ends a relaxed tick's asynchronous commits (the UPDATE itself
    still commits asynchronously: SET LOCAL outranks the session value being reset)."""
    params = [
        now,
        now,
        round(ms, 3),
        _STATE.get_db_prep_value(state, connection),
        *sorted(ACTIVE_STATUSES),
        next_at,
        bot_id,
        lock_until,
    ]
    sql, prefixed = _bookkeeping(_sql()["finish"])
    if restore:
        sql = RESTORE + sql
    with connection.cursor() as cursor:
        cursor.execute(sql, db_params(params))
        for _ in range(int(prefixed) + int(restore)):
            cursor.nextset()
        return cursor.rowcount
