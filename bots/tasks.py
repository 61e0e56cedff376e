"""Celery tasks of the bots app. Tasks take ids and call services; they hold no rules."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from bots import live
from bots.models import OPEN_ORDER_STATUSES, Bot, Order
from bots.prometheus import observe_reconciliation
from bots.reconciliation import reconcile_account
from bots.state import ACTIVE_STATUSES
from exchanges.errors import ExchangeError
from exchanges.models import ExchangeAccount, ExchangeAccountStatus

logger = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=5)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_account_task(account_id: int) -> dict | None:
    """Reconcile one account, unless another worker holds its lease (then this run is skipped)."""
    now = timezone.now()
    took = (
        ExchangeAccount.objects.filter(pk=account_id)
        .filter(Q(reconcile_lease_until__isnull=True) | Q(reconcile_lease_until__lt=now))
        .update(reconcile_lease_until=now + LEASE)
    )
    if not took:
        return None
    try:
        account = ExchangeAccount.objects.get(pk=account_id)
        report = reconcile_account(account=account)
        observe_reconciliation(report)
        if report.corrections or report.errors:
            logger.info("Reconciled account %s: %s", account_id, report.as_dict())
        return report.as_dict()
    except ExchangeError as exc:
        logger.warning("Reconciliation of account %s failed: %s", account_id, exc.message)
        return None
    finally:
        ExchangeAccount.objects.filter(pk=account_id).update(reconcile_lease_until=None)


@shared_task(ignore_result=True)
def reconcile_all() -> int:
    """Beat job: one reconciliation task per account that trades or has open orders."""
    ids = set(Bot.objects.filter(status__in=ACTIVE_STATUSES).values_list("exchange_account_id", flat=True)) | set(
        Order.objects.filter(status__in=OPEN_ORDER_STATUSES).values_list("exchange_account_id", flat=True)
    )
    ids = (
        ExchangeAccount.objects.filter(pk__in=ids)
        .exclude(status__in=[ExchangeAccountStatus.PAUSED, ExchangeAccountStatus.DISABLED])
        .values_list("pk", flat=True)
    )
    for account_id in ids:
        reconcile_account_task.delay(account_id)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def tick_bots(bot_ids: list[int], claim: str) -> dict:
    """Tick a chunk of bots claimed together by the dispatcher. Each bot is isolated: one bot's
    failure is recorded on it and the others go on. Re-delivered after a worker dies (acks_late,
    reject on worker lost); ticks already done are then skipped by their claim."""
    from bots.runtime import bot_tick

    when = dt.datetime.fromisoformat(claim)
    outcomes: dict[str, int] = {}
    # Live frames of the whole chunk leave together: one message per organization.
    with live.collecting():
        for bot_id in bot_ids:
            result = bot_tick(bot_id=bot_id, claim=when)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        live.publish_bot_ids([int(i) for i in bot_ids])
    return outcomes


@shared_task(ignore_result=True)
def dispatch_ticks() -> dict:
    """Beat job, every second: enqueue the ticks of due bots (see bots.dispatch)."""
    from bots.dispatch import dispatch_due

    return dispatch_due().as_dict()


@shared_task(ignore_result=True)
def watchdog() -> dict:
    """Beat job: restart bots whose heartbeat went stale, then give up into error."""
    from bots.dispatch import watchdog_run

    return watchdog_run()
