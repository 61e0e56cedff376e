"""Hummingbot instances: health from heartbeats, placement of deployments, failover when an
instance goes silent, and the instance folder a user mounts into a Hummingbot container."""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile
from decimal import Decimal

import yaml
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from bots.models import Bot, BotExecution, EventLevel, FailoverPolicy
from bots.state import ACTIVE_STATUSES, BotStatus
from core.errors import ApplicationError
from hummingbot import wire
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance, InstanceStatus

logger = logging.getLogger(__name__)
ACTIVE = (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING, DeploymentStatus.RUNNING, DeploymentStatus.UNKNOWN)


def _event(*, organization_id: int, kind: str, message: str, level: str, bot: Bot | None = None, **data) -> None:
    from bots.services import bot_event_record

    bot_event_record(organization_id=organization_id, bot=bot, kind=kind, message=message, level=level, data=data)


# -- health -----------------------------------------------------------------------------------------
def instances_check_health(*, now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Beat job: an online instance whose last heartbeat is older than 3 heartbeat periods goes
    offline (one conditional UPDATE each, so two runs never both act), and its deployments
    follow their bots' failover policy."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=wire.HEARTBEAT_SECONDS * wire.MISSED_HEARTBEATS)
    went_offline, moved = [], []
    stale = HummingbotInstance.objects.filter(status=InstanceStatus.ONLINE).filter(
        Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at__isnull=True)
    )
    for instance in stale:
        changed = (
            HummingbotInstance.objects.filter(pk=instance.pk, status=InstanceStatus.ONLINE)
            .filter(Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at__isnull=True))
            .update(status=InstanceStatus.OFFLINE)
        )
        if not changed:
            continue
        went_offline.append(instance.pk)
        seen = instance.last_heartbeat_at.isoformat() if instance.last_heartbeat_at else "never"
        _event(
            organization_id=instance.organization_id,
            kind="hummingbot.instance_offline",
            message=f"Hummingbot instance {instance.name} missed {wire.MISSED_HEARTBEATS} heartbeats "
            f"(last seen {seen}): offline.",
            level=EventLevel.CRITICAL,
            instance=instance.pk,
        )
        for deployment in instance.deployments.filter(status__in=ACTIVE).select_related("bot__exchange_account"):
            moved.append(deployment_failover(deployment=deployment, reason=f"instance {instance.name} went offline"))
    return {"offline": went_offline, "failed_over": [m for m in moved if m is not None]}


# -- placement --------------------------------------------------------------------------------------
def instance_pick(*, organization_id: int, exclude: tuple[int, ...] = ()) -> HummingbotInstance | None:
    """The organization's online instance with spare capacity that runs the fewest strategies."""
    candidates = (
        HummingbotInstance.objects.filter(organization_id=organization_id, status=InstanceStatus.ONLINE)
        .exclude(pk__in=exclude)
        .annotate(load=Count("deployments", filter=Q(deployments__status__in=ACTIVE)))
        .order_by("load", "name")
    )
    for instance in candidates:
        if instance.load < instance.capacity:
            return instance
    return None


# -- failover ---------------------------------------------------------------------------------------
def deployment_failover(*, deployment: HummingbotDeployment, reason: str) -> int | None:
    """Apply the bot's failover policy to a deployment whose instance is gone: pause the bot, run
    the same strategy natively, or redeploy it on another instance (pausing when none is free).
    Every step is a critical event. Returns the bot id when it kept running."""
    from bots.services import bot_stop, bot_transition

    bot = deployment.bot
    with transaction.atomic():
        HummingbotDeployment.objects.filter(pk=deployment.pk, status__in=ACTIVE).update(
            status=DeploymentStatus.FAILED, last_command="failover", last_command_at=timezone.now()
        )
        policy = bot.failover_policy
        if policy == FailoverPolicy.REDEPLOY:
            target = instance_pick(organization_id=bot.organization_id, exclude=(deployment.instance_id,))
            if target is not None:
                fresh = HummingbotDeployment.objects.create(
                    organization_id=bot.organization_id,
                    bot=bot,
                    instance=target,
                    strategy_name=deployment.strategy_name,
                    config_file=deployment.config_file,
                    rendered_config=deployment.rendered_config,
                    files=deployment.files,
                    commands=deployment.commands,
                    config_version=deployment.config_version,
                    signal_id=deployment.signal_id,
                    status=DeploymentStatus.PENDING,
                )
                _event(
                    organization_id=bot.organization_id,
                    bot=bot,
                    kind="hummingbot.redeployed",
                    message=f"{reason}: redeploying on {target.name}.",
                    level=EventLevel.CRITICAL,
                    deployment=fresh.pk,
                )
                transaction.on_commit(lambda: _enqueue_deploy(fresh.pk))
                return bot.pk
            reason += "; no other instance has room, so the bot is paused"
            policy = FailoverPolicy.PAUSE
        if policy == FailoverPolicy.NATIVE:
            Bot.objects.filter(pk=bot.pk).update(execution=BotExecution.NATIVE)
            bot.execution = BotExecution.NATIVE
            target = BotStatus.RUNNING
            if bot.status == BotStatus.STARTING:
                bot_transition(bot=bot, target=target, reason=f"{reason}: failed over to native execution")
            Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now(), claimed_until=None)
            _event(
                organization_id=bot.organization_id,
                bot=bot,
                kind="hummingbot.failed_over",
                message=f"{reason}: {bot.name} now runs natively ({bot.strategy}).",
                level=EventLevel.CRITICAL,
            )
            return bot.pk
    _event(
        organization_id=bot.organization_id,
        bot=bot,
        kind="hummingbot.paused",
        message=f"{reason}: {bot.name} is paused until it is started again.",
        level=EventLevel.CRITICAL,
    )
    if bot.status in ACTIVE_STATUSES | {BotStatus.STARTING}:
        try:
            bot_stop(bot=bot, reason=reason, cancel_orders=False)
            if bot.status == BotStatus.STOPPING:  # nobody is left to confirm the stop
                bot_transition(bot=bot, target=BotStatus.STOPPED, reason="the instance is unreachable")
        except ApplicationError as exc:
            logger.info("Bot %s was already stopping: %s", bot.pk, exc.message)
    return None


def _enqueue_deploy(deployment_id: int) -> None:
    try:
        from hummingbot.tasks import hb_deploy
    except ImportError:  # the command tasks are not installed in this build
        logger.warning("No deploy task: deployment %s waits for a manual deploy.", deployment_id)
        return
    hb_deploy.delay(deployment_id)


# -- instance folder --------------------------------------------------------------------------------
def instance_conf_client(instance: HummingbotInstance) -> str:
    """conf_client.yml for the instance: its id and the MQTT bridge pointed at our broker (the
    keys of Hummingbot's client config; everything else keeps Hummingbot's defaults)."""
    conf = wire.broker()
    values = {
        "instance_id": instance.instance_id,
        "mqtt_bridge": {
            "mqtt_host": conf["host"],
            "mqtt_port": conf["port"],
            "mqtt_username": conf["username"] or "",
            "mqtt_password": conf["password"] or "",
            "mqtt_namespace": instance.namespace,
            "mqtt_ssl": conf["tls"],
            "mqtt_logger": True,
            "mqtt_notifier": True,
            "mqtt_commands": True,
            "mqtt_events": True,
            "mqtt_external_events": True,
            "mqtt_autostart": True,
        },
    }
    header = f"# Hummingbot client settings for instance {instance.name}, generated by the back office.\n"
    return header + yaml.safe_dump(values, sort_keys=False)


def instance_export(*, instance: HummingbotInstance) -> bytes:
    """A zip of the instance's conf folder: conf_client.yml and one strategy file per active
    deployment, to mount as /home/hummingbot/conf (or the conf folder of a source install)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conf/conf_client.yml", instance_conf_client(instance))
        for deployment in instance.deployments.filter(status__in=ACTIVE).order_by("pk"):
            files = deployment.files or [["strategies", deployment.config_file, deployment.rendered_config]]
            for folder, name, text in files:
                archive.writestr(f"conf/{folder}/{name}", text)
        archive.writestr(
            "README.txt",
            f"Instance {instance.name} ({instance.topic_prefix}).\n"
            "Mount the conf folder into the Hummingbot container (docker run -v $PWD/conf:/home/hummingbot/conf ...).\n"
            "The client connects to the MQTT broker in conf_client.yml and the back office controls it from there.\n",
        )
    return buffer.getvalue()


# -- deployment -------------------------------------------------------------------------------------
def _reference_price(bot: Bot):
    """A recent price for the bot's market (sizes and the price band are checked against it)."""
    from bots.runtime import _gateway
    from exchanges.errors import ExchangeError

    try:
        return _gateway(bot.exchange_account).ticker(bot.symbol).last
    except ExchangeError as exc:
        logger.info("No reference price for %s: %s", bot.symbol, exc.message)
        return None


def deployment_create(*, bot: Bot, target: str | None = None) -> HummingbotDeployment:
    """Render the bot as a Hummingbot config (its risk limits mapped in), pass the config's orders
    through the pre-trade risk check, place it on the least-loaded online instance of the
    organization and enqueue the deploy (import, config, start) after commit."""
    from hummingbot.converter import ConvertInput, convert
    from risk.selectors import limits_for_bot
    from strategies.registry import validate_params

    second = bot.secondary_exchange_account
    reference = _reference_price(bot)
    config = convert(
        ConvertInput(
            strategy=bot.strategy,
            params=validate_params(bot.strategy, bot.params),
            symbol=bot.symbol,
            exchange=bot.exchange_account.exchange,
            paper=bot.mode == "paper",
            limits=limits_for_bot(bot=bot),
            second_exchange=second.exchange if second else None,
            reference_price=reference,
            capital=bot.capital,
            name=bot.name,
            market_type=bot.market_type,
            leverage=bot.leverage,
            margin_mode=bot.margin_mode,
        ),
        target,
    )
    config_risk_check(bot=bot, config=config, reference=reference)
    return deployment_place(bot=bot, config=config)


def config_risk_check(*, bot: Bot, config, reference) -> None:
    """The config's order size, quoted both ways at the reference price, through the same
    pre-trade risk check as every native tick; a refusal names the limit."""
    from bots.runtime import risk_check_for_bot
    from risk import engine as risk

    amount = config.values.get("order_amount")
    if amount is None or reference is None:
        return
    proposals = [
        risk.Proposal(symbol=bot.symbol, side=side, type="limit", amount=amount, price=reference)
        for side in ("buy", "sell")
    ]
    for verdict in risk_check_for_bot(bot=bot, proposals=proposals, last_price=reference):
        if not verdict.approved:
            raise ApplicationError(f"The Hummingbot config breaks a risk limit: {verdict.reason}", code=verdict.code)


def deployment_place(*, bot: Bot, config, signal_id: int | None = None, **event_data) -> HummingbotDeployment:
    """Place a rendered config on the least-loaded online instance of the bot's organization: the
    deployment row and its event in one transaction, the deploy task enqueued after commit."""
    instance = instance_pick(organization_id=bot.organization_id)
    if instance is None:
        raise ApplicationError(
            "No online Hummingbot instance of this organization has room for another strategy.", code="no_instance"
        )
    with transaction.atomic():
        deployment = HummingbotDeployment.objects.create(
            organization_id=bot.organization_id,
            bot=bot,
            instance=instance,
            signal_id=signal_id,
            strategy_name=config.strategy,
            config_file=config.file_name,
            rendered_config=config.yaml(),
            files=[list(f) for f in config.files()],
            commands={
                "import": config.import_name,
                # A V2 config is read from its file under conf/, not set through /config.
                "config": [] if config.is_v2 else config.params_for_config_command(),
                "start": config.start_fields(),
            },
            status=DeploymentStatus.PENDING,
        )
        _event(
            organization_id=bot.organization_id,
            bot=bot,
            kind="hummingbot.deployment_created",
            message=f"{config.strategy} config {config.file_name} placed on {instance.name}.",
            level=EventLevel.INFO,
            deployment=deployment.pk,
            **({"signal_id": signal_id} if signal_id else {}),
            **event_data,
        )
        transaction.on_commit(lambda: _enqueue_deploy(deployment.pk))
    return deployment


# -- reconciliation ---------------------------------------------------------------------------------
def deployment_reconcile(*, deployment: HummingbotDeployment) -> int:
    """Repair what the at-most-once event stream lost: ask the instance for its trades
    (`/history`) and record every one whose trade id we do not hold. Returns how many were
    added; each repair is an event."""
    from bots.models import Fill, Order, OrderStatus
    from bots.orders import fills_record_many
    from exchanges.types import ExchangeTrade
    from hummingbot.commands import deployment_history

    bot = deployment.bot
    trades = deployment_history(deployment=deployment)
    parsed = []
    for trade in trades:
        try:
            trade_id = str(trade["trade_id"])[:128]
            price, amount = Decimal(str(trade["price"])), Decimal(str(trade["quantity"]))
            side = wire.enum_value(trade["trade_type"])
            ts = int(trade["trade_timestamp"])
        except (KeyError, TypeError, ValueError, ArithmeticError):
            logger.warning("Skipped a malformed /history trade from %s: %r", deployment.instance, trade)
            continue
        if side in ("buy", "sell") and price > 0 and amount > 0 and price.is_finite() and amount.is_finite():
            parsed.append((trade_id, price, amount, side, ts))
    known = set(
        Fill.objects.filter(
            exchange_account_id=bot.exchange_account_id, trade_id__in=[p[0] for p in parsed]
        ).values_list("trade_id", flat=True)
    )
    missing = [p for p in parsed if p[0] not in known]
    if not missing:
        return 0
    with transaction.atomic():
        items = []
        for trade_id, price, amount, side, ts in missing:
            # /history names no order: each repaired trade gets an order of its own.
            order, _ = Order.objects.get_or_create(
                client_order_id=f"hb{deployment.instance_id}-hist-{trade_id}"[:64],
                defaults={
                    "organization_id": bot.organization_id,
                    "bot": bot,
                    "exchange_account_id": bot.exchange_account_id,
                    "exchange_order_id": f"hist-{trade_id}"[:128],
                    "tag": "hummingbot",
                    "symbol": bot.symbol,
                    "side": side,
                    "type": "limit",
                    "price": price,
                    "amount": amount,
                    "status": OrderStatus.FILLED,
                    "submitted_at": timezone.now(),
                    "closed_at": timezone.now(),
                },
            )
            trade = ExchangeTrade(
                id=trade_id,
                order_id=order.exchange_order_id,
                symbol=bot.symbol,
                side=side,
                price=price,
                amount=amount,
                ts=ts,
            )
            items.append((order, [trade]))
        added = fills_record_many(items=items)
        _event(
            organization_id=bot.organization_id,
            bot=bot,
            kind="hummingbot.reconciled",
            message=f"{len(added)} trade(s) missing from the event stream recorded from /history.",
            level=EventLevel.WARNING,
            trades=[t.trade_id for t in added],
        )
    return len(added)
