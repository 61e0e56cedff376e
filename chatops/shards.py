"""The Telegram bot over several processes (TELEGRAM_WORKERS > 1, long polling).

A command costs the bot a few milliseconds of CPU (python-telegram-bot, the ORM, the reply),
all under one interpreter lock, so one process answers a few hundred commands a second at
most, however many database threads it has. With TELEGRAM_WORKERS of 2 or more:

- this process polls getUpdates (Telegram allows one consumer) and hands each update, as it
  came, to worker `chat id % workers`. A chat always reaches the same worker, so its updates
  stay in order and its rate limit (`chatops.bot.ChatRateLimit`) is counted in one place;
- each worker is the usual Application (`chatops.bot.build_application`) without an updater:
  it reads its updates from a pipe and answers Telegram itself;
- a worker that dies is started again. The updates it had not finished are lost, as they are
  when a single process dies after getUpdates confirmed them (Telegram's offset is confirmed
  when an update is handed over, by the next getUpdates).

The workers are forked from this process before it starts any thread, so they inherit Django,
already set up, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import signal
import threading
import urllib.error
import urllib.request
from multiprocessing.connection import Connection

import uvloop
from django.conf import settings
from django.db import connections
from telegram import Update

from chatops.bot import ALLOWED_UPDATES, build_application, orm_close

logger = logging.getLogger(__name__)

RETRY_SECONDS = (1, 2, 5, 10, 30)  # after failed getUpdates calls in a row, the next waits this long


class ApiRefused(RuntimeError):
    """The Bot API answered ok=false: `code` is its error code, the message its description."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"{method}: {description}")
        self.code = code


def chat_of(update: dict) -> int:
    """The chat an update belongs to: a message's chat, a pressed button's chat (or its sender);
    0 when it names none."""
    for key in ("message", "edited_message"):
        if isinstance(update.get(key), dict):
            return _int((update[key].get("chat") or {}).get("id"))
    query = update.get("callback_query")
    if isinstance(query, dict):
        chat = ((query.get("message") or {}).get("chat") or {}).get("id")
        return _int(chat) or _int((query.get("from") or {}).get("id"))
    return 0


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# -- a worker -------------------------------------------------------------------------------------
def _worker_main(inbox: Connection, token: str, base_url: str | None, per_minute: int | None) -> None:
    """A worker process: the Application fed from `inbox`, one JSON update per message, until an
    empty message (or the pipe closing: the poller is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the poller, which stops the workers in order
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the poller's handler, inherited by the fork
    app = build_application(token=token, base_url=base_url, per_minute=per_minute)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def read() -> None:
            while True:
                try:
                    raw = inbox.recv_bytes()
                except (EOFError, OSError):
                    raw = b""
                if not raw:
                    loop.call_soon_threadsafe(done.set)
                    return
                try:
                    update = Update.de_json(json.loads(raw), app.bot)
                except (ValueError, TypeError, KeyError):
                    logger.warning("A Telegram update that does not parse was dropped.")
                    continue
                loop.call_soon_threadsafe(app.update_queue.put_nowait, update)

        async with app:
            await app.start()
            threading.Thread(target=read, name="telegram-inbox", daemon=True).start()
            await done.wait()
            await app.stop()  # handles what is queued and in flight first
        await asyncio.to_thread(orm_close)

    uvloop.run(main())


class Worker:
    """One worker process and the pipe to it."""

    def __init__(self, index: int, **options) -> None:
        self.index = index
        self.options = options
        self.process: multiprocessing.Process | None = None
        self.pipe: Connection | None = None
        self.starts = 0

    def start(self) -> None:
        context = multiprocessing.get_context("fork")
        reader, self.pipe = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_worker_main, args=(reader,), kwargs=self.options, name=f"telegram-worker-{self.index}", daemon=True
        )
        connections.close_all()  # a forked worker must not share this process's database connection
        self.process.start()
        reader.close()
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def revive(self) -> None:
        """Start the worker again if it died."""
        if self.process is not None and not self.process.is_alive():
            logger.error("Telegram worker %s stopped (exit %s): starting it again.", self.index, self.process.exitcode)
            self.pipe.close()
            self.start()

    def send(self, raw: bytes) -> None:
        self.revive()
        try:
            self.pipe.send_bytes(raw)
        except OSError:  # it died since: once more, to a new one
            self.process.join(5)
            self.revive()
            self.pipe.send_bytes(raw)

    def stop(self, timeout: float = 30) -> None:
        if self.process is None:
            return
        try:
            self.pipe.send_bytes(b"")
        except OSError:
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            logger.warning("Telegram worker %s did not stop in %s s: terminated.", self.index, timeout)
            self.process.terminate()
            self.process.join(5)
        self.pipe.close()


# -- the poller -----------------------------------------------------------------------------------
class ShardedPoller:
    """getUpdates in this process; the updates handled by `workers` worker processes."""

    def __init__(
        self,
        *,
        workers: int,
        token: str | None = None,
        base_url: str | None = None,
        per_minute: int | None = None,
        poll_timeout: int = 30,
    ) -> None:
        if workers < 2:
            raise ValueError("A sharded bot has two workers or more; one process needs no poller.")
        self.token = token or settings.TELEGRAM_BOT_TOKEN
        self.api = base_url or f"{settings.TELEGRAM_API_BASE_URL.rstrip('/')}/bot"
        self.poll_timeout = poll_timeout
        self.offset = 0
        self.stopping = threading.Event()
        options = {"token": self.token, "base_url": base_url, "per_minute": per_minute}
        self.workers = [Worker(index, **options) for index in range(workers)]

    def call(self, method: str, body: dict, *, timeout: float):
        """One Bot API call; ok=false raises ApiRefused with Telegram's description (never the token)."""
        request = urllib.request.Request(  # noqa: S310 - the configured Bot API address
            f"{self.api}{self.token}/{method}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.load(exc)
            except ValueError:
                answer = {"ok": False, "error_code": exc.code, "description": f"HTTP {exc.code}"}
        if not isinstance(answer, dict) or not answer.get("ok"):
            answer = answer if isinstance(answer, dict) else {}
            raise ApiRefused(method, _int(answer.get("error_code")), str(answer.get("description") or "refused"))
        return answer.get("result")

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        # As python-telegram-bot's start_polling: a webhook left from webhook mode blocks getUpdates.
        self.call("deleteWebhook", {"drop_pending_updates": False}, timeout=30)

    def poll_once(self) -> int:
        """One getUpdates; each update handed to its chat's worker. Returns how many came."""
        updates = self.call(
            "getUpdates",
            {"offset": self.offset, "timeout": self.poll_timeout, "allowed_updates": ALLOWED_UPDATES},
            timeout=self.poll_timeout + 10,
        )
        if not isinstance(updates, list):
            raise ValueError("getUpdates did not answer a list of updates.")
        for update in updates:
            if not isinstance(update, dict) or _int(update.get("update_id")) <= 0:
                continue
            worker = self.workers[chat_of(update) % len(self.workers)]
            worker.send(json.dumps(update).encode())
            self.offset = max(self.offset, _int(update["update_id"]) + 1)
        for worker in self.workers:
            worker.revive()
        return len(updates)

    def run(self) -> None:
        """Poll until `stop()` (or KeyboardInterrupt); failed calls are retried after a growing
        pause; a refused token (401) ends the run."""
        failures = 0
        try:
            self.start()
            while not self.stopping.is_set():
                try:
                    self.poll_once()
                    failures = 0
                except ApiRefused as exc:
                    if exc.code in (401, 404):
                        logger.error("The Bot API refuses the token (%s): the Telegram bot stops.", exc)
                        raise
                    failures += 1
                    self._pause(exc, failures)
                except (OSError, ValueError) as exc:
                    failures += 1
                    self._pause(exc, failures)
        finally:
            self.close()

    def _pause(self, exc: Exception, failures: int) -> None:
        pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1]
        logger.warning("getUpdates failed (%s): trying again in %s s.", exc, pause)
        self.stopping.wait(pause)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        """Confirm what was handed over (or Telegram sends it again at the next start), then stop
        the workers once they have handled it."""
        if self.offset:
            try:
                self.call("getUpdates", {"offset": self.offset, "timeout": 0, "limit": 1}, timeout=10)
            except (ApiRefused, OSError, ValueError) as exc:
                logger.warning("Could not confirm the last updates (%s): Telegram may send them again.", exc)
        for worker in self.workers:
            worker.stop()
