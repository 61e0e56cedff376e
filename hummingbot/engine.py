"""Hummingbot as an execution engine of bots (registered in `HummingbotAppConfig.ready`)."""

from __future__ import annotations

from django.db import transaction

from bots.models import Bot
from bots.services import bot_transition
from bots.state import BotStatus
from hummingbot.models import DeploymentStatus, HummingbotDeployment
from hummingbot.services import deployment_create
from hummingbot.tasks import hb_stop


class HummingbotEngine:
    """Starts a bot by rendering, risk-checking and placing it on an instance; stops it through
    its instance. The instance's answers (through the bridge) turn the bot running or stopped."""

    def start(self, *, bot: Bot) -> None:
        deployment_create(bot=bot)

    def stop(self, *, bot: Bot, cancel_orders: bool) -> None:
        """Ask the bot's instance to stop the strategy (after commit). With nothing deployed there
        is nobody to ask: the bot is stopped at once."""
        deployment = (
            HummingbotDeployment.objects.filter(bot=bot)
            .exclude(status__in=[DeploymentStatus.STOPPED, DeploymentStatus.FAILED])
            .first()
        )
        if deployment is None:
            bot_transition(bot=bot, target=BotStatus.STOPPED, reason="nothing was deployed")
            return

        def enqueue() -> None:
            hb_stop.delay(deployment.pk, skip_order_cancellation=not cancel_orders)

        transaction.on_commit(enqueue)
