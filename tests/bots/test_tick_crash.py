"""A real Celery worker SIGKILLed in the middle of a tick, at three placement steps: after the
orders are saved, after the exchange has taken them (before we record its answer), and inside the
transaction that records the answer. Another worker then picks the tick up (re-dispatched when
its claim runs out): the tick is not lost and no order is duplicated, on our side or the
exchange's (paper orders are counted)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from bots import runtime
from bots.dispatch import dispatch_due
from bots.models import Bot, Order, OrderStatus
from bots.orders import client_order_id_for
from exchanges.gateway import paper_source
from exchanges.market_data import candles_upsert
from exchanges.models import PaperOrder
from tests.bots import scripted
from tests.bots.test_runtime import make_bot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
STEPS = ["after_save", "after_send", "before_commit"]


@pytest.fixture
def live_market(btc_candles, settings):
    candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="5m", candles=btc_candles)
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()
    settings.TICK_CLAIM_SECONDS = 3
    settings.TICK_LOCK_SECONDS = 2
    scripted.install()
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    yield
    scripted.uninstall()
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()


def start_worker(tmp_path: Path, **env) -> subprocess.Popen:
    name = connection.settings_dict["NAME"]
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "TICK_LOCK_SECONDS": "2",
        "TICK_KILL_MARKER": str(tmp_path / "killed"),
        **env,
    }
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests/bots/tick_worker.py")], env=environ, stdout=log, stderr=log, cwd=ROOT
    )


def dispatch_until(done, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if done():
            return True
        dispatch_due()
        time.sleep(0.3)
    return done()


@pytest.mark.parametrize("step", STEPS)
def test_worker_killed_mid_tick_loses_no_tick_and_duplicates_no_order(org_a, live_market, tmp_path, step):
    bot = make_bot(org_a, "two_buys")
    victim = start_worker(tmp_path, TICK_KILL_STEP=step, TICK_KILL_BOT=str(bot.pk))
    try:
        assert dispatch_until(lambda: victim.poll() is not None, 60), "the worker was never killed"
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    assert (tmp_path / "killed").exists()
    assert Bot.objects.get(pk=bot.pk).tick_count == 0  # the tick did not complete

    rescuer = start_worker(tmp_path)
    try:
        assert dispatch_until(lambda: Bot.objects.get(pk=bot.pk).tick_count >= 1, 60), "the tick was lost"
    finally:
        rescuer.terminate()
        rescuer.wait(20)

    keys = [
        client_order_id_for(account_id=bot.exchange_account_id, bot_id=bot.pk, intent_key=k) for k in ("t1:a", "t1:b")
    ]
    tick_one = Order.objects.filter(client_order_id__in=keys)
    assert tick_one.count() == 2
    assert set(tick_one.values_list("status", flat=True)) == {OrderStatus.FILLED}
    # Every order we hold exists once on the exchange, and the exchange holds nothing we lack.
    ours = set(Order.objects.filter(bot=bot).values_list("client_order_id", flat=True))
    theirs = list(PaperOrder.objects.filter(account=bot.exchange_account).values_list("client_order_id", flat=True))
    assert len(theirs) == len(set(theirs)) == len(ours)
    assert set(theirs) == ours
    assert Bot.objects.get(pk=bot.pk).status == "running"
