"""The bot running for real: python-telegram-bot long-polling a loopback Bot API server, on its
own event loop in a thread, against the test database (so tests that use it are transactional)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chatops.bot import build_application, orm_close
from tests.chatops.botapi import BotApiServer

TOKEN = "123456:TEST-token"


class RunningBot:
    def __init__(self, api: BotApiServer, per_minute: int = 1000) -> None:
        self.api = api
        self.app = build_application(token=TOKEN, base_url=api.base_url, per_minute=per_minute)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with self.app:
            await self.app.start()
            await self.app.updater.start_polling(poll_interval=0, timeout=1)
            self.ready.set()
            await self._stop.wait()
            await self.app.updater.stop()
            await self.app.stop()
        # Application.shutdown() (leaving the context) does not run post_shutdown: close the
        # database threads' connections here, as run_polling would.
        await asyncio.to_thread(orm_close)

    def start(self) -> RunningBot:
        self.thread.start()
        assert self.ready.wait(15), "the bot did not start polling"
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(15)
        self.loop.close()


@pytest.fixture
def botapi():
    with BotApiServer(TOKEN) as api:
        yield api


@pytest.fixture
def running_bot(transactional_db, botapi):
    bot = RunningBot(botapi).start()
    yield bot
    bot.stop()


@pytest.fixture
def strict_bot(transactional_db, botapi):
    """The bot with a limit of 3 updates per chat per minute."""
    bot = RunningBot(botapi, per_minute=3).start()
    yield bot
    bot.stop()
