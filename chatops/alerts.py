"""Alerts to the members who linked a chat, through the platform's bot (a `members` alert
channel). Each member gets the alert with the buttons their role in the alert's organization
allows: "Bot details" for everyone, "Stop this bot" for traders and up while the bot runs. A
pressed button is checked again (chatops.commands.alert_action, then the service's own role
check), so a forged one does no more than the member may."""

from __future__ import annotations

import asyncio
import html
import logging

from django.conf import settings

from alerts.models import ChannelKind
from alerts.transports import MAX_TEXT, Notice, Transport, TransportError, scrub
from bots.models import Bot
from bots.state import ACTIVE_STATUSES, BotStatus
from organizations.models import ROLE_RANK, Membership, Role

logger = logging.getLogger(__name__)


def alert_buttons(notice: Notice, role: str, bot_running: bool) -> list[list[tuple[str, str]]]:
    """Rows of (label, callback data) for one member of the alert's organization."""
    if not notice.bot_id:
        return []
    row = [("Bot details", f"ab:bot:{notice.bot_id}")]
    if bot_running and ROLE_RANK[Role(role)] >= ROLE_RANK[Role.TRADER]:
        row.append(("Stop this bot", f"ab:stop:{notice.bot_id}"))
    return [row]


def recipients(notice: Notice, min_role: str) -> list[tuple[int, str]]:
    """(chat id, role) of each member of the organization with a linked chat and at least `min_role`."""
    rows = Membership.objects.filter(
        organization_id=notice.organization_id, user__telegram_link__isnull=False, user__is_active=True
    ).values_list("user__telegram_link__chat_id", "role")
    floor = ROLE_RANK[Role(min_role)]
    return [(chat_id, role) for chat_id, role in rows if ROLE_RANK[Role(role)] >= floor]


class LinkedMembersTransport(Transport):
    kind = ChannelKind.MEMBERS

    @property
    def secrets(self) -> list[str]:
        return [settings.TELEGRAM_BOT_TOKEN]

    def send(self, notice: Notice) -> None:
        from telegram import Bot as TelegramBot
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup
        from telegram.constants import ParseMode
        from telegram.error import BadRequest, Forbidden, TelegramError
        from telegram.request import HTTPXRequest

        token = settings.TELEGRAM_BOT_TOKEN
        if not token:
            raise TransportError("The platform's Telegram bot is off: set TELEGRAM_BOT_TOKEN.", permanent=True)
        chats = recipients(notice, self.channel.config.get("min_role", Role.VIEWER))
        if not chats:
            raise TransportError(
                "No member of the organization with that role has linked a Telegram chat.", permanent=True
            )
        running = bool(
            notice.bot_id
            and Bot.objects.filter(
                pk=notice.bot_id,
                organization_id=notice.organization_id,
                status__in=ACTIVE_STATUSES | {BotStatus.STARTING},
            ).exists()
        )
        text = f"<b>{html.escape(notice.headline)}</b>\n{html.escape(notice.details())}"[: MAX_TEXT["telegram"]]
        base = f"{settings.TELEGRAM_API_BASE_URL.rstrip('/')}/bot"

        async def deliver() -> list[BaseException | None]:
            request = HTTPXRequest(connect_timeout=5.0, read_timeout=10.0, write_timeout=10.0, connection_pool_size=8)
            bot = TelegramBot(token=token, base_url=base, request=request)

            async def one(chat_id: int, role: str) -> None:
                rows = alert_buttons(notice, role, running)
                markup = InlineKeyboardMarkup(
                    [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
                )
                await bot.send_message(
                    chat_id=chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=markup if rows else None
                )

            try:
                return await asyncio.gather(*(one(c, r) for c, r in chats), return_exceptions=True)
            finally:
                await request.shutdown()

        outcomes = asyncio.run(deliver())
        failures = [exc for exc in outcomes if isinstance(exc, BaseException)]
        for exc in failures:
            logger.info("Alert %s not delivered to one linked chat: %s", notice.alert_id, type(exc).__name__)
        if failures and len(failures) == len(chats):
            final = all(isinstance(exc, BadRequest | Forbidden) for exc in failures)
            message = failures[0].message if isinstance(failures[0], TelegramError) else type(failures[0]).__name__
            raise TransportError(
                scrub(f"No linked chat took the alert: {message}", self.secrets), permanent=final
            ) from None
