"""Run the platform's Telegram bot: long polling (TELEGRAM_MODE=polling), or, in webhook mode,
register the webhook (setWebhook with TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET) that the
web process then serves."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatops.bot import ALLOWED_UPDATES, build_application, webhook_set
from chatops.shards import ApiRefused, ShardedPoller

logger = logging.getLogger(__name__)
SECRET_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class Command(BaseCommand):
    help = (
        "Run the Telegram bot: long polling, or in webhook mode register the webhook and idle. Needs "
        "TELEGRAM_BOT_TOKEN; idles when it is empty."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--poll-timeout", type=int, default=30, help="getUpdates long-poll seconds.")
        parser.add_argument("--once", action="store_true", help="Webhook mode: register the webhook and exit.")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="Polling: processes handling the updates (default TELEGRAM_WORKERS; 1 is this process alone).",
        )

    def handle(self, *args, poll_timeout: int, once: bool, workers: int | None, **options) -> None:
        # Off, the process idles rather than exits: under honcho (`make run`) one process ending
        # stops them all.
        if not settings.TELEGRAM_BOT_TOKEN:
            self.stdout.write("TELEGRAM_BOT_TOKEN is empty: the Telegram bot is off.")
            threading.Event().wait()
        if settings.TELEGRAM_MODE == "webhook":
            self._register_webhook()
            if once:
                return
            threading.Event().wait()
        if settings.TELEGRAM_MODE != "polling":
            raise CommandError(f"TELEGRAM_MODE is {settings.TELEGRAM_MODE!r}: it is polling or webhook.")
        workers = settings.TELEGRAM_WORKERS if workers is None else workers
        if workers < 1:
            raise CommandError(f"--workers is {workers}: at least 1.")
        if workers > 1:
            self._run_sharded(workers, poll_timeout)
            return
        app = build_application()
        logger.info("Telegram bot polling.")
        # start_polling drops a webhook left from webhook mode first (Telegram refuses getUpdates while one is set).
        asyncio.set_event_loop(uvloop.new_event_loop())
        app.run_polling(timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)

    def _run_sharded(self, workers: int, poll_timeout: int) -> None:
        poller = ShardedPoller(workers=workers, poll_timeout=poll_timeout)

        def interrupt(signum, frame):  # SIGTERM (honcho, systemd) stops as Ctrl-C does: in order
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
        logger.info("Telegram bot polling, %s worker processes.", workers)
        try:
            poller.run()
        except KeyboardInterrupt:
            pass
        except ApiRefused as exc:
            raise CommandError(f"The Bot API refused the bot: {exc}") from None

    def _register_webhook(self) -> None:
        url, secret = settings.TELEGRAM_WEBHOOK_URL, settings.TELEGRAM_WEBHOOK_SECRET
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):  # Telegram: https, or loopback
            raise CommandError("Webhook mode needs TELEGRAM_WEBHOOK_URL, the https address of /telegram/webhook/.")
        if not 1 <= len(secret) <= 256 or not set(secret) <= SECRET_CHARACTERS:
            raise CommandError(
                "Webhook mode needs TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and -."
            )

        async def register() -> None:
            app = build_application()
            async with app:
                await webhook_set(app, url=url, secret=secret)

        asyncio.run(register())
        self.stdout.write(f"Telegram posts updates to {url}.")
