"""REST API throughput: the bots list and an orders page over 500,000 orders, against the cheapest
authenticated DRF endpoint on the same server.

One organization gets 20 bots and 500,000 orders (COPY through core.db.insert_rows). A real server
(uvicorn with BENCH_API_WORKERS processes serving config.wsgi:application, persistent database
connections, throttles on with Redis as the cache) runs on a free port. WSGI, because Django keeps a
database connection per thread there; under ASGI every request runs in a fresh context and opens a
connection of its own (CONN_MAX_AGE must then be 0), which would measure PostgreSQL's connection
set-up rather than the endpoints. Then 50 concurrent
keep-alive clients (asyncio + aiohttp, one process) call each endpoint for BENCH_API_SECONDS in all
after a short warm-up, authenticated with an API key. The endpoints take turns in BENCH_API_ROUNDS
rounds (rotating which goes first), so that load from elsewhere on a shared machine weighs on all
three alike rather than on the one it happened to coincide with:

- trivial: GET /api/v1/ping/ (authentication, throttles, rendering; no query of its own)
- bots_list: GET /api/v1/bots/ (one page of the organization's bots)
- orders_page: GET /api/v1/orders/?cursor=... (the second page of the newest orders, by cursor)

Figures: requests/s of each, `ratio` = the smaller of bots/trivial and orders/trivial (target
>= 0.5) over all rounds, p99 latency of each and `p99_ms`, the worst p99 of the two list endpoints;
`round_ratios` is the same ratio within each round, to show the spread. The seeded rows
are deleted afterwards (BENCH_API_KEEP=1 keeps them, and the database, for the next run). Prints
one JSON line.
"""

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from decimal import Decimal

from _django import BENCH_DB, ROOT, setup

REDIS = "redis://127.0.0.1:6379/4"
os.environ.setdefault("REDIS_URL", REDIS)
KEEP = os.environ.get("BENCH_API_KEEP") == "1"
setup(fresh=not KEEP)

import aiohttp  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from alerts.models import AlertRule  # noqa: E402
from bots.models import Bot, BotEvent, Order, OrderStatus  # noqa: E402
from core.db import insert_rows  # noqa: E402
from exchanges.models import ExchangeAccount  # noqa: E402
from organizations.models import ApiKey, Organization  # noqa: E402
from organizations.services import api_key_create  # noqa: E402

ORDERS = int(os.environ.get("BENCH_API_ORDERS", "500000"))
BOTS = 20
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "50"))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "8"))
WARMUP_SECONDS = 2.0
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "4"))
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "3"))
SLUG = "bench-api"
CHUNK = 50_000
STATUSES = [OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.REJECTED]


def seed() -> Organization:
    """The organization with its bots and orders; reused when a kept run left them complete."""
    org = Organization.objects.filter(slug=SLUG).first()
    if org is not None and Order.objects.filter(organization=org).count() == ORDERS:
        return org
    if org is not None:
        cleanup(org)
    org = Organization.objects.create(name="Bench API", slug=SLUG)
    account = ExchangeAccount.objects.create(organization=org, exchange="paper", label="Paper", status="active")
    bots = [
        Bot(
            organization=org,
            name=f"Bench bot {i}",
            strategy="grid",
            params={},
            exchange_account=account,
            symbol="BTC/USDT",
        )
        for i in range(BOTS)
    ]
    insert_rows(Bot, bots)
    now = timezone.now()
    made = 0
    while made < ORDERS:
        rows = []
        for i in range(made, min(made + CHUNK, ORDERS)):
            status = STATUSES[i % len(STATUSES)]
            amount = Decimal("0.001") * (1 + i % 50)
            rows.append(
                Order(
                    organization=org,
                    bot=bots[i % BOTS],
                    exchange_account=account,
                    client_order_id=f"bench-api-{i:09d}",
                    exchange_order_id=str(10_000_000 + i),
                    tag="bench",
                    symbol="BTC/USDT",
                    side="buy" if i % 2 else "sell",
                    type="limit",
                    price=Decimal("30000") + Decimal(i % 1000) / 10,
                    amount=amount,
                    filled=amount if status == OrderStatus.FILLED else Decimal("0"),
                    average=Decimal("30000.5") if status == OrderStatus.FILLED else None,
                    fee=Decimal("0.03"),
                    fee_currency="USDT",
                    status=status,
                    reason="",
                    raw={},
                    created_at=now,
                    updated_at=now,
                    submitted_at=now,
                )
            )
        insert_rows(Order, rows)
        made += len(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bots_order")
    return org


def cleanup(org: Organization) -> None:
    # One statement: the ORM's delete would first load the 500,000 ids to look for dependents.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Order._meta.db_table} WHERE organization_id = %s", [org.pk])
    BotEvent.objects.filter(organization=org).delete()
    Bot.objects.filter(organization=org).delete()
    ApiKey.objects.filter(organization=org).delete()
    ExchangeAccount.objects.filter(organization=org).delete()
    AlertRule.objects.filter(organization=org).delete()  # with its alerts and deliveries
    org.delete()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": REDIS,
        "API_THROTTLE_KEY": "100000000/min",
        "API_THROTTLE_USER": "100000000/min",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.wsgi:application",
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


async def wait_ready(base: str, headers: dict) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession(headers=headers) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/api/v1/ping/") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the API server did not come up")


async def load(url: str, headers: dict, seconds: float) -> tuple[int, list[float], int]:
    """CLIENTS clients, each calling `url` back to back for `seconds`; (requests, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        stop_at = time.monotonic() + seconds

        async def client() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return len(latencies), latencies, errors


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) >= 100 else max(latencies) * 1000


async def measure(base: str, key: str) -> dict:
    headers = {"Authorization": f"Api-Key {key}"}
    await wait_ready(base, headers)
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}/api/v1/orders/") as response:
            first = await response.json()
    targets = {
        "trivial": f"{base}/api/v1/ping/",
        "bots_list": f"{base}/api/v1/bots/",
        "orders_page": first["next"],
    }
    for url in targets.values():
        await load(url, headers, WARMUP_SECONDS)
    # The endpoints take turns, ROUNDS times, each round in a rotated order, so a slow spell of
    # the shared machine falls on all three alike instead of on whichever ran during it.
    counts = {name: 0 for name in targets}
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    round_ratios = []
    for r in range(ROUNDS):
        this_round = {}
        for name in names[r % len(names) :] + names[: r % len(names)]:
            count, lat, errors = await load(targets[name], headers, SECONDS / ROUNDS)
            if errors:
                raise RuntimeError(f"{name}: {errors} non-200 answers")
            counts[name] += count
            latencies[name] += lat
            this_round[name] = count
        round_ratios.append(min(this_round["bots_list"], this_round["orders_page"]) / this_round["trivial"])
    results = {name: {"rps": counts[name] / SECONDS, "p99_ms": p99(latencies[name])} for name in targets}
    results["rounds"] = round_ratios
    return results


def main() -> None:
    started = time.perf_counter()
    org = seed()
    seed_s = time.perf_counter() - started
    ApiKey.objects.filter(organization=org).delete()
    _, full_key = api_key_create(organization=org, name="bench", scopes=("read",))
    port = free_port()
    server = start_server(port)
    try:
        results = asyncio.run(measure(f"http://127.0.0.1:{port}", full_key))
    finally:
        stop_server(server)
        if not KEEP:
            cleanup(org)
    trivial = results["trivial"]["rps"]
    figures = {
        "orders": ORDERS,
        "clients": CLIENTS,
        "workers": WORKERS,
        "bots_list_rps": round(results["bots_list"]["rps"], 1),
        "orders_page_rps": round(results["orders_page"]["rps"], 1),
        "trivial_rps": round(trivial, 1),
        "ratio": round(min(results["bots_list"]["rps"], results["orders_page"]["rps"]) / trivial, 3),
        "p99_ms": round(max(results["bots_list"]["p99_ms"], results["orders_page"]["p99_ms"]), 1),
        "bots_list_p99_ms": round(results["bots_list"]["p99_ms"], 1),
        "orders_page_p99_ms": round(results["orders_page"]["p99_ms"], 1),
        "trivial_p99_ms": round(results["trivial"]["p99_ms"], 1),
        "round_ratios": [round(r, 3) for r in results["rounds"]],
        "seed_s": round(seed_s, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
