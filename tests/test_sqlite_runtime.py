"""`make run` runs on SQLite: the tick's hand-written SQL must work there too. A child process
with the development settings migrates a fresh SQLite file, starts a paper bot, dispatches it
runs its tick twice, then a failing one."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import datetime as dt, sys
    from decimal import Decimal
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.utils import timezone
    from bots.dispatch import claim_due
    from bots.models import Bot, Order
    from bots.runtime import bot_tick
    from bots.services import bot_start
    from exchanges.market_data import candles_upsert, read_candle_file
    from exchanges.models import ExchangeAccount
    from exchanges.paper import paper_balance_set
    from organizations.models import Organization

    from pathlib import Path
    symbol, tf, candles = read_candle_file(Path(sys.argv[1]))
    candles_upsert(exchange="binance", symbol=symbol, timeframe=tf, candles=candles)
    org = Organization.objects.create(name="Lite", slug="lite")
    account = ExchangeAccount.objects.create(organization=org, exchange="paper", label="p", status="active")
    paper_balance_set(account=account, asset="USDT", free=Decimal("10000"))
    bot = Bot.objects.create(organization=org, name="mm", strategy="pure_market_making", exchange_account=account,
                             symbol=symbol, params={"order_amount": "0.001"})
    bot_start(bot=Bot.objects.select_related("exchange_account").get(pk=bot.pk))
    ids, claim = claim_due()
    assert ids == [bot.pk], ids
    first = bot_tick(bot_id=bot.pk, claim=claim)
    assert first.outcome == "ticked" and first.placed >= 1, first
    assert claim_due()[0] == []  # not due again yet
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now() - dt.timedelta(seconds=1))
    ids, claim = claim_due()
    second = bot_tick(bot_id=bot.pk, claim=claim)
    assert second.outcome == "ticked", second
    bot.refresh_from_db()
    assert bot.tick_count == 2 and bot.claimed_until is None, (bot.tick_count, bot.claimed_until)
    # A failing tick is recorded through the ORM against the lock the raw SQL wrote.
    Bot.objects.filter(pk=bot.pk).update(params={"order_amount": "-1"}, next_tick_at=timezone.now())
    ids, claim = claim_due()
    failed = bot_tick(bot_id=bot.pk, claim=claim)
    assert failed.outcome == "failed", failed
    bot.refresh_from_db()
    assert bot.consecutive_errors == 1 and bot.tick_lock_until is None, (bot.consecutive_errors, bot.tick_lock_until)
    print("ok", Order.objects.filter(bot=bot).count())
    """
)


@pytest.mark.slow
def test_the_runtime_ticks_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lite.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "data/market/BTC_USDT-5m.json.gz")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith("ok")
