"""Dispatch of due ticks, the kill-switch sweep and the heartbeat watchdog (all run from beat).

Dispatch claims due bots with one UPDATE: on PostgreSQL the rows are picked `FOR UPDATE SKIP
LOCKED`, so two dispatchers running at once (two beats by mistake, a manual run) split the due bots
between them and never enqueue the same tick twice. The claim sets claimed_until TICK_CLAIM_SECONDS
ahead and the tick message carries that value: a tick runs only while the claim is still the
bot's, and a tick that never completes is dispatched again once the claim runs out. The claim
column is not indexed, so claiming thousands of bots is a heap-only update.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from bots.models import Bot, BotExecution, EventSource
from bots.state import ACTIVE_STATUSES, BotStatus
from bots.tick_sql import db_params
from core.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    claimed: int = 0
    messages: int = 0
    halted: int = 0

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "messages": self.messages, "halted": self.halted}


def _halted_scope() -> tuple[bool, list[int]]:
    """(global switch engaged, organizations whose switch is engaged): one query."""
    from risk.models import KillSwitch

    rows = list(KillSwitch.objects.filter(engaged=True).values_list("organization_id", flat=True))
    return (None in rows, [r for r in rows if r is not None])


def kill_switches_enforce(*, halted: tuple[bool, list[int]] | None = None) -> int:
    """Stop every still-active bot under an engaged switch (its open orders are canceled). The
    engage service already does this; the sweep catches bots that slipped through (started in
    a race, another process's switch) within one dispatch cycle. `halted` is `_halted_scope()`
    when the caller has read it already."""
    from bots.services import bot_stop

    everything, org_ids = halted or _halted_scope()
    if not everything and not org_ids:
        return 0
    bots = Bot.objects.filter(status__in=ACTIVE_STATUSES | {BotStatus.STARTING}).select_related("exchange_account")
    if not everything:
        bots = bots.filter(organization_id__in=org_ids)
    stopped = 0
    for bot in bots:
        try:
            bot_stop(bot=bot, reason="kill switch engaged", source=EventSource.SYSTEM)
            stopped += 1
        except ApplicationError:
            continue
    return stopped


def claim_due(
    *, now: dt.datetime | None = None, limit: int | None = None, halted: tuple[bool, list[int]] | None = None
) -> tuple[list[int], dt.datetime]:
    """Claim the due native bots (oldest first), except under an engaged kill switch, and return
    their ids with the claim value."""
    now = now or timezone.now()
    claim = now + dt.timedelta(seconds=settings.TICK_CLAIM_SECONDS)
    limit = limit or settings.TICK_DISPATCH_MAX
    everything, halted_orgs = halted or _halted_scope()
    if everything:
        return [], claim
    table = Bot._meta.db_table
    statuses = sorted(ACTIVE_STATUSES)
    where_org = ""
    params: list = [claim, *statuses, BotExecution.NATIVE, now, now]
    if halted_orgs:
        where_org = f" AND organization_id NOT IN ({', '.join(['%s'] * len(halted_orgs))})"
        params += halted_orgs
    params.append(limit)
    postgres = connection.vendor == "postgresql"
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    # `= ANY(ARRAY(...))` makes PostgreSQL update the picked rows by primary key; with `IN (...)`
    # it may hash-join against a scan of the whole table (seconds on a bloated one).
    pick, close = ("= ANY(ARRAY", ")") if postgres else ("IN ", "")
    sql = (
        f"UPDATE {table} SET claimed_until = %s WHERE id {pick}("
        f"SELECT id FROM {table} WHERE status IN ({', '.join(['%s'] * len(statuses))})"
        f" AND execution = %s AND next_tick_at <= %s AND (claimed_until IS NULL OR claimed_until <= %s){where_org}"
        f" ORDER BY next_tick_at LIMIT %s{lock}){close} RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, db_params(params))
        ids = [row[0] for row in cursor.fetchall()]
    return ids, claim


def dispatch_due(*, now: dt.datetime | None = None, limit: int | None = None) -> DispatchReport:
    """The beat job's body: sweep kill switches, claim due bots, enqueue their ticks in chunks
    over one broker connection."""
    from bots.tasks import tick_bots

    halted = _halted_scope()  # one read of the switches serves the sweep and the claim
    report = DispatchReport(halted=kill_switches_enforce(halted=halted))
    ids, claim = claim_due(now=now, limit=limit, halted=halted)
    report.claimed = len(ids)
    if not ids:
        return report
    # Small chunks spread ticks over the workers; when thousands are due at once, bigger ones keep
    # the number of messages (each costs about a millisecond to publish) bounded.
    chunk = max(1, settings.TICK_DISPATCH_CHUNK, math.ceil(len(ids) / settings.TICK_DISPATCH_MAX_MESSAGES))
    stamp = claim.isoformat()
    with tick_bots.app.producer_or_acquire() as producer:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            tick_bots.apply_async(
                args=[part, stamp],
                producer=producer,
                expires=settings.TICK_CLAIM_SECONDS,
                argsrepr=f"[{len(part)} bots from {part[0]}]",
            )
            report.messages += 1
    return report


def watchdog_run(*, now: dt.datetime | None = None) -> dict:
    """Restart native bots whose heartbeat is older than 3 tick intervals, up to
    BOT_WATCHDOG_MAX_RESTARTS times (counted since the last start by a person), then put them in
    error. Open orders are left working across a watchdog restart."""
    from bots.services import bot_event_record, bot_restart, bot_transition

    now = now or timezone.now()
    # Cheap prefilter (the shortest interval is 1 s), exact test per bot below.
    candidates = Bot.objects.filter(
        status__in=ACTIVE_STATUSES, execution=BotExecution.NATIVE, status_changed_at__lt=now - dt.timedelta(seconds=3)
    ).filter(Q(last_heartbeat_at__isnull=True) | Q(last_heartbeat_at__lt=now - dt.timedelta(seconds=3)))
    restarted, failed = [], []
    for bot in candidates.select_related("exchange_account"):
        seen = max(t for t in (bot.last_heartbeat_at, bot.status_changed_at) if t is not None)
        if now - seen <= dt.timedelta(seconds=3 * bot.tick_interval):
            continue
        age = int((now - seen).total_seconds())
        try:
            if bot.watchdog_restarts >= settings.BOT_WATCHDOG_MAX_RESTARTS:
                bot_transition(
                    bot=bot,
                    target=BotStatus.ERROR,
                    reason=f"no heartbeat for {age}s after {bot.watchdog_restarts} watchdog restart(s)",
                    updates={"next_tick_at": None, "tick_lock_until": None, "claimed_until": None},
                )
                failed.append(bot.pk)
                continue
            bot_event_record(
                organization_id=bot.organization_id,
                bot=bot,
                kind="bot.watchdog_restart",
                message=f"No heartbeat for {age}s (3 intervals = {3 * bot.tick_interval}s): restarting "
                f"({bot.watchdog_restarts + 1} of {settings.BOT_WATCHDOG_MAX_RESTARTS}).",
                level="warning",
            )
            Bot.objects.filter(pk=bot.pk).update(tick_lock_until=None, watchdog_restarts=F("watchdog_restarts") + 1)
            bot_restart(bot=bot, cancel_orders=False)
            restarted.append(bot.pk)
        except ApplicationError as exc:
            logger.info("Watchdog skipped bot %s: %s", bot.pk, exc.message)
    return {"restarted": restarted, "failed": failed}
