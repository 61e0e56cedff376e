"""The platform's Telegram bot (python-telegram-bot): linking, and the commands members send.

Only private chats are served. A chat that is not linked gets one polite refusal (how to link)
and nothing else; `/start <code>` links it (chatops.services.link_claim) and `/unlink` unlinks it.
Handlers run on the bot's event loop and reach the ORM through `orm()`, on a database thread
(TELEGRAM_DB_THREADS), or on one of TELEGRAM_IO_THREADS when the command may wait on an exchange.

`build_application()` makes the Application from settings (token, Bot API base URL); the
`telegram_bot` management command runs it with long polling, or registers the webhook that
`chatops.views.telegram_webhook` serves (`WebhookRunner`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections
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
from chatops.services import CODE_PATTERN, link_claim, link_for_chat, link_remove, link_touch
from chatops.transport import AiohttpRequest
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


# -- the database threads ---------------------------------------------------------------------------
class OrmPool:
    """The threads the handlers reach the database from. Each call starts like a Django request
    (a connection past CONN_MAX_AGE or broken is dropped); `close()` closes every thread's
    connection, which a thread can only do for itself, so it sends one blocking task to each
    thread at once.

    A request's health check (CONN_HEALTH_CHECKS: a `SELECT 1` before the first query) is a
    round trip to PostgreSQL per command. It is made when the thread's connection has been idle
    HEALTH_CHECK_IDLE seconds or more; a connection that answered a moment ago is taken as
    sound, and one that failed is still checked (Django does so after any database error)."""

    HEALTH_CHECK_IDLE = 5.0

    def __init__(self, size: int, *, health_check_idle: float = HEALTH_CHECK_IDLE) -> None:
        self.size = size
        self.health_check_idle = health_check_idle
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="telegram-orm")
        self.local = threading.local()

    def _call(self, fn, *args):
        close_old_connections()  # as at the start of a request: drop a connection past its age or broken
        now = time.monotonic()
        if now - getattr(self.local, "last", float("-inf")) < self.health_check_idle:
            for connection in connections.all(initialized_only=True):
                if connection.connection is not None and not connection.errors_occurred:
                    connection.health_check_done = True
        try:
            return fn(*args)
        finally:
            self.local.last = time.monotonic()

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(self._call, fn, *args))

    def close(self) -> None:
        barrier = threading.Barrier(self.size)

        def close_here() -> None:
            connections.close_all()
            barrier.wait(timeout=10)

        for future in [self.executor.submit(close_here) for _ in range(self.size)]:
            future.result(timeout=15)
        self.executor.shutdown(wait=True)


# Two pools: commands that only read the database run on TELEGRAM_DB_THREADS (1: a command is
# CPU under one interpreter lock, and a second thread only adds lock hand-offs; the bench measured
# a burst's p99 twice as long with 2), and what waits on an exchange (/balance, a confirmed action)
# on TELEGRAM_IO_THREADS, so an exchange taking seconds holds none of the other chats.
_pools: dict[str, OrmPool] = {}
_pool_lock = threading.Lock()
POOL_SIZES = {"db": ("TELEGRAM_DB_THREADS", 1), "io": ("TELEGRAM_IO_THREADS", 8)}


def orm(fn, *, outside: bool = False):
    """`await orm(fn)(*args)`: `fn(*args)` on a database thread; `outside=True` when it may wait
    on an exchange."""
    name = "io" if outside else "db"

    async def call(*args):
        with _pool_lock:
            if name not in _pools:
                setting, default = POOL_SIZES[name]
                _pools[name] = OrmPool(max(1, int(getattr(settings, setting, default))))
            pool = _pools[name]
        return await pool.run(fn, *args)

    return call


def orm_close() -> None:
    """Close the database threads and their connections (the bot shutting down)."""
    with _pool_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _linked_text_for(chat_id: int) -> str:
    link = link_for_chat(chat_id)
    if link is None:
        return NOT_LINKED
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
    if context.args:
        username = (update.effective_user.username if update.effective_user else "") or ""
        text = await orm(_claim)(context.args[0], chat_id, username)
    else:
        text = await orm(_linked_text_for)(chat_id)
    await update.effective_message.reply_text(text)


def _claim(code: str, chat_id: int, username: str) -> str:
    try:
        link_claim(code=code, chat_id=chat_id, username=username)
    except ApplicationError as exc:
        return exc.message
    return _linked_text_for(chat_id)


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


def linked(run, *, outside: bool = False):
    """A command for linked chats: `run(link, args)` (sync, in a thread) returns the Reply; a
    refusal (ApplicationError) is answered with its message; an unknown chat gets NOT_LINKED.
    `outside`: it may wait on an exchange."""

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await _private(update):
            return
        reply = await orm(_run_linked, outside=outside)(update.effective_chat.id, run, list(context.args or []))
        await _send(update, reply)

    return handler


def _run_linked(chat_id: int, run, args: list[str]) -> Reply:
    """The chat's link and the command in one trip to a database thread."""
    link = link_for_chat(chat_id)
    if link is None:
        return Reply(NOT_LINKED)
    link_touch(link)
    try:
        return run(link, args)
    except ApplicationError as exc:
        return Reply(exc.message)


async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/balance: the accounts from the database, then each live account's balances from its
    exchange on the outside threads (a slow exchange holds no other chat)."""
    if not await _private(update):
        return
    accounts = await orm(_run_linked)(update.effective_chat.id, lambda link, args: commands.balance_accounts(link), [])
    if isinstance(accounts, Reply):  # not linked, or refused
        await _send(update, accounts)
        return
    fetch = orm(commands.balance_fetch, outside=True)
    live = {account.pk: await fetch(account) for account in accounts if commands.balance_is_live(account)}
    await _send(update, commands.balance_text(accounts, live))


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
    chat_id = query.message.chat.id if query.message else None
    # A confirmed action (or one under an alert) may reach an exchange.
    outside = (query.data or "").startswith(("do:", "ab:"))
    reply = await orm(_button_reply, outside=outside)(chat_id, query.data or "")
    if reply is None:
        await query.answer(NOT_LINKED[:200], show_alert=True)
        return
    await query.answer()
    if (query.data or "").startswith("ab:"):
        # Under an alert: the answer is a new message, so the alert stays readable.
        await query.message.reply_text(split_text(reply.text)[0], reply_markup=_markup(reply))
        return
    await query.edit_message_text(split_text(reply.text)[0], reply_markup=_markup(reply))


def _button_reply(chat_id: int | None, data: str) -> Reply | None:
    """What a pressed button does (None: the chat is not linked)."""
    link = link_for_chat(chat_id) if chat_id is not None else None
    if link is None:
        return None
    try:
        if data == "cancel":
            return Reply("Cancelled; nothing was done.")
        verb, _, rest = data.partition(":")
        if verb in PAGED:
            return PAGED[verb](link, _page([rest]))
        if verb == "close":
            return commands.ask_close(link, rest)
        if verb == "do":
            return commands.confirm(link, data)
        if verb == "org":
            return commands.confirm_org(link, data)
        if verb == "ab":
            return commands.alert_action(link, data)
        return Reply("That button is not one of mine any more.")
    except ApplicationError as exc:
        return Reply(exc.message)


async def start_or_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start <code>` links the chat. In a linked chat `/start <bot>` asks to start that bot; an
    argument that names no bot but has a code's shape is taken as a code (linking moves here)."""
    if not await _private(update):
        return
    ref = " ".join(context.args or [])
    if ref and await orm(_names_a_bot)(update.effective_chat.id, ref):
        await linked(lambda link, args: commands.ask(link, "start", ref))(update, context)
        return
    await start(update, context)


def _names_a_bot(chat_id: int, ref: str) -> bool:
    """In a linked chat, `/start <ref>` starts a bot when ref names one or cannot be a code."""
    link = link_for_chat(chat_id)
    return link is not None and (commands.has_bot(link, ref) or not CODE_PATTERN.match(ref))


def _unlink(link, args: list[str]) -> Reply:
    link_remove(link=link, source=EventSource.TELEGRAM)
    return Reply("Unlinked: this chat can no longer act for you.")


async def anything_else(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text or an unknown command: a linked chat is pointed at /help, an unknown one refused."""
    if not await _private(update):
        return
    linked_chat = await orm(link_for_chat)(update.effective_chat.id) is not None
    if update.effective_message:
        await update.effective_message.reply_text("Unknown command; /help lists them." if linked_chat else NOT_LINKED)


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
    app.add_handler(CommandHandler("balance", balance))
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
    connections_ = int(getattr(settings, "TELEGRAM_HTTP_CONNECTIONS", 16))
    builder: ApplicationBuilder = (
        Application.builder()
        .token(token)
        .base_url(base)
        .concurrent_updates(True)
        # A few kept-alive connections, reused, serve a burst of replies faster than one per reply;
        # getUpdates has one of its own.
        .request(AiohttpRequest(connections=connections_, pool_timeout=10))
        .get_updates_request(AiohttpRequest(connections=1))
        .post_shutdown(_on_shutdown)
    )
    return add_handlers(builder.build(), per_minute=per_minute)


async def _on_shutdown(app: Application) -> None:
    await asyncio.to_thread(orm_close)


ALLOWED_UPDATES = ["message", "callback_query"]


async def webhook_set(app: Application, *, url: str, secret: str) -> None:
    """Tell Telegram to post updates to `url` with `secret` in the secret-token header."""
    await app.bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)


class WebhookRunner:
    """The Application for webhook mode, inside a web process: initialized once on its own event
    loop in a thread, fed one update at a time by the webhook view, which waits for the update
    to be handled before answering Telegram (an update in flight when the process dies is not
    acknowledged, so Telegram sends it again)."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="telegram-webhook", daemon=True)
        self.thread.start()
        self._call(self.app.initialize(), timeout=30)

    def _call(self, coroutine, *, timeout: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def process(self, data: dict, *, timeout: float = 25) -> None:
        update = Update.de_json(data, self.app.bot)
        self._call(self.app.process_update(update), timeout=timeout)

    def stop(self) -> None:
        try:
            self._call(self.app.shutdown(), timeout=30)
            orm_close()  # Application.shutdown() does not run post_shutdown; run_polling does
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


_runner: WebhookRunner | None = None
_runner_lock = threading.Lock()


def webhook_runner() -> WebhookRunner:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = WebhookRunner(build_application())
        return _runner


def webhook_runner_stop() -> None:
    global _runner
    with _runner_lock:
        runner, _runner = _runner, None
    if runner is not None:
        runner.stop()
