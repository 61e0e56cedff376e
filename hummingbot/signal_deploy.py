"""A stored signal run on Hummingbot: the converter's signal input, deployed by a bot.

The bot carries what a signal does not: the exchange account, paper or live, the capital, the
risk limits and the instance pool of its organization. The bot must run on Hummingbot, trade the
signal's symbol and be stopped; it then starts on the signal's config instead of its own
strategy, through the same start checks (roles, live account, kill switch) and the same
pre-trade risk check as every deployment. The deployment keeps the signal it came from.

Which Hummingbot strategy (docs/hummingbot.md, "Signals"):
- a `market_making`, `grid` or `arbitrage` signal: the converter's type of the same name;
- a `directional` or `entry` signal has no Hummingbot strategy of its own: `as_kind` picks
  market making leaned toward its side, or a grid between its nearest support and resistance
  (the engine's `structure` factor) or the `lower`/`upper` given;
- an `exit` signal closes a position, so there is nothing to deploy.
A neutral side quotes both ways; an arbitrage signal always trades both.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.models import Bot, BotExecution
from bots.services import bot_start_check, bot_transition
from bots.state import BotStatus
from core.errors import ApplicationError
from core.events import EventSource
from hummingbot.models import HummingbotDeployment
from hummingbot.services import _reference_price, config_risk_check, deployment_place
from signals.models import Signal, SignalKind, SignalSide

logger = logging.getLogger(__name__)

HUMMINGBOT_KINDS = (SignalKind.MARKET_MAKING, SignalKind.GRID, SignalKind.ARBITRAGE)
# What a directional call can be run as on Hummingbot (arbitrage needs a second venue, not a side).
DIRECTIONAL_AS = (SignalKind.MARKET_MAKING, SignalKind.GRID)


def _decimal(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ApplicationError(f"{field} must be a positive number.", field=field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"{field} must be a positive number.", field=field) from None
    if not number.is_finite() or number <= 0:
        raise ApplicationError(f"{field} must be a positive number.", field=field)
    return number


def signal_kind_for_hummingbot(*, signal: Signal, as_kind: str | None) -> str:
    """The converter type a signal is deployed as (module doc), or a refusal saying why not."""
    if signal.kind == SignalKind.EXIT:
        raise ApplicationError(
            "An exit signal closes a position; there is no strategy to deploy for it.",
            field="signal",
            code="unsupported",
        )
    if as_kind in (None, ""):
        if signal.kind in HUMMINGBOT_KINDS:
            return signal.kind
        raise ApplicationError(
            f"A {signal.kind} signal has no Hummingbot strategy of its own: deploy it as market_making or grid, "
            "or let a signal_follower bot trade it natively.",
            field="as_kind",
            code="unsupported",
        )
    allowed = (signal.kind,) if signal.kind in HUMMINGBOT_KINDS else DIRECTIONAL_AS
    if as_kind not in allowed:
        raise ApplicationError(
            f"A {signal.kind} signal deploys as {' or '.join(allowed)}, not {as_kind}.", field="as_kind", code="invalid"
        )
    return as_kind


def _structure_levels(signal: Signal) -> tuple[Decimal | None, Decimal | None]:
    """The nearest support below and resistance above, from the engine's structure factor."""
    structure = (signal.factors or {}).get("structure") or {}

    def first(key: str) -> Decimal | None:
        values = structure.get(key) or []
        try:
            return Decimal(str(values[0])).quantize(Decimal("0.00000001")) if values else None
        except (InvalidOperation, TypeError, ValueError):
            return None

    return first("support"), first("resistance")


def signal_deploy(
    *,
    signal: Signal,
    bot: Bot,
    user=None,
    source: str = EventSource.SYSTEM,
    as_kind: str | None = None,
    order_amount: Any = None,
    lower: Any = None,
    upper: Any = None,
    levels: int = 10,
    now: dt.datetime | None = None,
) -> HummingbotDeployment:
    """Convert `signal` to a Hummingbot config and start `bot` on it (module doc). Every refusal
    is an ApplicationError naming the field at fault, and leaves the bot stopped and no
    deployment behind."""
    from hummingbot.converter import Signal as ConverterSignal
    from hummingbot.converter import convert_signal
    from risk.selectors import limits_for_bot

    now = now or timezone.now()
    if signal.organization_id != bot.organization_id:
        raise ApplicationError("No such signal in this bot's organization.", field="signal", code="not_found")
    bot_start_check(bot=bot, user=user, action="Deploying a signal")
    if bot.execution != BotExecution.HUMMINGBOT:
        raise ApplicationError(
            f"{bot.name} runs natively; a signal deploys on a bot that runs on Hummingbot.",
            field="bot",
        )
    if bot.status not in (BotStatus.STOPPED, BotStatus.ERROR):
        raise ApplicationError(f"{bot.name} is {bot.status}; stop it before deploying a signal on it.", field="bot")
    if signal.symbol != bot.symbol:
        raise ApplicationError(f"The signal is on {signal.symbol} and {bot.name} trades {bot.symbol}.", field="bot")
    exchange = bot.exchange_account.exchange
    if signal.exchange and exchange != "paper" and signal.exchange != exchange:
        raise ApplicationError(f"The signal is on {signal.exchange} and {bot.name} trades on {exchange}.", field="bot")
    if signal.valid_until <= now:
        raise ApplicationError(
            f"The signal expired at {signal.valid_until:%Y-%m-%d %H:%M} UTC.", field="signal", code="expired"
        )
    kind = signal_kind_for_hummingbot(signal=signal, as_kind=as_kind)
    amount = _decimal(order_amount, "order_amount") or _decimal(bot.params.get("order_amount"), "order_amount")
    if amount is None:
        raise ApplicationError("Give the order amount (the bot's params have none).", field="order_amount")
    given_lower, given_upper = _decimal(lower, "lower"), _decimal(upper, "upper")
    support, resistance = _structure_levels(signal) if kind == SignalKind.GRID else (None, None)
    reference = signal.price or _reference_price(bot)
    side = "both" if signal.side == SignalSide.NEUTRAL or kind == SignalKind.ARBITRAGE else signal.side
    second = bot.secondary_exchange_account
    config = convert_signal(
        ConverterSignal(
            type=kind,
            side=side,
            confidence=Decimal(signal.confidence),
            entry=signal.price if kind != SignalKind.MARKET_MAKING or given_lower else None,
            lower=given_lower or support,
            upper=given_upper or resistance,
        ),
        symbol=bot.symbol,
        exchange=exchange,
        paper=bot.mode == "paper",
        limits=limits_for_bot(bot=bot),
        order_amount=amount,
        reference_price=reference,
        capital=bot.capital,
        second_exchange=second.exchange if second else None,
        levels=levels,
        name=f"{bot.name} signal {signal.pk}",
    )
    config_risk_check(bot=bot, config=config, reference=reference)
    try:
        deployment = _start_on(
            bot=bot, config=config, signal=signal, kind=kind, amount=amount, user=user, source=source
        )
    except Exception:
        bot.refresh_from_db()  # the transaction rolled back; so does the caller's copy of the bot
        raise
    logger.info("Signal %s deployed by bot %s as %s.", signal.pk, bot.pk, kind)
    return deployment


def _start_on(
    *, bot: Bot, config, signal: Signal, kind: str, amount: Decimal, user, source: str
) -> HummingbotDeployment:
    with transaction.atomic():
        Bot.objects.filter(pk=bot.pk).update(desired_status=BotStatus.RUNNING)
        bot.desired_status = BotStatus.RUNNING
        bot_transition(
            bot=bot,
            target=BotStatus.STARTING,
            actor=user,
            source=source,
            reason=f"deploying signal #{signal.pk} ({signal.side} {signal.symbol} {signal.timeframe}) as {kind}",
            updates={"consecutive_errors": 0, "last_error": "", "tick_lock_until": None},
        )
        deployment = deployment_place(
            bot=bot, config=config, signal_id=signal.pk, signal_kind=kind, order_amount=str(amount)
        )
    return deployment
