"""The tick's reads and writes as fixed SQL statements.

A tick runs thousands of times a minute, and building each statement through the ORM costs more
than running it. These statements are written once (portable SQL: PostgreSQL, and SQLite 3.35+
for development) and loaded through `Model.objects.raw`, so rows still come back as model
instances with every field converter applied.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools

from django.db import connection, transaction
from django.db.models import JSONField

from bots.models import OPEN_ORDER_STATUSES, Bot, Order, OrderStatus, Position
from bots.state import ACTIVE_STATUSES
from exchanges.fields import SecretField
from exchanges.models import ExchangeAccount
from risk.models import KillSwitch, RiskLimits


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def _columns(model, *, skip: type) -> str:
    return ", ".join(_q(f.column) for f in model._meta.concrete_fields if not isinstance(f, skip))


@contextlib.contextmanager
def _bookkeeping_commit():
    """The tick's own bookkeeping (its lock, heartbeat and schedule) is committed without waiting
    for the WAL flush on PostgreSQL: if the database server itself crashed in the next fraction of
    a second, the write could be lost, and the tick would simply run again under the same tick
    number (its orders are found by their keys). Orders and fills keep synchronous commits."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


@functools.cache
def _sql() -> dict[str, str]:
    bot, order, pos = Bot._meta.db_table, Order._meta.db_table, Position._meta.db_table
    acct, limits, kill = ExchangeAccount._meta.db_table, RiskLimits._meta.db_table, KillSwitch._meta.db_table
    active = sorted(ACTIVE_STATUSES)
    return {
        "take": (
            f"UPDATE {_q(bot)} SET tick_lock_until = %s WHERE id = %s AND status IN ({_marks(active)})"
            " AND (tick_lock_until IS NULL OR tick_lock_until < %s){claim} RETURNING *"
        ),
        # Without the encrypted credentials: decrypting them costs more than the whole query, and
        # only a live account's client needs them (they load on first access).
        "account": f"SELECT {_columns(ExchangeAccount, skip=SecretField)} FROM {_q(acct)} WHERE id = %s",
        "flags": (
            f"SELECT EXISTS (SELECT 1 FROM {_q(kill)} WHERE engaged = %s"
            " AND (organization_id = %s OR organization_id IS NULL)),"
            f" (SELECT COUNT(*) FROM {_q(order)} WHERE bot_id = %s AND created_at >= %s AND status <> %s)"
        ),
        "limits": (
            f"SELECT * FROM {_q(limits)} WHERE (organization_id = %s AND exchange_account_id IS NULL"
            " AND bot_id IS NULL) OR exchange_account_id = %s OR bot_id = %s"
        ),
        "open_orders": (
            f"SELECT * FROM {_q(order)} WHERE bot_id = %s AND status IN ({_marks(OPEN_ORDER_STATUSES)}) ORDER BY id"
        ),
        # Open first, then the newest closed (portable NULLS FIRST).
        "positions": (
            f"SELECT * FROM {_q(pos)} WHERE bot_id = %s"
            " ORDER BY CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, closed_at DESC, id DESC LIMIT %s"
        ),
        "finish": (
            f"UPDATE {_q(bot)} SET last_heartbeat_at = %s, last_tick_at = %s, last_tick_ms = %s,"
            " tick_count = tick_count + 1, consecutive_errors = 0, state = %s, tick_lock_until = NULL,"
            " next_tick_at = CASE WHEN status IN ({active}) THEN %s ELSE next_tick_at END"
            " WHERE id = %s AND tick_lock_until = %s"
        ).replace("{active}", _marks(active)),
    }


def bot_take(*, bot_id: int, claim: dt.datetime | None, now: dt.datetime, lock_until: dt.datetime) -> Bot | None:
    """Lock an active bot for one tick and load it, in one statement; None when it is not active,
    another tick holds it, or the claim is stale."""
    sql = _sql()["take"].replace("{claim}", " AND next_tick_at = %s" if claim is not None else "")
    params = [lock_until, bot_id, *sorted(ACTIVE_STATUSES), now] + ([claim] if claim is not None else [])
    with _bookkeeping_commit():
        rows = list(Bot.objects.raw(sql, params))
    return rows[0] if rows else None


def account_load(account_id: int) -> ExchangeAccount:
    return next(iter(ExchangeAccount.objects.raw(_sql()["account"], [account_id])))


def flags_load(*, bot: Bot, day_start: dt.datetime) -> tuple[bool, int]:
    """(a kill switch covers the bot, orders placed today that were not rejected)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["flags"], [True, bot.organization_id, bot.pk, day_start, OrderStatus.REJECTED])
        kill, count = cursor.fetchone()
    return bool(kill), int(count)


def limits_load(*, bot: Bot) -> list[RiskLimits]:
    return list(RiskLimits.objects.raw(_sql()["limits"], [bot.organization_id, bot.exchange_account_id, bot.pk]))


def open_orders_load(*, bot: Bot) -> list[Order]:
    return list(Order.objects.raw(_sql()["open_orders"], [bot.pk, *OPEN_ORDER_STATUSES]))


def positions_load(*, bot: Bot, limit: int) -> list[Position]:
    return list(Position.objects.raw(_sql()["positions"], [bot.pk, limit]))


_STATE = JSONField()


def bot_finish(
    *, bot_id: int, lock_until: dt.datetime, now: dt.datetime, next_at: dt.datetime, state: dict, ms: float
) -> int:
    """Heartbeat, counters, memory and the next tick in one UPDATE that also releases the bot.
    Guarded by our lock value; next_tick_at is only set while the bot is still active."""
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
    with _bookkeeping_commit(), connection.cursor() as cursor:
        cursor.execute(_sql()["finish"], params)
        return cursor.rowcount
