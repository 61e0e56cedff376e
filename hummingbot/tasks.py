"""Celery tasks for Hummingbot commands: they take ids and call hummingbot.commands.

A command without an answer is retried with a growing delay (the commands are idempotent, so a
repeat is harmless); a refusal is final. Enqueue with `transaction.on_commit`.

Task names are what queued messages carry, so they keep the names they had before Hummingbot
became its own app (`bots.hummingbot.tasks.*`, `bots.tasks.hummingbot_health`): a message queued
by the previous release still finds its task after an upgrade.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from core.errors import ApplicationError
from hummingbot import commands
from hummingbot.models import DeploymentStatus, HummingbotDeployment
from hummingbot.rpc import CommandTimeout

logger = logging.getLogger(__name__)

OLD_PREFIX = "bots.hummingbot.tasks"

MAX_RETRIES = 5
RETRY = {
    "acks_late": True,
    "autoretry_for": (CommandTimeout,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": MAX_RETRIES,
}


def _deployment(deployment_id: int) -> HummingbotDeployment | None:
    deployment = (
        HummingbotDeployment.objects.select_related("bot", "instance", "organization").filter(pk=deployment_id).first()
    )
    if deployment is None:
        logger.info("Hummingbot deployment %s is gone; nothing to do.", deployment_id)
    return deployment


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_import")
def hb_import(deployment_id: int) -> str | None:
    """Import the deployment's config file on its instance."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    return commands.deployment_import(deployment=deployment).status


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_config")
def hb_config(deployment_id: int, params: dict[str, Any] | list | None = None) -> list | None:
    """Apply settings ([key, value] pairs or a dict; by default the deployment's planned ones) on
    its instance; returns the changes."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    if params is None:
        params = commands.deployment_plan(deployment)["config"]
    return commands.deployment_config(deployment=deployment, params=params).get("changes") or []


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_start")
def hb_start(deployment_id: int) -> str | None:
    """Start the deployment's strategy (a success if it already runs)."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    return commands.deployment_start(deployment=deployment).status


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_stop")
def hb_stop(deployment_id: int, skip_order_cancellation: bool = False) -> str | None:
    """Stop the deployment's strategy (a success if it is already stopped)."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    return commands.deployment_stop(deployment=deployment, skip_order_cancellation=skip_order_cancellation).status


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_status")
def hb_status(deployment_id: int) -> dict | None:
    """Ask whether the strategy runs and reconcile the deployment's status."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    return commands.deployment_status(deployment=deployment)


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_history")
def hb_history(deployment_id: int, days: float = 0) -> list | None:
    """The trades the instance recorded for the deployment's strategy file."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    return commands.deployment_history(deployment=deployment, days=days)


@shared_task(**RETRY, name=f"{OLD_PREFIX}.hb_deploy")
def hb_deploy(deployment_id: int, params: dict[str, Any] | list | None = None) -> str | None:
    """Import (V1), configure (with `params`, by default the planned settings; none just reads
    them back) and start: every step is idempotent, so a retry after a timeout repeats the whole
    chain safely."""
    if (deployment := _deployment(deployment_id)) is None:
        return None
    plan = commands.deployment_plan(deployment)
    if plan["import"] is not None:
        commands.deployment_import(deployment=deployment)
    if plan["import"] is not None or params:  # a V2 config is not set through /config
        commands.deployment_config(deployment=deployment, params=plan["config"] if params is None else params)
    return commands.deployment_start(deployment=deployment).status


@shared_task(acks_late=True, ignore_result=True, name=f"{OLD_PREFIX}.hb_reconcile")
def hb_reconcile(deployment_id: int) -> int | None:
    """Record the trades a deployment's instance reports in /history that its event stream lost."""
    from hummingbot.services import deployment_reconcile

    deployment = _deployment(deployment_id)
    if deployment is None:
        return None
    try:
        return deployment_reconcile(deployment=deployment)
    except ApplicationError as exc:
        logger.warning("Reconciling deployment %s failed: %s", deployment_id, exc.message)
        return None


@shared_task(ignore_result=True, name=f"{OLD_PREFIX}.hb_reconcile_all")
def hb_reconcile_all() -> int:
    """Beat job: one /history reconciliation per running deployment."""
    ids = list(HummingbotDeployment.objects.filter(status=DeploymentStatus.RUNNING).values_list("pk", flat=True))
    for deployment_id in ids:
        hb_reconcile.delay(deployment_id)
    return len(ids)


@shared_task(ignore_result=True, name="bots.tasks.hummingbot_health")
def hummingbot_health() -> dict:
    """Beat job: instances that missed their heartbeats go offline and their bots fail over."""
    from hummingbot.services import instances_check_health

    return instances_check_health()
