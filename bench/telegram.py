"""Telegram command round trip: 100 linked chats sending commands at once.

The real bot (python-telegram-bot 22) runs as `manage.py telegram_bot` runs it, long polling the
loopback Bot API server of the tests (tests/chatops/botapi.py), which runs in a process of its
own, as Telegram's servers are not in ours: the poller and BENCH_TG_WORKERS worker processes
(chatops.shards; default one per core, at least 2), each the usual Application with
TELEGRAM_DB_THREADS database threads (BENCH_TG_THREADS, default the setting's). Database
connections are persistent as in production (DATABASE_CONN_MAX_AGE 60). A fresh bench database
is seeded with one organization: BENCH_TG_CHATS (100) members with linked chats, 40 bots, an
open position per bot, 200 open orders, 400 closed round trips over 30 days, a paper account with
balances and 20 valid signals. The commands rotate over /status, /bots, /bot <name>, /positions,
/orders, /profit 7, /daily 7, /balance, /signals and /help (BENCH_TG_ONLY=/help sends that one
only).

A round trip runs from the update being queued at the server to the reply's sendMessage reaching
it, both timed in the server's process. Two loads:

- paced: the 100 chats all at once, each sending a command after a random pause of
  BENCH_TG_PACED_GAP (3) seconds on average (exponential), for BENCH_TG_PACED_SECONDS (30):
  about 33 commands a second from 100 people working the bot together.
- burst: every chat sends one command at the very same instant (the server queues 100 updates
  and the poller's next getUpdates takes them all); BENCH_TG_ROUNDS (20) such rounds after 2
  warm-up rounds, each once every chat has its answer. This measures throughput: the last of
  100 simultaneous answers waits for the 99 before it, so its p99 is about 100 times the bot's
  CPU cost of a command (`bot_cpu_ms_per_command`: the CPU time of the poller and the workers
  over the rounds) divided by the cores the workers get.

Side by side (`one_process`), both loads on the bot in one process (TELEGRAM_WORKERS=1).

Figures per load: p50/p95/p99/max round trip in ms, commands/s and `meets_target` (p99 <= 200
ms, the issue's target); for the burst also the p99 of each command. The per-chat rate limit is
raised for the run (20 rounds in well under a minute would otherwise be throttled at 30). Prints
one JSON line.
"""

import asyncio
import datetime as dt
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import uvloop
from _django import setup

# This file's name is the client library's package name: drop bench/ from the path so that
# `import telegram` finds python-telegram-bot, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
setup()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from bots.models import Bot, Order, Position  # noqa: E402
from chatops.bot import build_application, orm_close  # noqa: E402
from chatops.models import TelegramLink  # noqa: E402
from chatops.shards import ShardedPoller  # noqa: E402
from exchanges.models import ExchangeAccount  # noqa: E402
from exchanges.paper import paper_balance_set  # noqa: E402
from organizations.models import Membership, Organization, Role  # noqa: E402
from signals.models import SignalSource  # noqa: E402
from signals.services import signal_record  # noqa: E402
from tests.chatops.botapi import BotApiServer  # noqa: E402

CHATS = int(os.environ.get("BENCH_TG_CHATS", "100"))
WORKERS = int(os.environ.get("BENCH_TG_WORKERS", str(max(2, os.cpu_count() or 1))))
ROUNDS = int(os.environ.get("BENCH_TG_ROUNDS", "20"))
WARMUP = 2
PACED_SECONDS = float(os.environ.get("BENCH_TG_PACED_SECONDS", "30"))
PACED_GAP = float(os.environ.get("BENCH_TG_PACED_GAP", "3"))
TARGET_MS = 200
TOKEN = "123456:BENCH-token"  # noqa: S105 - the loopback server's
COMMANDS = [
    "/status",
    "/bots",
    "/bot bot-07",
    "/positions",
    "/orders",
    "/profit 7",
    "/daily 7",
    "/balance",
    "/signals",
    "/help",
]
CHAT_BASE = 10_000
if os.environ.get("BENCH_TG_ONLY"):
    COMMANDS = [os.environ["BENCH_TG_ONLY"]]


def seed() -> None:
    from django.contrib.auth import get_user_model

    org = Organization.objects.create(name="Bench Capital", slug="bench")
    account = ExchangeAccount.objects.create(organization=org, exchange="paper", label="Paper", status="active")
    for asset, free in (("USDT", "250000"), ("BTC", "3.5"), ("ETH", "40")):
        paper_balance_set(account=account, asset=asset, free=Decimal(free))
    bots = Bot.objects.bulk_create(
        Bot(
            organization=org,
            name=f"bot-{i:02d}",
            strategy="grid",
            exchange_account=account,
            symbol="BTC/USDT",
            capital=Decimal("10000"),
            status="running" if i % 2 else "stopped",
        )
        for i in range(40)
    )
    now = timezone.now()
    positions = [
        Position(
            organization=org, bot=b, symbol="BTC/USDT", quantity=Decimal("0.05"), average_entry_price=Decimal("61000")
        )
        for b in bots
    ]
    for i in range(400):
        at = now - dt.timedelta(hours=i * 1.8)
        positions.append(
            Position(
                organization=org,
                bot=bots[i % 40],
                symbol="ETH/USDT",
                realized_pnl=Decimal(i % 13 - 5),
                fees_paid=Decimal("0.4"),
                opened_at=at - dt.timedelta(hours=1),
                closed_at=at,
            )
        )
    Position.objects.bulk_create(positions)
    Order.objects.bulk_create(
        Order(
            organization=org,
            bot=bots[i % 40],
            exchange_account=account,
            client_order_id=f"bench-{i}",
            symbol="BTC/USDT",
            side="buy" if i % 2 else "sell",
            type="limit",
            amount=Decimal("0.01"),
            price=Decimal(60000 + i),
            status="open",
        )
        for i in range(200)
    )
    source = SignalSource.objects.create(organization=org, name="engine", kind="engine")
    for i in range(20):
        bar = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(minutes=5 * i)
        signal_record(signal_source=source, symbol="BTC/USDT", timeframe="5m", side="buy", confidence="0.7", bar_ts=bar)
    users = get_user_model().objects.bulk_create(get_user_model()(username=f"member{i:03d}") for i in range(CHATS))
    Membership.objects.bulk_create(Membership(user=u, organization=org, role=Role.TRADER) for u in users)
    TelegramLink.objects.bulk_create(
        TelegramLink(user=u, chat_id=CHAT_BASE + i, organization=org) for i, u in enumerate(users)
    )


class BenchServer(BotApiServer):
    """The loopback Bot API plus one control call for the bench: POST /control/round with
    {"commands": [[chat, text], ...]} queues every update at once, waits until each chat has one
    more message, and answers each round trip in ms (in the order given)."""

    def handle(self, path, content_type, raw):
        if path == "/control/paced":
            return self.ok(self.paced(**json.loads(raw)))
        if path != "/control/round":
            return super().handle(path, content_type, raw)
        commands = json.loads(raw)["commands"]
        before = {chat: len(self.wait_sent(chat, 0)) for chat, _ in commands}
        pushed = {}
        for chat, text in commands:
            self.send_text(chat, text)
            pushed[chat] = time.monotonic()
        return self.ok(
            [
                (self.wait_sent(chat, before[chat] + 1, 60)[before[chat]].at - pushed[chat]) * 1000
                for chat, _ in commands
            ]
        )

    def paced(self, *, chats: list[int], seconds: float, mean_gap: float, seed: int) -> list[tuple[str, float]]:
        """Every chat sends commands for `seconds`, each after a random (exponential) pause of
        `mean_gap` seconds on average, as people do; answers each command's round trip."""
        rng = random.Random(seed)
        plan = []
        for index, chat in enumerate(chats):
            at = rng.expovariate(1 / mean_gap)
            number = index
            while at < seconds:
                plan.append((at, chat, COMMANDS[number % len(COMMANDS)]))
                number += 1
                at += rng.expovariate(1 / mean_gap)
        plan.sort()
        before = {chat: len(self.wait_sent(chat, 0)) for chat in chats}
        sent_at: dict[int, list[tuple[str, float]]] = {chat: [] for chat in chats}
        start = time.monotonic()
        for at, chat, text in plan:
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.send_text(chat, text)
            sent_at[chat].append((text.split()[0], time.monotonic()))
        trips = []
        for chat, commands in sent_at.items():
            replies = self.wait_sent(chat, before[chat] + len(commands), 60)[before[chat] :]
            trips += [
                (command, (reply.at - at) * 1000) for (command, at), reply in zip(commands, replies, strict=False)
            ]
        return trips


def serve(port_out) -> None:
    with BenchServer(TOKEN) as api:
        port_out.put(api.base_url)
        threading.Event().wait()


class RunningBot:
    """The application polling the loopback server on its own loop, as `manage.py telegram_bot` runs it
    with TELEGRAM_WORKERS=1."""

    def __init__(self, base_url: str) -> None:
        self.app = build_application(token=TOKEN, base_url=base_url, per_minute=100_000)
        self.loop = uvloop.new_event_loop()
        self.ready = threading.Event()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.stop_event = asyncio.Event()
        async with self.app:
            await self.app.start()
            await self.app.updater.start_polling(poll_interval=0, timeout=5)
            self.ready.set()
            await self.stop_event.wait()
            await self.app.updater.stop()
            await self.app.stop()
        await asyncio.to_thread(orm_close)  # the database threads' connections, as run_polling does

    def cpu_seconds(self) -> float:
        return time.process_time()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(20), "the bot did not start polling"
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
        self.loop.close()


class ShardedBot:
    """The poller and its worker processes (chatops.shards), as `manage.py telegram_bot` runs them
    with TELEGRAM_WORKERS > 1; the poller in a thread here."""

    def __init__(self, base_url: str, workers: int) -> None:
        self.poller = ShardedPoller(workers=workers, token=TOKEN, base_url=base_url, per_minute=100_000, poll_timeout=5)
        self.thread = threading.Thread(target=self.poller.run, daemon=True)

    def cpu_seconds(self) -> float:
        """This process's CPU (the poller) and the workers'."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = time.process_time()
        for worker in self.poller.workers:
            fields = Path(f"/proc/{worker.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not all(w.alive() for w in self.poller.workers):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.poller.stop()
        self.thread.join(40)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def figures(samples: dict[str, list[float]], elapsed: float) -> dict:
    every = sorted(ms for values in samples.values() for ms in values)
    return {
        "commands": len(every),
        "commands_per_s": round(len(every) / elapsed, 1),
        "p50_ms": round(statistics.median(every), 1),
        "p95_ms": pct(every, 0.95),
        "p99_ms": pct(every, 0.99),
        "max_ms": round(every[-1], 1),
        "meets_target": pct(every, 0.99) <= TARGET_MS,
    }


def control(base_url: str, name: str, body: dict):
    url = base_url.removesuffix("/bot") + f"/control/{name}"
    request = urllib.request.Request(url, data=json.dumps(body).encode())  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
        return json.load(response)["result"]


def run_load(workers: int, threads: int) -> dict:
    """Both loads on one bot (`workers` processes, `threads` database threads each): the burst
    rounds, then the paced chats."""
    settings.TELEGRAM_DB_THREADS = threads
    connections.close_all()  # the server process forked here uses no database
    context = multiprocessing.get_context("fork")
    port_out = context.Queue()
    server = context.Process(target=serve, args=(port_out,), daemon=True)
    server.start()
    base_url = port_out.get(timeout=60)
    chats = [CHAT_BASE + i for i in range(CHATS)]
    burst: dict[str, list[float]] = {c.split()[0]: [] for c in COMMANDS}
    paced: dict[str, list[float]] = {c.split()[0]: [] for c in COMMANDS}
    try:
        with RunningBot(base_url) if workers == 1 else ShardedBot(base_url, workers) as bot:
            for round_number in range(WARMUP + ROUNDS):
                if round_number == WARMUP:
                    started, cpu = time.perf_counter(), bot.cpu_seconds()
                commands = [(chat, COMMANDS[(i + round_number) % len(COMMANDS)]) for i, chat in enumerate(chats)]
                trips = control(base_url, "round", {"commands": commands})
                if round_number >= WARMUP:
                    for (_, text), ms in zip(commands, trips, strict=True):
                        burst[text.split()[0]].append(ms)
            burst_elapsed, burst_cpu = time.perf_counter() - started, bot.cpu_seconds() - cpu
            started = time.perf_counter()
            for command, ms in control(
                base_url, "paced", {"chats": chats, "seconds": PACED_SECONDS, "mean_gap": PACED_GAP, "seed": 7}
            ):
                paced[command].append(ms)
            paced_elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.join(10)
    count = sum(map(len, burst.values()))
    return {
        "workers": workers,
        "db_threads": threads,
        "burst": {
            **figures(burst, burst_elapsed),
            "bot_cpu_ms_per_command": round(burst_cpu * 1000 / count, 2),
            "p99_ms_by_command": {command: pct(values, 0.99) for command, values in burst.items()},
        },
        "paced": figures(paced, paced_elapsed),
    }


def main() -> None:
    seed()
    threads = int(os.environ.get("BENCH_TG_THREADS", str(settings.TELEGRAM_DB_THREADS)))
    ours = run_load(WORKERS, threads)
    single = run_load(1, threads)
    print(
        json.dumps(
            {
                "bench": "telegram",
                "chats": CHATS,
                "rounds": ROUNDS,
                "paced_seconds": PACED_SECONDS,
                "paced_mean_gap_s": PACED_GAP,
                "target_p99_ms": TARGET_MS,
                **ours,
                "one_process": {
                    "db_threads": single["db_threads"],
                    **{
                        scenario: {
                            k: single[scenario][k]
                            for k in ("commands_per_s", "p50_ms", "p99_ms", "max_ms", "meets_target")
                        }
                        for scenario in ("burst", "paced")
                    },
                    "bot_cpu_ms_per_command": single["burst"]["bot_cpu_ms_per_command"],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
