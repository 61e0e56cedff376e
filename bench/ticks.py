"""Bot runtime throughput: 1,000 paper bots ticked by real Celery workers on PostgreSQL and Redis.

The bots run the built-in strategies (MACD trend, RSI/Bollinger/ATR, momentum, grid, pure market
making) over the bundled real Binance 5m candles of 8 pairs, on 10 paper accounts. This process
plays beat: each round it makes every bot due, runs the dispatcher once and waits until all 1,000
ticks have completed. A Celery worker with a prefork pool does the ticks.

- ticks_per_s: completed ticks per second of one worker process (a pool of one), over the measured
  rounds (the first round, which loads candles into each process, is a warm-up); then the same
  with WORKER_PROCESSES pool processes (`ticks_per_s_2proc_each` and `_total`), which on a
  2-core machine share the cores with PostgreSQL, Redis and this process.
- tick_p50_ms / tick_p99_ms: tick duration as the tick measured it (bots.last_tick_ms), per tick.
- dispatch_10k_ms: one dispatcher run over 10,000 due bots (claim + enqueue on Redis), workers
  stopped so the queue is only written.
- worker_rss_mb: resident memory of the largest worker process after the rounds.
- perp_*: the same bots and strategies on the linear perpetuals of the same pairs (BTC/USDT:USDT,
  3x isolated, on the paper exchange's perps: margin, marks, funding), one pool process, measured
  right after the spot run; perp_vs_spot is perp_ticks_per_s / ticks_per_s.
- peer_*: django-celery-beat's DatabaseScheduler with one PeriodicTask per bot: how many of the
  10,000 due tasks its beat loop sends within BENCH_PEER_CAP seconds (60), and the time for all
  of them when it finishes within the cap.
Prints one JSON line.
"""

import datetime as dt
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from _django import BENCH_DB, ROOT, setup

BROKER = "redis://127.0.0.1:6379/3"
os.environ["CELERY_BROKER_URL"] = BROKER
setup()

from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from bots.dispatch import dispatch_due  # noqa: E402
from bots.models import Bot, BotEvent, Fill, Order, Position  # noqa: E402
from bots.state import BotStatus  # noqa: E402
from config.celery import app  # noqa: E402
from exchanges.market_data import candles_upsert, read_candle_file  # noqa: E402
from exchanges.models import Candle, ExchangeAccount, PaperBalance, PaperOrder, PaperTrade  # noqa: E402
from organizations.models import Organization  # noqa: E402
from strategies.registry import params_to_json, validate_params  # noqa: E402

BOTS = int(os.environ.get("BENCH_BOTS", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
WORKER_PROCESSES = int(os.environ.get("BENCH_WORKER_PROCESSES", "2"))
DISPATCH_BOTS = 10_000
ACCOUNTS = 10
MIX = [
    ("macd_trend", {}),
    ("rsi_bb_atr", {}),
    ("momentum_reentry", {}),
    ("grid", {"levels": 6, "order_amount": "0.0001"}),
    ("pure_market_making", {"order_amount": "0.0001", "order_refresh_time": 60}),
]


def load_market() -> list[str]:
    symbols = []
    for path in sorted((ROOT / "data" / "market").glob("*-5m.json.gz")):
        symbol, timeframe, candles = read_candle_file(path)
        symbols.append(symbol)
        if Candle.objects.filter(exchange="binance", symbol=symbol, timeframe=timeframe).count() < len(candles):
            candles_upsert(exchange="binance", symbol=symbol, timeframe=timeframe, candles=candles)
    return symbols


def reset() -> Organization:
    org, _ = Organization.objects.get_or_create(slug="bench-ticks", defaults={"name": "Bench ticks"})
    accounts = ExchangeAccount.objects.filter(organization=org)
    bots = Bot.objects.filter(organization=org)
    Position.objects.filter(bot__in=bots).delete()
    Fill.objects.filter(exchange_account__in=accounts).delete()
    BotEvent.objects.filter(organization=org).delete()
    Order.objects.filter(exchange_account__in=accounts).delete()
    PaperTrade.objects.filter(order__account__in=accounts).delete()
    PaperOrder.objects.filter(account__in=accounts).delete()
    bots.delete()
    return org


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def create_bots(org: Organization, symbols: list[str], count: int, *, offset: int = 0, perp: bool = False) -> None:
    accounts = list(ExchangeAccount.objects.filter(organization=org).order_by("pk"))
    while len(accounts) < ACCOUNTS:
        accounts.append(
            ExchangeAccount.objects.create(organization=org, exchange="paper", label=f"paper-{len(accounts)}")
        )
    PaperBalance.objects.filter(account__in=accounts).delete()
    PaperBalance.objects.bulk_create(
        [
            PaperBalance(account=a, asset=asset, free=Decimal("1e9"))
            for a in accounts
            for asset in {"USDT", *(s.split("/")[0] for s in symbols)}
        ]
    )
    now = timezone.now()
    rows = []
    for i in range(offset, offset + count):
        strategy, params = MIX[i % len(MIX)]
        symbol = symbols[(i // len(MIX)) % len(symbols)]
        market = {"symbol": symbol}
        if perp:
            market = {"symbol": f"{symbol}:{symbol.split('/')[1]}", "market_type": "perp", "leverage": Decimal(3)}
        rows.append(
            Bot(
                organization=org,
                name=f"bench-{i}",
                strategy=strategy,
                params=params_to_json(validate_params(strategy, params)),
                exchange_account=accounts[i % ACCOUNTS],
                **market,
                status=BotStatus.RUNNING,
                desired_status=BotStatus.RUNNING,
                status_changed_at=now,
                tick_interval=1,
                next_tick_at=now,
            )
        )
    Bot.objects.bulk_create(rows, batch_size=2000)


def start_worker(processes: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "CELERY_BROKER_URL": BROKER,
        "DATABASE_CONN_MAX_AGE": "60",  # persistent connections, as in the base settings
        "LOG_LEVEL": "WARNING",
    }
    cmd = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "config",
        "worker",
        "--pool=prefork",
        f"--concurrency={processes}",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def purge() -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")


def run_round(org: Organization) -> tuple[float, int, list[float]]:
    bots = Bot.objects.filter(organization=org, status__in=[BotStatus.RUNNING, BotStatus.DEGRADED])
    before = bots.aggregate(n=Sum("tick_count"))["n"] or 0
    expected = bots.count()
    bots.update(next_tick_at=timezone.now(), claimed_until=None, last_tick_ms=None)
    started = time.perf_counter()
    report = dispatch_due()
    while (bots.aggregate(n=Sum("tick_count"))["n"] or 0) - before < expected:
        if time.perf_counter() - started > 300:
            raise SystemExit(f"round did not finish: {report.as_dict()}")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = (bots.aggregate(n=Sum("tick_count"))["n"] or 0) - before
    samples = [ms for ms in bots.values_list("last_tick_ms", flat=True) if ms is not None]
    if os.environ.get("BENCH_DEBUG"):
        by: dict[str, list[float]] = {}
        for strategy, ms in bots.values_list("strategy", "last_tick_ms"):
            by.setdefault(strategy, []).append(ms or 0)
        print({k: round(statistics.mean(v), 2) for k, v in by.items()}, round(elapsed, 2), file=sys.stderr)
    return elapsed, done, samples


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(org: Organization, processes: int, *, perp: bool = False) -> dict:
    """Fresh bots, one worker with `processes` pool processes, a warm-up round, then ROUNDS."""
    reset()
    vacuum()  # each measurement starts without the dead rows of the one before
    create_bots(org, load_market(), BOTS, perp=perp)
    purge()
    worker = start_worker(processes)
    try:
        time.sleep(3)
        run_round(org)  # warm-up: every process loads its candle series once
        elapsed, ticks, samples = 0.0, 0, []
        for _ in range(ROUNDS):
            e, n, s = run_round(org)
            elapsed, ticks, samples = elapsed + e, ticks + n, samples + s
        pool = children(worker.pid)
        rss = max((rss_mb(p) for p in pool), default=rss_mb(worker.pid))
        errors = Bot.objects.filter(organization=org).exclude(status=BotStatus.RUNNING).count()
    finally:
        worker.terminate()
        worker.wait(30)
    purge()
    return {
        "ticks": ticks,
        "per_process": round(ticks / elapsed / processes, 1),
        "total": round(ticks / elapsed, 1),
        "p50": round(statistics.median(samples), 2),
        "mean": round(statistics.mean(samples), 2),
        "p99": round(percentile(samples, 99), 2),
        "rss": round(rss, 1),
        "errors": errors,
    }


def peer_beat(count: int = DISPATCH_BOTS, cap_seconds: float = float(os.environ.get("BENCH_PEER_CAP", "60"))) -> dict:
    """The peer: django-celery-beat's DatabaseScheduler with one PeriodicTask per bot, all due.
    Its beat loop sends one due task per tick() and re-checks the whole schedule on each; this
    counts how many of `count` it sends within `cap_seconds` (sending to the same Redis)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
    from django_celery_beat.schedulers import DatabaseScheduler

    PeriodicTask.objects.filter(name__startswith="bench-peer-").delete()
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    due = timezone.now() - dt.timedelta(minutes=5)
    PeriodicTask.objects.bulk_create(
        [
            PeriodicTask(
                name=f"bench-peer-{i}",
                task="bots.tasks.tick_bots",
                interval=every,
                args=f"[[{i}], null]",
                last_run_at=due,
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    PeriodicTasks.update_changed()
    logging.getLogger("celery.beat").setLevel(logging.WARNING)  # its best case: no line per send
    sent = 0
    started = time.perf_counter()
    scheduler = DatabaseScheduler(app=app)
    original = scheduler.apply_entry

    def counted(entry, producer=None):
        nonlocal sent
        if entry.name.startswith("bench-peer-"):
            sent += 1
        return original(entry, producer=producer)

    scheduler.apply_entry = counted
    while sent < count and time.perf_counter() - started < cap_seconds:
        scheduler.tick()
    elapsed = time.perf_counter() - started
    PeriodicTask.objects.filter(name__startswith="bench-peer-").delete()
    purge()
    return {
        "peer_beat_sent": sent,
        "peer_beat_seconds": round(elapsed, 1),
        "peer_dispatch_10k_ms": round(elapsed * 1000, 1) if sent >= count else None,
    }


def main() -> None:
    symbols = load_market()
    org = reset()
    # One pool process measures what a worker process can do while the database has the other
    # core; two show this 2-core machine saturated (workers, PostgreSQL, Redis and this process).
    one = measure(org, 1)
    perp = measure(org, 1, perp=True)
    two = measure(org, WORKER_PROCESSES) if WORKER_PROCESSES > 1 else None

    # Dispatch of 10,000 due bots, nobody consuming.
    create_bots(org, symbols, DISPATCH_BOTS - BOTS, offset=BOTS)
    Bot.objects.filter(organization=org).update(
        next_tick_at=timezone.now() - dt.timedelta(seconds=1), claimed_until=None
    )
    started = time.perf_counter()
    report = dispatch_due()
    dispatch_ms = (time.perf_counter() - started) * 1000
    purge()
    reset()
    line = {
        "bench": "ticks",
        "bots": BOTS,
        "rounds": ROUNDS,
        "ticks": one["ticks"],
        "ticks_per_s": one["per_process"],
        "tick_p50_ms": one["p50"],
        "tick_mean_ms": one["mean"],
        "tick_p99_ms": one["p99"],
        "dispatch_10k_ms": round(dispatch_ms, 1),
        "dispatch_claimed": report.claimed,
        "dispatch_messages": report.messages,
        "worker_rss_mb": one["rss"],
        "bots_not_running": one["errors"] + perp["errors"],
        "perp_ticks_per_s": perp["per_process"],
        "perp_tick_p50_ms": perp["p50"],
        "perp_tick_p99_ms": perp["p99"],
        "perp_vs_spot": round(perp["per_process"] / one["per_process"], 3),
    }
    if two is not None:
        line |= {
            f"ticks_per_s_{WORKER_PROCESSES}proc_each": two["per_process"],
            f"ticks_per_s_{WORKER_PROCESSES}proc_total": two["total"],
            f"tick_p50_ms_{WORKER_PROCESSES}proc": two["p50"],
            f"tick_p99_ms_{WORKER_PROCESSES}proc": two["p99"],
            f"worker_rss_mb_{WORKER_PROCESSES}proc": two["rss"],
            "bots_not_running": one["errors"] + perp["errors"] + two["errors"],
        }
    line |= peer_beat()
    print(json.dumps(line))


if __name__ == "__main__" and not os.environ.get("NO_MAIN"):
    main()
