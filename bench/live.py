"""Live-update delivery: commit to the last of 1,000 connected WebSocket clients.

A real ASGI server serves `config.asgi:application` on a free port with the channels-redis layer:
uvicorn with BENCH_WORKERS (2) processes by default, as docs/live.md serves it (per-message
compression off; BENCH_WS_DEFLATE=1 turns it on), or daphne (BENCH_SERVER=daphne, one process).
BENCH_CLIENT_PROCESSES (4) processes, each on uvloop, open BENCH_CLIENTS (1,000) WebSocket
clients to `ws/live/` with the websockets library (BENCH_CLIENT_LIBRARY=aiohttp for aiohttp's;
either offers compression, as browsers do): half sign in with a session cookie and an allowed
Origin, as the dashboard does, half with an API key header and no Origin, as an integration
does. Then this process commits BENCH_CHANGES (200) bot status changes, one at a time, through
`bots.services.bot_transition` (each publishes an `event` and a `bot` frame after commit), and
waits until every client has both frames (or BENCH_TIMEOUT seconds) before the next change.

Per frame: the time from the commit (a hook registered before the change, so it runs first
after COMMIT) to its receipt at the last client. The receipt is when the client's read
returns, so the clients' own work (1,000 sockets in a few Python processes on the same shared
2-core machine as the server, Redis and PostgreSQL) is included.

- messages: frames published (2 per change); dropped: frames some client never received;
  missing_deliveries: (frame, client) pairs never received.
- p50_ms / p99_ms / max_ms: over frames, the time to the last client.
- median_client_p50_ms / first_client_p50_ms: over frames, the time to the median client and
  to the first one.
- connect_s: time to open and authenticate every client.
Prints one JSON line. Cleans up its data and stops the server afterwards.
"""

import asyncio
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

import uvloop
from _django import BENCH_DB, ROOT, setup

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["REDIS_URL"] = REDIS_URL
setup()

from django.db import connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from alerts.models import AlertRule  # noqa: E402
from bots import live  # noqa: E402
from bots.models import Bot  # noqa: E402
from bots.services import bot_transition  # noqa: E402
from bots.state import BotStatus  # noqa: E402
from exchanges.models import ExchangeAccount  # noqa: E402
from organizations.models import ApiKey, Membership, Organization, Role, hash_api_secret  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "1000"))
CHANGES = int(os.environ.get("BENCH_CHANGES", "200"))
SERVER = os.environ.get("BENCH_SERVER", "uvicorn")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
UVICORN_WS = os.environ.get("BENCH_UVICORN_WS", "websockets-sansio")
# As docs/live.md serves it: no per-message compression (BENCH_WS_DEFLATE=1 turns it on).
DEFLATE = os.environ.get("BENCH_WS_DEFLATE", "0") == "1"
# websockets (pure Python) or aiohttp (its frame reader is compiled): the clients share the
# cores with the server, so their own cost per frame shows in the figures.
CLIENT_LIBRARY = os.environ.get("BENCH_CLIENT_LIBRARY", "websockets")
CLIENT_PROCESSES = int(os.environ.get("BENCH_CLIENT_PROCESSES", "4"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "5"))
GAP = 0.05  # seconds between changes, after every client got the previous one
SLUG = "bench-live"
USERNAME = "bench-live-user"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, 4 * CLIENTS + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def cleanup() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    org = Organization.objects.filter(slug=SLUG).first()
    if org is not None:
        bots = Bot.objects.filter(organization=org)
        from bots.models import BotEvent

        BotEvent.objects.filter(organization=org).delete()
        bots.delete()
        ExchangeAccount.objects.filter(organization=org).delete()
        ApiKey.objects.filter(organization=org).delete()
        Membership.objects.filter(organization=org).delete()
        AlertRule.objects.filter(organization=org).delete()  # with its alerts and deliveries
        org.delete()
    user = get_user_model().objects.filter(username=USERNAME).first()
    if user is not None:
        for session in Session.objects.all().iterator():
            if session.get_decoded().get("_auth_user_id") == str(user.pk):
                session.delete()
        user.delete()


def prepare() -> tuple[list[Bot], str, str]:
    """The organization, a viewer, an API key and CHANGES running bots."""
    from django.contrib.auth import get_user_model

    cleanup()
    org = Organization.objects.create(name="Bench live", slug=SLUG)
    user = get_user_model().objects.create_user(username=USERNAME, password=None)
    Membership.objects.create(user=user, organization=org, role=Role.VIEWER)
    prefix, secret, full = ApiKey.generate()
    ApiKey.objects.create(
        organization=org, name="bench", prefix=prefix, hashed_secret=hash_api_secret(secret), scopes=["read"]
    )
    account = ExchangeAccount.objects.create(organization=org, exchange="paper", label="bench", status="active")
    Bot.objects.bulk_create(
        [
            Bot(
                organization=org,
                name=f"live-{i}",
                strategy="grid",
                exchange_account=account,
                symbol="BTC/USDT",
                status=BotStatus.RUNNING,
            )
            for i in range(CHANGES)
        ]
    )
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    return list(Bot.objects.filter(organization=org).order_by("pk")), session, full


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "REDIS_URL": REDIS_URL,
        "PYTHONPATH": str(ROOT),
    }
    if SERVER == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(WORKERS), "--ws", UVICORN_WS]
        cmd += ["--log-level", "warning", "--no-access-log"]
        cmd += ["--ws-per-message-deflate", "true" if DEFLATE else "false"]
    else:
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
        cmd += ["config.asgi:application"]
    out = None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"{SERVER} exited with {server.returncode}") from None
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"{SERVER} did not listen on {port}")


class Clients:
    """One client process's share of the sockets; received[key] = receipt times (one per socket)."""

    def __init__(self, first: int, count: int, bot_index: dict[int, int], progress) -> None:
        self.first, self.count = first, count
        self.bot_index, self.progress = bot_index, progress
        self.received: dict[tuple, list[float]] = {}
        self.sockets: list = []
        self.errors: list[str] = []

    async def open(self, port: int, session: str, key: str) -> None:
        uri = f"ws://127.0.0.1:{port}/ws/live/"
        if CLIENT_LIBRARY == "aiohttp":
            import aiohttp

            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

            async def connect(origin=None, headers=()):
                return await self.http.ws_connect(uri, origin=origin, headers=dict(headers), compress=15)
        else:
            from websockets.asyncio.client import connect as websockets_connect

            async def connect(origin=None, headers=()):
                return await websockets_connect(
                    uri, origin=origin, additional_headers=headers, ping_interval=None, open_timeout=60, max_queue=None
                )

        async def one(i: int):
            if i % 2:
                kw = {"headers": [("Authorization", f"Api-Key {key}")]}
            else:
                kw = {"origin": "http://127.0.0.1", "headers": [("Cookie", f"sessionid={session}")]}
            for attempt in range(5):
                try:
                    return await connect(**kw)
                except Exception as exc:
                    if attempt == 4:
                        self.errors.append(repr(exc))
                        return None
                    await asyncio.sleep(0.2 * (attempt + 1))
            return None

        batch = 25
        end = self.first + self.count
        for start in range(self.first, end, batch):
            self.sockets += await asyncio.gather(*(one(i) for i in range(start, min(start + batch, end))))
        self.sockets = [s for s in self.sockets if s is not None]
        self.readers = [asyncio.ensure_future(self.read(ws)) for ws in self.sockets]

    async def read(self, ws) -> None:
        received, progress, bot_index = self.received, self.progress, self.bot_index
        try:
            async for message in ws:
                now = time.time()
                frame = json.loads(message if isinstance(message, str) else message.data)
                kind = frame["kind"]
                received.setdefault((kind, frame[kind]["id"]), []).append(now)
                if kind == "bot":  # the last frame of a change; only this process writes `progress`
                    progress[bot_index[frame["bot"]["id"]]] += 1
        except Exception as exc:  # a closed socket shows up as a missing receipt
            self.errors.append(repr(exc))

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        if CLIENT_LIBRARY == "aiohttp":
            await self.http.close()


def client_process(first, count, port, session, key, bot_index, progress, connected, stop, results) -> None:
    """Open `count` sockets, count them in `connected`, read until `stop`, report the receipts."""
    raise_fd_limit()

    async def main() -> None:
        clients = Clients(first, count, bot_index, progress)
        await clients.open(port, session, key)
        with connected.get_lock():
            connected.value += len(clients.sockets)
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await clients.close()
        results.put((len(clients.sockets), clients.received, clients.errors))

    uvloop.run(main())


def commit_change(bot: Bot, target: str, commits: dict) -> None:
    """One status change. The first commit hook stamps the commit time."""
    stamp: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: stamp.append(time.time()))
        bot_transition(bot=bot, target=target, reason="bench")
        event_id = bot.events.order_by("-id").values_list("pk", flat=True).first()
    commits[("event", event_id)] = stamp[0]
    commits[("bot", bot.pk)] = stamp[0]


def run(port: int, bots: list[Bot], session: str, key: str) -> dict:
    ctx = multiprocessing.get_context("fork")
    bot_index = {bot.pk: i for i, bot in enumerate(bots)}
    # One counter array per client process, written by that process alone: no lock between them.
    progresses = [ctx.Array("i", len(bots), lock=False) for _ in range(CLIENT_PROCESSES)]
    connected = ctx.Value("i", 0)
    stop, results = ctx.Event(), ctx.Queue()
    connections.close_all()  # the children never use the parent's database connection
    share = [
        CLIENTS // CLIENT_PROCESSES + (1 if i < CLIENTS % CLIENT_PROCESSES else 0) for i in range(CLIENT_PROCESSES)
    ]
    children = []
    started = time.perf_counter()
    for i, count in enumerate(share):
        args = (sum(share[:i]), count, port, session, key, bot_index, progresses[i], connected, stop, results)
        children.append(ctx.Process(target=client_process, args=args, daemon=True))
        children[-1].start()
    deadline = time.monotonic() + 300
    while connected.value < CLIENTS and time.monotonic() < deadline and any(c.is_alive() for c in children):
        time.sleep(0.05)
    time.sleep(1)  # stragglers that gave up are not counted; let the last handshakes settle
    connect_s = time.perf_counter() - started - 1
    total = connected.value
    commits: dict[tuple, float] = {}
    for i, bot in enumerate(bots):
        commit_change(bot, BotStatus.DEGRADED, commits)
        deadline = time.monotonic() + TIMEOUT
        while sum(progress[i] for progress in progresses) < total and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(GAP)
    time.sleep(0.5)
    stop.set()
    received: dict[tuple, list[float]] = {}
    errors: list[str] = []
    for _ in children:
        _, got, errs = results.get(timeout=120)
        errors += errs
        for k, times in got.items():
            received.setdefault(k, []).extend(times)
    for child in children:
        child.join(timeout=30)

    last, median, first = [], [], []
    dropped = 0
    missing = 0
    for k, committed in commits.items():
        times = sorted(received.get(k, ()))
        if len(times) < total:
            dropped += 1
            missing += total - len(times)
        if times:
            last.append((times[-1] - committed) * 1000)
            median.append((times[len(times) // 2] - committed) * 1000)
            first.append((times[0] - committed) * 1000)
    last.sort()
    return {
        "clients": total,
        "messages": len(commits),
        "p50_ms": round(statistics.median(last), 1) if last else None,
        "p99_ms": round(last[min(len(last) - 1, int(len(last) * 0.99))], 1) if last else None,
        "max_ms": round(last[-1], 1) if last else None,
        "median_client_p50_ms": round(statistics.median(median), 1) if median else None,
        "first_client_p50_ms": round(statistics.median(first), 1) if first else None,
        "dropped": dropped,
        "missing_deliveries": missing,
        "connect_s": round(connect_s, 1),
        "client_errors": len(errors),
        **({"client_error_samples": sorted(set(errors))[:5]} if errors else {}),
    }


def main() -> None:
    raise_fd_limit()
    bots, session, key = prepare()
    port = free_port()
    server = start_server(port)
    try:
        figures = run(port, bots, session, key)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        live.wait_sent(5)
        cleanup()
    figures |= {
        "server": SERVER,
        "server_processes": WORKERS if SERVER == "uvicorn" else 1,
        "ws_per_message_deflate": DEFLATE if SERVER == "uvicorn" else False,
        "client_processes": CLIENT_PROCESSES,
        "client_library": CLIENT_LIBRARY,
        "target_p99_ms": 100,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
