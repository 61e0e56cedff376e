"""Writes on bots: the one transition function, lifecycle services and the event log.

Every surface (admin action, API, dashboard button, Celery task) calls these, so the rules and
the audit trail live in one place.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bots import live
from bots.engines import engine_for
from bots.errors import IllegalTransition, TransitionConflict
from bots.models import Bot, BotEvent, BotExecution, BotMode, EventLevel, EventSource, Position
from bots.signals import events_written
from bots.state import ACTIVE_STATUSES, BotStatus, can_transition
from bots.validation import bot_validate
from core.db import insert_rows
from core.errors import ApplicationError
from exchanges.errors import ExchangeError
from exchanges.models import ExchangeAccountStatus
from organizations.models import Role
from organizations.permissions import require_role
from risk.services import kill_switch_actions


def bot_event_record(
    *,
    organization_id: int,
    kind: str,
    message: str,
    bot: Bot | None = None,
    level: str = EventLevel.INFO,
    data: dict[str, Any] | None = None,
    actor=None,
    source: str = EventSource.SYSTEM,
) -> BotEvent:
    """Append to the black box / audit trail. Never put a secret in `message` or `data`."""
    event = BotEvent.objects.create(
        organization_id=organization_id,
        bot=bot,
        kind=kind,
        message=message,
        level=level,
        data=data or {},
        actor=actor if actor is not None and actor.is_authenticated else None,
        source=source,
    )
    live.publish_event(event)
    return event


def bot_events_write(events: list[BotEvent]) -> None:
    """Append many events in one statement (the tick and the Hummingbot bridge write in bulk).
    A bulk insert sends no post_save, so the batch is announced on `events_written` for the
    alert rules."""
    insert_rows(BotEvent, events)
    events_written.send(sender=BotEvent, events=events)


@live.batched
def bot_transition(
    *,
    bot: Bot,
    target: str,
    actor=None,
    source: str = EventSource.SYSTEM,
    reason: str = "",
    updates: dict[str, Any] | None = None,
) -> Bot:
    """Move `bot` from the status it was loaded with to `target`, or raise.

    The write is `UPDATE ... WHERE id = %s AND status = <loaded status>`: of two processes that
    both loaded the same status, exactly one changes a row; the other gets TransitionConflict.
    """
    current = bot.status
    if not can_transition(current, target):
        raise IllegalTransition(f"{bot.name}: cannot go from {current} to {target}.")
    now = timezone.now()
    values: dict[str, Any] = {"status": target, "status_changed_at": now, "updated_at": now, **(updates or {})}
    if target == BotStatus.ERROR:
        values["last_error"] = reason
    with transaction.atomic():
        changed = Bot.objects.filter(pk=bot.pk, status=current).update(**values)
        if not changed:
            actual = Bot.objects.filter(pk=bot.pk).values_list("status", flat=True).first()
            raise TransitionConflict(
                f"{bot.name} is now {actual or 'deleted'}; the change from {current} to {target} was not applied."
            )
        bot_event_record(
            organization_id=bot.organization_id,
            bot=bot,
            kind=f"bot.{target}",
            message=f"{current} → {target}" + (f": {reason}" if reason else ""),
            level=EventLevel.ERROR if target == BotStatus.ERROR else EventLevel.INFO,
            data={"from": current, "to": target},
            actor=actor,
            source=source,
        )
    for name, value in values.items():
        setattr(bot, name, value)
    live.publish_bot(bot)
    return bot


@live.batched
def bot_start(*, bot: Bot, user=None, source: str = EventSource.SYSTEM) -> Bot:
    """Start a stopped (or failed) bot.

    Needs the trader role; live mode also needs the admin role and a verified account. Refused
    while a kill switch covers the organization.
    """
    bot_start_check(bot=bot, user=user)
    engine = None if bot.execution == BotExecution.NATIVE else engine_for(bot.execution)
    with transaction.atomic():
        Bot.objects.filter(pk=bot.pk).update(params=bot.params, desired_status=BotStatus.RUNNING)
        bot.desired_status = BotStatus.RUNNING
        bot_transition(
            bot=bot,
            target=BotStatus.STARTING,
            actor=user,
            source=source,
            # A person starting the bot resets the watchdog's restart budget.
            updates={"consecutive_errors": 0, "last_error": "", "tick_lock_until": None}
            | ({"watchdog_restarts": 0} if user is not None else {}),
        )
        if engine is None:
            # Native bots need nothing remote to come up: the first tick is due now.
            bot_transition(
                bot=bot,
                target=BotStatus.RUNNING,
                actor=user,
                source=source,
                updates={"next_tick_at": timezone.now(), "claimed_until": None},
            )
        else:
            # Another engine (Hummingbot) places the bot and turns it running once it is up; any
            # refusal rolls the start back.
            engine.start(bot=bot)
    return bot


def bot_start_check(*, bot: Bot, user=None, action: str = "Starting a bot") -> None:
    """What every start of a bot needs, whatever it runs: the trader role (and, live, the admin
    role and a verified account with its keys), no kill switch over the organization and valid
    params. Also used by `hummingbot.signal_deploy`, which starts a bot on a signal's config."""
    from risk.selectors import kill_switch_engaged

    require_role(user=user, organization=bot.organization_id, role=Role.TRADER, action=action)
    if bot.mode == BotMode.LIVE:
        require_role(user=user, organization=bot.organization_id, role=Role.ADMIN, action=f"{action} in live mode")
        account = bot.exchange_account
        if account.status != ExchangeAccountStatus.ACTIVE or account.last_verified_at is None:
            raise ApplicationError("Live trading needs a verified, active exchange account.", field="exchange_account")
        if account.missing_credentials:
            from exchanges.venues import credentials_sentence

            raise ApplicationError(
                f"Live trading needs the account's credentials: {credentials_sentence(account.exchange)}.",
                field="exchange_account",
            )
    if kill_switch_engaged(organization_id=bot.organization_id):
        raise ApplicationError("The kill switch is engaged: no bot can start until it is released.", code="kill_switch")
    bot_validate(bot=bot)


@live.batched
def bot_stop(
    *, bot: Bot, user=None, source: str = EventSource.SYSTEM, reason: str = "", cancel_orders: bool = True
) -> Bot:
    """Stop a running, degraded or starting bot; no further tick is dispatched for it."""
    require_role(user=user, organization=bot.organization_id, role=Role.TRADER, action="Stopping a bot")
    if bot.status not in ACTIVE_STATUSES | {BotStatus.STARTING}:
        raise IllegalTransition(f"{bot.name} is {bot.status}; only a starting or running bot can be stopped.")
    with transaction.atomic():
        Bot.objects.filter(pk=bot.pk).update(desired_status=BotStatus.STOPPED)
        bot.desired_status = BotStatus.STOPPED
        bot_transition(
            bot=bot, target=BotStatus.STOPPING, actor=user, source=source, reason=reason, updates={"next_tick_at": None}
        )
    if bot.execution != BotExecution.NATIVE:
        engine_for(bot.execution).stop(bot=bot, cancel_orders=cancel_orders)
    else:
        note = "open orders left in place"
        if cancel_orders:
            from bots.orders import orders_cancel_for_bot

            note = f"{orders_cancel_for_bot(bot=bot, source=source)} open order(s) canceled"
        bot_transition(bot=bot, target=BotStatus.STOPPED, actor=user, source=source, reason=note)
    return bot


def bots_stop_for_kill_switch(*, organization, source: str = EventSource.SYSTEM) -> int:
    """Stop every starting or running bot a kill switch covers (`organization` None: all of them),
    as the system: the switch is the authority, so an admin without the trader role still halts
    all. Where the bot's organization chose to flatten, its open positions are then closed with
    reduce-only market orders. Returns how many were stopped."""
    bots = Bot.objects.filter(status__in=ACTIVE_STATUSES | {BotStatus.STARTING}).select_related("exchange_account")
    if organization is not None:
        bots = bots.for_organization(organization)
    bots = list(bots)
    actions = kill_switch_actions(sorted({b.organization_id for b in bots}))
    stopped = 0
    for bot in bots:
        try:
            bot_stop(bot=bot, user=None, source=source, reason="kill switch")
        except ApplicationError:
            continue  # lost a race with another stop: the bot is already on its way down
        stopped += 1
        if actions[bot.organization_id] == "flatten":
            bot_flatten(bot=bot, source=source)
    return stopped


def _closing_intent(position: Position, bot: Bot, *, key: str, tag: str):
    """A market order for the position's whole quantity on the other side, reduce-only on
    perpetuals: what takes the position off."""
    from bots.orders import PlacementIntent

    return PlacementIntent(
        symbol=position.symbol,
        side="sell" if position.quantity > 0 else "buy",
        type="market",
        amount=abs(position.quantity),
        bot=bot,
        intent_key=key,
        tag=tag,
        reduce_only=bot.market_type == "perp",
    )


def bot_flatten(*, bot: Bot, source: str = EventSource.SYSTEM) -> list:
    """Close the bot's open positions with market orders (reduce-only on perpetuals), even while a
    kill switch is engaged: these orders only take risk off. Each failure is an event; the
    others still go out."""
    from bots.orders import orders_place

    placed = []
    for position in Position.objects.filter(bot=bot, closed_at__isnull=True).exclude(quantity=0):
        intent = _closing_intent(position, bot, key=f"flatten:{position.pk}", tag="flatten")
        try:
            [order] = orders_place(account=bot.exchange_account, intents=[intent], closing=True)
        except (ApplicationError, ExchangeError) as exc:
            bot_event_record(
                organization_id=bot.organization_id,
                bot=bot,
                kind="risk.flatten_failed",
                message=f"Could not close {position.symbol} {position.quantity}: {exc}",
                level=EventLevel.CRITICAL,
                source=source,
            )
            continue
        placed.append(order)
        bot_event_record(
            organization_id=bot.organization_id,
            bot=bot,
            kind="risk.flattened",
            message=f"Kill switch: {intent.side} {intent.amount} {position.symbol} closes the position "
            f"({order.status}).",
            level=EventLevel.WARNING,
            source=source,
        )
    return placed


def position_close(*, position: Position, user=None, source: str = EventSource.SYSTEM) -> Any:
    """A member closes one open position of a native bot by hand: a market order for the whole
    quantity on the other side (reduce-only on perpetuals), tagged `close`. Needs the trader role;
    an engaged kill switch lets it out, since it only takes risk off. The bot keeps running (stop it
    too if its strategy should not open again). Pressing twice places one order: the intent key
    names the position and the quantity. Returns the Order; the position's exit reason is
    `manual` once the fill closes it."""
    from bots.orders import orders_place

    position = Position.objects.select_related("bot__exchange_account").get(pk=position.pk)
    bot = position.bot
    require_role(user=user, organization=bot.organization_id, role=Role.TRADER, action="Closing a position")
    if position.closed_at is not None or position.quantity == 0:
        raise ApplicationError(f"The {position.symbol} position of {bot.name} is already closed.", field="position")
    if bot.execution != BotExecution.NATIVE:
        raise ApplicationError(
            f"{bot.name} runs on {bot.get_execution_display()}: its positions are managed there; stop the bot to "
            "close them.",
            field="position",
        )
    intent = _closing_intent(position, bot, key=f"close:{position.pk}:{abs(position.quantity)}", tag="close")
    Position.objects.filter(pk=position.pk, exit_reason="").update(exit_reason="manual")
    try:
        [order] = orders_place(account=bot.exchange_account, intents=[intent], closing=True)
    except (ApplicationError, ExchangeError) as exc:
        Position.objects.filter(pk=position.pk, closed_at__isnull=True, exit_reason="manual").update(exit_reason="")
        bot_event_record(
            organization_id=bot.organization_id,
            bot=bot,
            kind="position.close_failed",
            message=f"Could not close {position.symbol} {position.quantity}: {exc}",
            level=EventLevel.ERROR,
            actor=user,
            source=source,
            data={"position": position.pk},
        )
        raise ApplicationError(f"Could not close the position: {exc}", field="position") from exc
    if order.status == "rejected":
        Position.objects.filter(pk=position.pk, closed_at__isnull=True, exit_reason="manual").update(exit_reason="")
    bot_event_record(
        organization_id=bot.organization_id,
        bot=bot,
        kind="position.closed_manually",
        message=f"{intent.side} {intent.amount} {position.symbol} at market closes the position by hand "
        f"({order.status}).",
        level=EventLevel.WARNING,
        actor=user,
        source=source,
        data={"position": position.pk, "client_order_id": order.client_order_id},
    )
    return order


@live.batched
def bots_pause_for_account(*, account, reason: str) -> int:
    """The exchange refused the account's credentials: stop trading on it until someone fixes
    them. The account is paused and its bots go to error with the reason (no retries)."""
    from exchanges.models import ExchangeAccount

    ExchangeAccount.objects.filter(pk=account.pk).update(
        status=ExchangeAccountStatus.PAUSED, status_reason=f"Authentication failed: {reason}"[:500]
    )
    affected = 0
    bots = Bot.objects.filter(exchange_account=account, status__in=ACTIVE_STATUSES | {BotStatus.STARTING})
    for bot in bots:
        try:
            bot_transition(
                bot=bot,
                target=BotStatus.ERROR,
                reason=f"exchange authentication failed; fix the credentials, then start again: {reason}",
            )
            affected += 1
        except ApplicationError:
            continue
    bot_event_record(
        organization_id=account.organization_id,
        kind="exchange.auth_failed",
        message=f"{account.label}: the exchange refused the credentials; {affected} bot(s) stopped in error.",
        level=EventLevel.CRITICAL,
        data={"account": account.pk},
    )
    return affected


@live.batched
def bot_restart(*, bot: Bot, user=None, source: str = EventSource.SYSTEM, cancel_orders: bool = True) -> Bot:
    """Stop (when running) and start again, as one audited action."""
    if bot.status in ACTIVE_STATUSES | {BotStatus.STARTING}:
        bot_stop(bot=bot, user=user, source=source, reason="restart", cancel_orders=cancel_orders)
    bot = Bot.objects.select_related("exchange_account").get(pk=bot.pk)
    bot_start(bot=bot, user=user, source=source)
    Bot.objects.filter(pk=bot.pk).update(restart_count=F("restart_count") + 1)
    bot.refresh_from_db(fields=["restart_count"])
    return bot


# -- create and edit -------------------------------------------------------------------------------
EDITABLE_STATUSES = (BotStatus.STOPPED, BotStatus.ERROR)
# What a bot edit may change; the runtime's columns (status, state, ticks) are never written here.
BOT_EDITABLE_FIELDS = frozenset(
    {
        "name",
        "strategy",
        "params",
        "exchange_account",
        "secondary_exchange_account",
        "symbol",
        "mode",
        "execution",
        "failover_policy",
        "tick_interval",
        "capital",
        "market_type",
        "leverage",
        "margin_mode",
    }
)


def _bot_full_clean(bot: Bot) -> None:
    """The model's validation (fields, strategy params, accounts, uniqueness) as one ApplicationError
    naming the first field at fault."""
    from django.core.exceptions import ValidationError

    try:
        bot.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        name, messages = next(iter(errors.items()))
        raise ApplicationError(
            messages[0] if messages else "Invalid input.", field=None if name == "__all__" else name
        ) from exc


def _bot_edit_roles(*, user, organization_id: int, mode: str, action: str) -> None:
    require_role(user=user, organization=organization_id, role=Role.TRADER, action=action)
    if mode == BotMode.LIVE:
        require_role(user=user, organization=organization_id, role=Role.ADMIN, action=f"{action} in live mode")


def bot_create(
    *,
    data: dict[str, Any],
    user=None,
    source: str = EventSource.SYSTEM,
    audit_data: dict[str, Any] | None = None,
) -> Bot:
    """Create a bot in its exchange account's organization.

    Needs the trader role (admin for live mode). The parameters are validated against the
    strategy's schema and the defaults filled in; the bot starts stopped. Audited as `bot.created`.
    """
    data = dict(data)
    unknown = set(data) - BOT_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(f"{sorted(unknown)[0]} cannot be set.", field=sorted(unknown)[0])
    account = data.get("exchange_account")
    if account is None:
        raise ApplicationError("Choose an exchange account.", field="exchange_account", code="required")
    organization_id = account.organization_id
    _bot_edit_roles(
        user=user, organization_id=organization_id, mode=data.get("mode", BotMode.PAPER), action="Creating a bot"
    )
    creator = user if user is not None and user.is_authenticated else None
    bot = Bot(organization_id=organization_id, created_by=creator, **data)
    with transaction.atomic():
        _bot_full_clean(bot)
        bot.save()
        bot_event_record(
            organization_id=organization_id,
            bot=bot,
            kind="bot.created",
            message=f"Bot {bot.name} created.",
            data=audit_data,
            actor=user,
            source=source,
        )
    return bot


def bot_update(
    *,
    bot: Bot,
    data: dict[str, Any],
    user=None,
    source: str = EventSource.SYSTEM,
    audit_data: dict[str, Any] | None = None,
) -> Bot:
    """Edit a stopped (or failed) bot: only the given fields are written.

    Needs the trader role; the admin role when the bot is or becomes live. The row is locked, so a
    start cannot slip in between the status check and the write. Audited as `bot.updated`.
    """
    data = dict(data)
    unknown = set(data) - BOT_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(f"{sorted(unknown)[0]} cannot be changed.", field=sorted(unknown)[0])
    mode = data.get("mode", bot.mode)
    _bot_edit_roles(
        user=user,
        organization_id=bot.organization_id,
        mode=BotMode.LIVE if BotMode.LIVE in (mode, bot.mode) else mode,
        action="Editing a bot",
    )
    with transaction.atomic():
        locked = Bot.objects.select_for_update().select_related("exchange_account").get(pk=bot.pk)
        if locked.status not in EDITABLE_STATUSES:
            raise ApplicationError("Stop the bot before editing it.", field="status", code="bot_active")
        for name, value in data.items():
            setattr(locked, name, value)
        _bot_full_clean(locked)
        # Validation may normalise the params even when they were not sent.
        locked.save(update_fields=sorted({*data, "params", "updated_at"}))
        bot_event_record(
            organization_id=locked.organization_id,
            bot=locked,
            kind="bot.updated",
            message=f"Bot {locked.name} edited: {', '.join(sorted(data)) or 'nothing'}.",
            data=audit_data,
            actor=user,
            source=source,
        )
    return locked
