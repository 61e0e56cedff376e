"""Commands to a deployment's Hummingbot instance, as services.

Each one records what was asked (`last_command`, `last_command_at`), moves the deployment's status
by the answer, and writes a BotEvent with the outcome. All are safe to repeat, because a command
is delivered at least once and a timed-out one is retried: `start` asks `/status` first and takes
"already running" for success, `stop` of a stopped strategy is a success, `import` and `config`
set the same values again. A command without an answer (after the retries) never passes for a
success: the deployment becomes `unknown`, a warning event is written and CommandTimeout raised.

What a deployment sends (import name, config pairs, start fields) is its plan, `deployment.commands`
(see deployment_plan). Hummingbot facts this relies on: `/stop` also forgets the imported strategy,
so `start` imports it again when the instance says nothing is imported; `/history` returns trades
only with async_backend false and only for the strategy file currently imported.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from bots.models import EventLevel, EventSource
from bots.services import bot_event_record
from bots.state import BotStatus
from core.errors import ApplicationError
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance
from hummingbot.rpc import CommandRefused, CommandTimeout, MalformedAnswer, rpc_call

COMMAND_TIMEOUT = 10.0
# Hummingbot itself gives an import up to 30 s (it checks the connectors) before it answers.
IMPORT_TIMEOUT = 35.0
COMMAND_RETRIES = 1

# Hummingbot's refusals, matched in lower case.
ALREADY_RUNNING = "already running"
NOTHING_IMPORTED = "import or create a strategy"
NOT_RUNNING = "no strategy is currently running"


def _timeout(command: str, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return IMPORT_TIMEOUT if command == "import" else COMMAND_TIMEOUT


def _update(deployment: HummingbotDeployment, **values: Any) -> None:
    # A narrow UPDATE: the bridge writes other columns of the same row concurrently.
    values["updated_at"] = timezone.now()
    HummingbotDeployment.objects.filter(pk=deployment.pk).update(**values)
    for name, value in values.items():
        setattr(deployment, name, value)


def _event(
    deployment: HummingbotDeployment,
    kind: str,
    message: str,
    *,
    level: str = EventLevel.INFO,
    actor=None,
    source: str = EventSource.SYSTEM,
    **data: Any,
) -> None:
    bot_event_record(
        organization_id=deployment.organization_id,
        bot=deployment.bot,
        kind=kind,
        message=message,
        level=level,
        data={"deployment": deployment.pk, "instance": deployment.instance.topic_prefix, **data},
        actor=actor,
        source=source,
    )


def _send(
    deployment: HummingbotDeployment,
    command: str,
    data: dict[str, Any],
    *,
    timeout: float | None,
    retries: int | None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> dict[str, Any]:
    """One command to the deployment's instance. CommandRefused passes through for the caller to
    judge; no answer (or an answer we cannot read) leaves the deployment `unknown`."""
    _update(deployment, last_command=command, last_command_at=timezone.now())
    wait = _timeout(command, timeout)
    try:
        return rpc_call(
            deployment.instance,
            command,
            data,
            timeout=wait,
            retries=COMMAND_RETRIES if retries is None else retries,
        )
    except CommandTimeout as exc:
        _update(deployment, status=DeploymentStatus.UNKNOWN)
        _event(
            deployment,
            "hummingbot.no_answer",
            f"No answer from {deployment.instance} to /{command}; the strategy's state is unknown. {exc.message}",
            level=EventLevel.WARNING,
            actor=actor,
            source=source,
            command=command,
            attempts=exc.attempts,
            timeout=wait,
        )
        raise
    except MalformedAnswer as exc:
        _update(deployment, status=DeploymentStatus.UNKNOWN)
        _event(
            deployment,
            "hummingbot.bad_answer",
            exc.message,
            level=EventLevel.WARNING,
            actor=actor,
            source=source,
            command=command,
        )
        raise


def _preparing(deployment: HummingbotDeployment) -> str:
    # Import and config change a running strategy's settings without stopping it.
    return DeploymentStatus.RUNNING if deployment.status == DeploymentStatus.RUNNING else DeploymentStatus.DEPLOYING


def deployment_plan(deployment: HummingbotDeployment) -> dict[str, Any]:
    """What deploying sends: `import` (the V1 file's name without .yml; None for a V2 config, which
    `/start` loads), `config` ([key, value] pairs) and `start` (request fields, e.g. script and
    conf). Taken from `deployment.commands`, or derived from `config_file` for rows without it."""
    plan = dict(getattr(deployment, "commands", None) or {})
    if "import" not in plan:
        plan["import"] = deployment.config_file.strip().removesuffix(".yml")
    stem = plan["import"]
    if stem is not None and (not isinstance(stem, str) or not stem or "/" in stem):
        raise ApplicationError(
            f"The deployment's config file name {deployment.config_file!r} cannot be imported.", field="config_file"
        )
    plan["config"] = list(plan.get("config") or [])
    plan["start"] = dict(plan.get("start") or {})
    return plan


def deployment_import(
    *,
    deployment: HummingbotDeployment,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> HummingbotDeployment:
    """Load the deployment's config file (already in the instance's conf folder) on its instance."""
    stem = deployment_plan(deployment)["import"]
    if stem is None:
        raise ApplicationError(
            f"{deployment.config_file} is a V2 config: /start loads it, there is nothing to import.",
            field="config_file",
        )
    kw = {"timeout": timeout, "retries": retries, "actor": actor, "source": source}
    try:
        _send(deployment, "import", {"strategy": stem}, **kw)
    except CommandRefused as exc:
        _update(deployment, status=DeploymentStatus.FAILED)
        _event(
            deployment,
            "hummingbot.import_failed",
            f"{deployment.instance} could not import {stem}.yml: {exc.msg}",
            level=EventLevel.ERROR,
            actor=actor,
            source=source,
            file=f"{stem}.yml",
        )
        raise
    _update(deployment, status=_preparing(deployment))
    _event(
        deployment,
        "hummingbot.imported",
        f"{stem}.yml imported on {deployment.instance}.",
        actor=actor,
        source=source,
        file=f"{stem}.yml",
    )
    return deployment


def deployment_config(
    *,
    deployment: HummingbotDeployment,
    params: dict[str, Any] | list[tuple[str, Any]] | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> dict[str, Any]:
    """Change strategy or client settings on the instance (none: just read them). Returns the
    answer: `changes` ([key, value] pairs applied) and `config` ({client, strategy})."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params or [])
    values = [[str(key), float(value) if isinstance(value, Decimal) else value] for key, value in pairs]
    kw = {"timeout": timeout, "retries": retries, "actor": actor, "source": source}
    try:
        answer = _send(deployment, "config", {"params": values}, **kw)
    except CommandRefused as exc:
        _event(
            deployment,
            "hummingbot.config_failed",
            f"{deployment.instance} refused the settings: {exc.msg}",
            level=EventLevel.ERROR,
            actor=actor,
            source=source,
            params=values,
            changes=exc.data.get("changes") or [],
        )
        raise
    _update(deployment, status=_preparing(deployment))
    changes = answer.get("changes") or []
    message = f"{len(changes)} setting(s) changed on {deployment.instance}." if values else "Settings read."
    _event(deployment, "hummingbot.configured", message, actor=actor, source=source, changes=changes)
    return answer


def _running(deployment: HummingbotDeployment, *, verbose: bool, **kw: Any) -> tuple[bool | None, dict[str, Any]]:
    """Whether a strategy runs on the instance: `/status` answers 200 if one does and 400 "No
    strategy is currently running!" if none does; None for any other refusal (e.g. a timeout)."""
    try:
        return True, _send(deployment, "status", {"async_backend": not verbose}, **kw)
    except CommandRefused as exc:
        return (False if NOT_RUNNING in exc.msg.lower() else None), exc.data


def deployment_start(
    *,
    deployment: HummingbotDeployment,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> HummingbotDeployment:
    """Start the deployment's strategy (the imported V1 file, or the V2 script and conf of its
    plan), unless one already runs (then: success, no /start sent)."""
    kw = {"timeout": timeout, "retries": retries, "actor": actor, "source": source}
    plan = deployment_plan(deployment)
    running, _ = _running(deployment, verbose=False, **kw)
    already = running is True or _start(deployment, plan["start"], reimport=plan["import"] is not None, **kw)
    _update(deployment, status=DeploymentStatus.RUNNING)
    message = f"Already running on {deployment.instance}." if already else f"Started on {deployment.instance}."
    _event(deployment, "hummingbot.started", message, actor=actor, source=source, already_running=already)
    _bot_follows(deployment, BotStatus.STARTING, BotStatus.RUNNING, "the Hummingbot instance runs the strategy")
    return deployment


def _bot_follows(deployment: HummingbotDeployment, current: str, target: str, reason: str) -> None:
    """The bot's status follows what its instance confirmed (starting -> running on a start,
    stopping -> stopped on a stop)."""
    from bots.models import Bot
    from bots.services import bot_transition

    bot = Bot.objects.get(pk=deployment.bot_id)
    if bot.status == current:
        try:
            bot_transition(bot=bot, target=target, reason=reason)
        except ApplicationError:
            pass  # changed meanwhile


def _start(deployment: HummingbotDeployment, fields: dict[str, Any], *, reimport: bool, **kw: Any) -> bool:
    """Send /start; True if the instance says the strategy already runs."""
    try:
        _send(deployment, "start", fields, **kw)
    except CommandRefused as exc:
        reason = exc.msg.lower()
        if ALREADY_RUNNING in reason:
            return True
        if reimport and NOTHING_IMPORTED in reason:
            # A /stop made the instance forget the strategy: import it again, once.
            deployment_import(deployment=deployment, **kw)
            return _start(deployment, fields, reimport=False, **kw)
        _start_failed(deployment, exc, actor=kw["actor"], source=kw["source"])
    return False


def _start_failed(deployment: HummingbotDeployment, exc: CommandRefused, *, actor, source: str) -> None:
    _update(deployment, status=DeploymentStatus.FAILED)
    _event(
        deployment,
        "hummingbot.start_failed",
        f"{deployment.instance} refused to start: {exc.msg}",
        level=EventLevel.ERROR,
        actor=actor,
        source=source,
    )
    raise exc


def deployment_stop(
    *,
    deployment: HummingbotDeployment,
    skip_order_cancellation: bool = False,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> HummingbotDeployment:
    """Stop the strategy and (unless skipped) cancel its open orders. Stopping a stopped strategy
    succeeds; `/stop` is always sent, since it also cancels orders left behind."""
    kw = {"timeout": timeout, "retries": retries, "actor": actor, "source": source}
    already = False
    try:
        _send(deployment, "stop", {"skip_order_cancellation": skip_order_cancellation}, **kw)
    except CommandRefused as exc:
        running, _ = _running(deployment, verbose=False, **kw)
        if running is not False:
            _event(
                deployment,
                "hummingbot.stop_failed",
                f"{deployment.instance} refused to stop: {exc.msg}",
                level=EventLevel.ERROR,
                actor=actor,
                source=source,
            )
            raise
        already = True
    _update(deployment, status=DeploymentStatus.STOPPED)
    message = f"Already stopped on {deployment.instance}." if already else f"Stopped on {deployment.instance}."
    _event(
        deployment,
        "hummingbot.stopped",
        message,
        actor=actor,
        source=source,
        already_stopped=already,
        skip_order_cancellation=skip_order_cancellation,
    )
    _bot_follows(deployment, BotStatus.STOPPING, BotStatus.STOPPED, "the Hummingbot instance stopped the strategy")
    return deployment


def deployment_status(
    *,
    deployment: HummingbotDeployment,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> dict[str, Any]:
    """Ask the instance whether the strategy runs (and its status text); reconcile the
    deployment's status with the answer and keep it in `last_status_payload` (`running` is None
    when the instance could not tell, e.g. its status report timed out: the status stays)."""
    kw = {"timeout": timeout, "retries": retries, "actor": actor, "source": source}
    running, answer = _running(deployment, verbose=True, **kw)
    payload = {
        "running": running,
        "msg": str(answer.get("msg") or ""),
        "asked_at": timezone.now().isoformat(),
    }
    before = deployment.status
    if running is True:
        status = DeploymentStatus.RUNNING
    elif running is False and before in (DeploymentStatus.RUNNING, DeploymentStatus.STOPPING, DeploymentStatus.UNKNOWN):
        status = DeploymentStatus.STOPPED
    else:
        status = before
    _update(deployment, status=status, last_status_payload=payload)
    changed = status != before
    said = {True: "Running", False: "Not running", None: f"No clear status ({payload['msg']})"}[running]
    _event(
        deployment,
        "hummingbot.status",
        f"{said} on {deployment.instance}" + (f" ({before} → {status})." if changed else "."),
        level=EventLevel.WARNING if running is None else EventLevel.INFO if changed else EventLevel.DEBUG,
        actor=actor,
        source=source,
        running=running,
        previous=before,
    )
    return payload


def deployment_history(
    *,
    deployment: HummingbotDeployment,
    days: float = 0,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> list[dict[str, Any]]:
    """The trades the instance recorded for the imported strategy file, since `days` ago (0: since
    the client started), as Hummingbot sends them: market, trade_id, price and quantity (strings),
    symbol, trade_timestamp (ms), trade_type (BUY/SELL), base_asset, quote_asset, raw_json."""
    kw = {"timeout": timeout, "retries": retries, "actor": actor, "source": source}
    data = {"days": days, "verbose": False, "async_backend": False}
    answer = _send(deployment, "history", data, **kw)
    trades = answer.get("trades") or []
    if not isinstance(trades, list):
        raise MalformedAnswer(f"/history on {deployment.instance.topic_prefix}: trades is not a list.")
    _event(
        deployment,
        "hummingbot.history",
        f"{len(trades)} trade(s) from {deployment.instance}.",
        level=EventLevel.DEBUG,
        actor=actor,
        source=source,
        days=days,
        trades=len(trades),
    )
    return trades


def instance_paper_balance(
    *,
    instance: HummingbotInstance,
    asset: str,
    amount: Decimal | float,
    timeout: float | None = None,
    retries: int | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> dict[str, Any]:
    """Set the instance's paper trading balance of `asset` (used by paper_trade connectors)."""
    asset = asset.strip().upper()
    if not asset or Decimal(str(amount)) < 0:
        raise ApplicationError("A paper balance needs an asset and an amount of zero or more.", field="amount")
    record = {"organization_id": instance.organization_id, "actor": actor, "source": source}
    details = {"instance": instance.topic_prefix, "asset": asset, "amount": str(amount)}
    try:
        answer = rpc_call(
            instance,
            "balance/paper",
            {"asset": asset, "amount": float(amount)},
            timeout=_timeout("balance/paper", timeout),
            retries=COMMAND_RETRIES if retries is None else retries,
        )
    except (CommandTimeout, MalformedAnswer) as exc:
        bot_event_record(
            kind="hummingbot.no_answer", message=exc.message, level=EventLevel.WARNING, data=details, **record
        )
        raise
    except CommandRefused as exc:
        bot_event_record(
            kind="hummingbot.paper_balance_failed",
            message=f"{instance} refused the paper balance: {exc.msg}",
            level=EventLevel.ERROR,
            data=details,
            **record,
        )
        raise
    bot_event_record(
        kind="hummingbot.paper_balance",
        message=f"Paper balance of {asset} set to {amount} on {instance}.",
        data=details,
        **record,
    )
    return answer
