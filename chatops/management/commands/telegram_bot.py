"""Run the platform's Telegram bot with long polling (TELEGRAM_MODE=polling)."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from chatops.bot import build_application

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the Telegram bot (long polling). Needs TELEGRAM_BOT_TOKEN; idles when it is empty."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--poll-timeout", type=int, default=30, help="getUpdates long-poll seconds.")

    def handle(self, *args, poll_timeout: int, **options) -> None:
        # Off, the process idles rather than exits: under honcho (`make run`) one process ending
        # stops them all.
        if not settings.TELEGRAM_BOT_TOKEN:
            self.stdout.write("TELEGRAM_BOT_TOKEN is empty: the Telegram bot is off.")
            threading.Event().wait()
        if settings.TELEGRAM_MODE != "polling":
            self.stdout.write(f"TELEGRAM_MODE is {settings.TELEGRAM_MODE!r}: Telegram posts to the webhook instead.")
            threading.Event().wait()
        app = build_application()
        logger.info("Telegram bot polling.")
        app.run_polling(timeout=poll_timeout, allowed_updates=["message", "callback_query"], drop_pending_updates=False)
