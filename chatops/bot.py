"""The platform's Telegram bot (python-telegram-bot): linking, and the commands members send.

Only private chats are served. A chat that is not linked gets one polite refusal (how to link)
and nothing else; `/start <code>` links it (chatops.services.link_claim) and `/unlink` unlinks it.
The ORM is reached through `sync_to_async`: handlers run on the bot's event loop.

`build_application()` makes the Application from settings (token, Bot API base URL); the
`telegram_bot` management command runs it with long polling.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque

from asgiref.sync import sync_to_async
from django.conf import settings
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from chatops import commands
from chatops.commands import Reply, split_text
from chatops.services import CODE_PATTERN, link_claim, link_for_chat, link_remove
from core.errors import ApplicationError
from core.events import EventSource

logger = logging.getLogger(__name__)

NOT_LINKED = (
    "This chat is not linked to a member of the trading back office. To link it, open the dashboard's "
    "Telegram page, press \u201cLink Telegram\u201d and follow the link (or send /start <code> here)."
)
HELP = (
    "Commands:\n"
    "/status \u2014 the organization's bots and kill switch\n"
    "/bots \u2014 every bot, paged\n"
    "/bot <name|id> \u2014 one bot\n"
    "/positions \u2014 open positions, each with a Close button\n"
    "/close <position> \u2014 close a position at market (asks first)\n"
    "/orders \u2014 open orders\n"
    "/profit [days] \u2014 PnL of closed round trips, open positions, equity\n"
    "/daily [n] \u2014 net PnL of the last n days\n"
    "/balance \u2014 every exchange account's balances\n"
    "/signals \u2014 the valid signals\n"
    "/start <bot>, /stop <bot> \u2014 start or stop a bot (asks first)\n"
    "/stopall \u2014 stop every running bot (asks first)\n"
    "/kill \u2014 engage the kill switch (admins; asks first)\n"
    "/org [number] \u2014 your organizations; switch\n"
    "/help \u2014 this list\n"
    "/unlink \u2014 stop this chat from acting for you\n"
    "Your roles are the same as on the dashboard; every action asks for confirmation."
)
PRIVATE_ONLY = "I only answer in a private chat."


def _linked_text(link) -> str:
    organization = link.organization.name if link.organization else "none of your organizations yet"
    return f"Linked to {link.user.get_username()}. Commands act on {organization}.\n\n{HELP}"


async def _private(update: Update) -> bool:
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type != ChatType.PRIVATE:
        if update.effective_message:
            await update.effective_message.reply_text(PRIVATE_ONLY)
        return False
    return True


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start <code>` links the chat; `/start` alone greets a linked chat or says how to link."""
    if not await _private(update):
        return
    chat_id = update.effective_chat.id
    message = update.effective_message
    if context.args:
        username = update.effective_user.username if update.effective_user else ""
        try:
            link = await sync_to_async(link_claim)(code=context.args[0], chat_id=chat_id, username=username or "")
        except ApplicationError as exc:
            await message.reply_text(exc.message)
            return
        link = await sync_to_async(link_for_chat)(chat_id)
        await message.reply_text(_linked_text(link))
        return
    link = await sync_to_async(link_for_chat)(chat_id)
    await message.reply_text(_linked_text(link) if link else NOT_LINKED)


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in reply.buttons]
    )


async def _send(update: Update, reply: Reply) -> None:
    """The reply in pieces under 4,096 characters; the buttons go under the last piece."""
    pieces = split_text(reply.text)
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        await update.effective_message.reply_text(piece, reply_markup=_markup(reply) if last else None)


def linked(run):
    """A command for linked chats: `run(link, args)` (sync, in a thread) returns the Reply; a
    refusal (ApplicationError) is answered with its message; an unknown chat gets NOT_LINKED."""

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await _private(update):
            return
        link = await sync_to_async(link_for_chat)(update.effective_chat.id)
        if link is None:
            await update.effective_message.reply_text(NOT_LINKED)
            return
        try:
            reply = await sync_to_async(run)(link, list(context.args or []))
        except ApplicationError as exc:
            reply = Reply(exc.message)
        await _send(update, reply)

    return handler


def _page(args: list[str]) -> int:
    return int(args[0]) if args and args[0].isdigit() else 1


# The lists whose pages are buttons: `<verb>:<page>`.
PAGED = {
    "bots": commands.bots_command,
    "positions": commands.positions_command,
    "orders": commands.orders_command,
    "signals": commands.signals_command,
}


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An inline button: a page of /bots, a confirmation, or Cancel. The data is looked up again
    (chatops.commands.confirm); the query is always answered so the button stops spinning."""
    query = update.callback_query
    link = await sync_to_async(link_for_chat)(query.message.chat.id) if query.message else None
    if link is None:
        await query.answer(NOT_LINKED[:200], show_alert=True)
        return
    data = query.data or ""
    try:
        if data == "cancel":
            reply = Reply("Cancelled; nothing was done.")
        elif data.partition(":")[0] in PAGED:
            verb, _, page = data.partition(":")
            reply = await sync_to_async(PAGED[verb])(link, _page([page]))
        elif data.startswith("close:"):
            reply = await sync_to_async(commands.ask_close)(link, data[6:])
        elif data.startswith("do:"):
            reply = await sync_to_async(commands.confirm)(link, data)
        elif data.startswith("org:"):
            reply = await sync_to_async(commands.confirm_org)(link, data)
        else:
            reply = Reply("That button is not one of mine any more.")
    except ApplicationError as exc:
        reply = Reply(exc.message)
    await query.answer()
    await query.edit_message_text(split_text(reply.text)[0], reply_markup=_markup(reply))


async def start_or_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start <code>` links the chat. In a linked chat `/start <bot>` asks to start that bot; an
    argument that names no bot but has a code's shape is taken as a code (linking moves here)."""
    if not await _private(update):
        return
    link = await sync_to_async(link_for_chat)(update.effective_chat.id)
    ref = " ".join(context.args or [])
    if link is not None and ref:
        is_bot = await sync_to_async(commands.has_bot)(link, ref)
        if is_bot or not CODE_PATTERN.match(ref):
            await linked(lambda link, args: commands.ask(link, "start", ref))(update, context)
            return
    await start(update, context)


def _unlink(link, args: list[str]) -> Reply:
    link_remove(link=link, source=EventSource.TELEGRAM)
    return Reply("Unlinked: this chat can no longer act for you.")


async def anything_else(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text or an unknown command: a linked chat is pointed at /help, an unknown one refused."""
    if not await _private(update):
        return
    link = await sync_to_async(link_for_chat)(update.effective_chat.id)
    if update.effective_message:
        await update.effective_message.reply_text("Unknown command; /help lists them." if link else NOT_LINKED)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler's failure is logged (never the update's text) and answered; the bot keeps running."""
    logger.error("Telegram update failed: %s", type(context.error).__name__, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        try:
            await update.effective_message.reply_text("Something went wrong; nothing was changed. Try again.")
        except Exception:
            logger.warning("Could not answer the failed update.")


class ChatRateLimit:
    """At most `per_minute` updates per chat in any 60 seconds (one polling process reads every
    update, so the count is held here). Over it, the chat is told once how long to wait and
    the rest is dropped unanswered."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[int, deque[float]] = defaultdict(deque)
        self.warned: dict[int, float] = {}

    def wait_seconds(self, chat_id: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        times = self.seen[chat_id]
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) < self.per_minute:
            times.append(now)
            self.warned.pop(chat_id, None)
            return 0.0
        return 60 - (now - times[0])


def throttle(limit: ChatRateLimit):
    async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        wait = limit.wait_seconds(chat.id)
        if not wait:
            return
        if chat.id not in limit.warned:
            limit.warned[chat.id] = wait
            text = f"Too many commands: wait {int(wait) + 1} s."
            if update.callback_query:
                await update.callback_query.answer(text)
            elif update.effective_message:
                await update.effective_message.reply_text(text)
        raise ApplicationHandlerStop

    return check


def add_handlers(app: Application, *, per_minute: int | None = None) -> Application:
    per_minute = per_minute or int(getattr(settings, "TELEGRAM_RATE_PER_MINUTE", 30))
    app.add_handler(TypeHandler(Update, throttle(ChatRateLimit(per_minute))), group=-1)
    app.add_handler(CommandHandler("start", start_or_link))
    app.add_handler(CommandHandler("help", linked(lambda link, args: Reply(HELP))))
    app.add_handler(CommandHandler("unlink", linked(_unlink)))
    app.add_handler(CommandHandler("org", linked(lambda link, args: commands.org_command(link, " ".join(args)))))
    app.add_handler(CommandHandler("status", linked(lambda link, args: commands.status_command(link))))
    app.add_handler(CommandHandler("bot", linked(lambda link, args: commands.bot_command(link, " ".join(args)))))
    for verb, command in PAGED.items():
        app.add_handler(CommandHandler(verb, linked(lambda link, args, command=command: command(link, _page(args)))))
    app.add_handler(CommandHandler("close", linked(lambda link, args: commands.ask_close(link, " ".join(args)))))
    app.add_handler(CommandHandler("profit", linked(lambda link, args: commands.profit_command(link, " ".join(args)))))
    app.add_handler(CommandHandler("daily", linked(lambda link, args: commands.daily_command(link, " ".join(args)))))
    app.add_handler(CommandHandler("balance", linked(lambda link, args: commands.balance_command(link))))
    app.add_handler(CommandHandler("stop", linked(lambda link, args: commands.ask(link, "stop", " ".join(args)))))
    app.add_handler(CommandHandler("stopall", linked(lambda link, args: commands.ask_org(link, "stopall"))))
    app.add_handler(CommandHandler("kill", linked(lambda link, args: commands.ask_org(link, "kill"))))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.ALL, anything_else))
    app.add_error_handler(on_error)
    return app


def build_application(
    *, token: str | None = None, base_url: str | None = None, per_minute: int | None = None
) -> Application:
    token = token or settings.TELEGRAM_BOT_TOKEN
    if not token:
        raise ApplicationError("Set TELEGRAM_BOT_TOKEN to run the Telegram bot.", field="TELEGRAM_BOT_TOKEN")
    base = base_url or f"{settings.TELEGRAM_API_BASE_URL.rstrip('/')}/bot"
    builder: ApplicationBuilder = Application.builder().token(token).base_url(base).concurrent_updates(True)
    return add_handlers(builder.build(), per_minute=per_minute)
