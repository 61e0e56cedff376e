"""The tick: lock, fixed queries, strategy -> risk -> placement -> heartbeat, idempotent re-runs,
per-bot error isolation, kill switch and degraded mode. Real PostgreSQL and the paper exchange
over real BTC/USDT candles."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots import runtime, tick_sql
from bots.dispatch import claim_due, dispatch_due, kill_switches_enforce, watchdog_run
from bots.models import Bot, BotEvent, Order, OrderStatus
from bots.runtime import bot_tick, manual_order_place
from bots.services import bot_start
from bots.state import BotStatus
from bots.tasks import tick_bots
from core.errors import ApplicationError
from exchanges.gateway import paper_source
from exchanges.market_data import FixedClock, candles_upsert
from exchanges.models import CircuitState, ExchangeAccount, PaperOrder
from exchanges.paper import paper_balance_set
from organizations.models import Role
from risk.metrics import risk_rejections
from risk.models import KillSwitch, RiskLimits
from tests.bots import scripted
from tests.factories import BotFactory, ExchangeAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db, btc_candles, monkeypatch):
    """BTC/USDT 5m candles in the store and a paper clock fixed 25 hours into them."""
    candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="5m", candles=btc_candles)
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()
    clock = FixedClock(btc_candles[300].ts + 60_000)
    monkeypatch.setattr("exchanges.gateway.paper_clock", lambda source, symbol="BTC/USDT": clock)
    scripted.install()
    yield clock
    scripted.uninstall()
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()


def make_bot(org, action="none", *, start=True, account=None, **fields):
    if account is None:
        account = ExchangeAccountFactory(organization=org, exchange="paper")
        paper_balance_set(account=account, asset="USDT", free=Decimal("100000"))
        paper_balance_set(account=account, asset="BTC", free=Decimal("1"))
    bot = BotFactory(
        organization=org,
        exchange_account=account,
        strategy=scripted.KEY,
        params={"action": action},
        tick_interval=fields.pop("tick_interval", 5),
        **fields,
    )
    if start:
        bot_start(bot=bot)
    return Bot.objects.select_related("exchange_account").get(pk=bot.pk)


def set_action(bot, action):
    Bot.objects.filter(pk=bot.pk).update(params={"action": action, "amount": "0.001"})


def test_tick_runs_strategy_places_and_schedules(org_a, market):
    bot = make_bot(org_a, "buy")
    before = timezone.now()
    result = bot_tick(bot_id=bot.pk)
    assert (result.outcome, result.placed, result.rejected) == ("ticked", 1, 0)
    order = Order.objects.get(bot=bot)
    assert (order.side, order.tag, order.status) == ("buy", "entry", OrderStatus.FILLED)
    bot.refresh_from_db()
    assert bot.tick_count == 1 and bot.consecutive_errors == 0 and bot.tick_lock_until is None
    assert bot.last_heartbeat_at >= before
    assert dt.timedelta(seconds=4) < bot.next_tick_at - before < dt.timedelta(seconds=6)
    assert bot.state["strategy"] == {"ticks": 1}
    assert Decimal(bot.state["equity_peak"]) > 0
    assert BotEvent.objects.filter(bot=bot, kind="tick.orders").count() == 1
    assert bot.positions.get().quantity == Decimal("0.001")


def test_quiet_tick_uses_a_fixed_number_of_queries(org_a, market):
    bot = make_bot(org_a, "none")
    bot_tick(bot_id=bot.pk)  # the process's first tick loads the candle series into memory once
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    with CaptureQueriesContext(connection) as first:
        assert bot_tick(bot_id=bot.pk).outcome == "ticked"
    # History does not change the count: closed positions, filled orders, limits at every level.
    set_action(bot, "buy_and_exit")
    for _ in range(4):
        Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
        bot_tick(bot_id=bot.pk)
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("100000"))
    RiskLimits.objects.create(organization=org_a, bot=bot, max_open_orders=50)
    assert Order.objects.filter(bot=bot).count() >= 7
    set_action(bot, "none")
    with CaptureQueriesContext(connection) as later:
        assert bot_tick(bot_id=bot.pk).outcome == "ticked"
    # Take the bot, read everything in one statement, write heartbeat and schedule.
    assert len(first) == len(later) == 3, "\n".join(q["sql"][:60] for q in first.captured_queries)


def test_a_concurrent_tick_is_skipped_not_queued(org_a, market):
    bot = make_bot(org_a, "buy")
    Bot.objects.filter(pk=bot.pk).update(tick_lock_until=timezone.now() + dt.timedelta(seconds=30))
    result = bot_tick(bot_id=bot.pk)
    assert result.outcome == "skipped"
    assert not Order.objects.filter(bot=bot).exists()
    assert Bot.objects.get(pk=bot.pk).tick_count == 0


def test_a_stale_claim_is_skipped(org_a, market):
    bot = make_bot(org_a, "buy")
    ids, claim = claim_due()
    assert ids == [bot.pk]
    assert bot_tick(bot_id=bot.pk, claim=claim - dt.timedelta(seconds=60)).outcome == "skipped"
    assert bot_tick(bot_id=bot.pk, claim=claim).outcome == "ticked"
    assert Bot.objects.get(pk=bot.pk).claimed_until is None
    # A second delivery of the same message finds its claim used up.
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    assert bot_tick(bot_id=bot.pk, claim=claim).outcome == "skipped"


def test_a_rerun_of_the_same_tick_adopts_its_orders(org_a, market):
    """A tick killed after placing and before its final write runs again as the same tick number."""
    bot = make_bot(org_a, "two_buys")
    assert bot_tick(bot_id=bot.pk).placed == 2
    # What a crash before the final UPDATE leaves: counter not advanced.
    Bot.objects.filter(pk=bot.pk).update(tick_count=0, next_tick_at=timezone.now())
    assert bot_tick(bot_id=bot.pk).outcome == "ticked"
    assert Order.objects.filter(bot=bot).count() == 2
    assert PaperOrder.objects.filter(account=bot.exchange_account).count() == 2
    # The next tick number makes new orders.
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    bot_tick(bot_id=bot.pk)
    assert Order.objects.filter(bot=bot).count() == 4


def test_errors_are_isolated_and_repeated_failures_put_the_bot_in_error(org_a, market, settings):
    settings.BOT_MAX_CONSECUTIVE_ERRORS = 3
    bad = make_bot(org_a, "raise")
    good = make_bot(org_a, "none")
    for round_ in range(1, 4):
        Bot.objects.filter(pk__in=[bad.pk, good.pk]).update(next_tick_at=timezone.now())
        outcomes = [bot_tick(bot_id=bad.pk).outcome, bot_tick(bot_id=good.pk).outcome]
        assert outcomes == ["failed", "ticked"]
        assert Bot.objects.get(pk=bad.pk).consecutive_errors == round_
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == BotStatus.ERROR
    assert "3 ticks failed in a row" in bad.last_error and "failed on purpose" in bad.last_error
    assert bad.next_tick_at is None
    assert good.status == BotStatus.RUNNING and good.tick_count == 3
    assert BotEvent.objects.filter(bot=bad, kind="tick.failed").count() == 3


def test_tick_task_ticks_a_chunk_with_isolation(org_a, market):
    bad, good = make_bot(org_a, "raise"), make_bot(org_a, "buy")
    ids, claim = claim_due(now=timezone.now() + dt.timedelta(seconds=1))
    assert set(ids) >= {bad.pk, good.pk}
    outcomes = tick_bots.run(ids, claim.isoformat())
    assert outcomes == {"failed": 1, "ticked": 1}
    assert Order.objects.filter(bot=good).count() == 1


def test_failed_tick_backs_off(org_a, market):
    bot = make_bot(org_a, "raise", tick_interval=10)
    bot_tick(bot_id=bot.pk)
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    before = timezone.now()
    bot_tick(bot_id=bot.pk)
    bot.refresh_from_db()
    assert bot.next_tick_at - before >= dt.timedelta(seconds=19)  # 2nd failure: 2 intervals


# -- risk ----------------------------------------------------------------------------------------------
def test_risk_rejection_is_an_event_and_nothing_is_sent(org_a, market):
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("5"))
    bot = make_bot(org_a, "buy")
    counted = risk_rejections.labels(code="max_order_notional")._value.get()
    result = bot_tick(bot_id=bot.pk)
    assert risk_rejections.labels(code="max_order_notional")._value.get() == counted + 1
    assert (result.placed, result.rejected) == (0, 1)
    assert not Order.objects.filter(bot=bot).exists()
    event = BotEvent.objects.get(bot=bot, kind="risk.rejected")
    assert event.data["code"] == "max_order_notional" and "exceeds" in event.message
    # The same rejection at the next ticks is counted, not logged again; a new one is.
    for _ in range(2):
        Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
        assert bot_tick(bot_id=bot.pk).rejected == 1
    assert risk_rejections.labels(code="max_order_notional")._value.get() == counted + 3
    assert BotEvent.objects.filter(bot=bot, kind="risk.rejected").count() == 1
    RiskLimits.objects.filter(organization=org_a).update(max_order_notional=None, max_daily_trades=0)
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    bot_tick(bot_id=bot.pk)
    assert BotEvent.objects.filter(bot=bot, kind="risk.rejected").count() == 2


def test_organization_and_account_limits_bound_their_bots_together(org_a, market):
    first = make_bot(org_a, "buy_limit")
    second = make_bot(org_a, "buy_limit", account=first.exchange_account)
    other_account = make_bot(org_a, "buy")
    RiskLimits.objects.create(organization=org_a, max_open_orders=1)
    RiskLimits.objects.create(organization=org_a, exchange_account=first.exchange_account, max_daily_trades=5)
    assert bot_tick(bot_id=first.pk).placed == 1  # a resting bid: the organization's one working order
    result = bot_tick(bot_id=second.pk)
    assert (result.placed, result.rejected) == (0, 1)
    event = BotEvent.objects.get(bot=second, kind="risk.rejected")
    assert event.data["code"] == "max_open_orders" and "organization's bots together" in event.message
    # A market order on the organization's other account works no order for long, but it is one
    # more open order while it is placed: refused the same way.
    assert bot_tick(bot_id=other_account.pk).rejected == 1
    with CaptureQueriesContext(connection) as queries:
        Bot.objects.filter(pk=second.pk).update(next_tick_at=timezone.now())
        set_action(second, "none")
        bot_tick(bot_id=second.pk)
    assert len(queries) == 2 + 4  # the two statements above, and a tick that also reads the pools


def test_the_strictest_level_applies(org_a, market):
    bot = make_bot(org_a, "two_buys")
    RiskLimits.objects.create(organization=org_a, max_open_orders=10)
    RiskLimits.objects.create(organization=org_a, exchange_account=bot.exchange_account, max_daily_trades=1)
    result = bot_tick(bot_id=bot.pk)
    assert (result.placed, result.rejected) == (1, 1)
    assert BotEvent.objects.get(bot=bot, kind="risk.rejected").data["code"] == "max_daily_trades"


def test_default_stop_loss_closes_the_position(org_a, market):
    bot = make_bot(org_a, "buy")
    bot_tick(bot_id=bot.pk)
    position = bot.positions.get()
    # Pretend the entry was far above today's price: the default stop is crossed.
    type(position).objects.filter(pk=position.pk).update(average_entry_price=position.average_entry_price * 2)
    RiskLimits.objects.create(organization=org_a, default_stop_loss_pct=Decimal("5"))
    set_action(bot, "none")
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 1
    exit_order = Order.objects.get(bot=bot, tag="protect")
    assert (exit_order.side, exit_order.amount) == ("sell", Decimal("0.001"))


def test_manual_order_goes_through_the_risk_check(org_a, market, member):
    trader, viewer = member(Role.TRADER), member(Role.VIEWER)
    bot = make_bot(org_a, "none")
    RiskLimits.objects.create(organization=org_a, bot=bot, max_order_notional=Decimal("100"))
    with pytest.raises(ApplicationError) as refused:
        manual_order_place(bot=bot, user=trader, side="buy", type="market", amount=Decimal("0.01"))
    assert refused.value.code == "max_order_notional"
    assert BotEvent.objects.filter(bot=bot, kind="risk.rejected", data__manual=True).exists()
    order = manual_order_place(bot=bot, user=trader, side="buy", type="market", amount=Decimal("0.001"))
    assert order.status == OrderStatus.FILLED and order.tag == "manual"
    with pytest.raises(ApplicationError):
        manual_order_place(bot=bot, user=viewer, side="buy", type="market", amount=Decimal("0.001"))
    with pytest.raises(ApplicationError) as bad:
        manual_order_place(bot=bot, user=trader, side="hold", type="market", amount=Decimal("1"))
    assert bad.value.code == "invalid"


# -- kill switch and degraded mode ---------------------------------------------------------------------
def test_kill_switch_stops_the_bot_at_its_next_tick_and_blocks_placement(org_a, market):
    bot = make_bot(org_a, "buy")
    KillSwitch.objects.create(organization=org_a, engaged=True, reason="test")
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 0
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert not Order.objects.filter(bot=bot).exists()
    with pytest.raises(ApplicationError) as refused:
        manual_order_place(bot=bot, side="buy", type="market", amount=Decimal("0.001"))
    assert refused.value.code in {"kill_switch"}


def test_dispatch_sweeps_kill_switches_within_one_cycle(org_a, org_b, market):
    halted = make_bot(org_a, "buy_limit")
    bot_tick(bot_id=halted.pk)  # a resting bid
    assert Order.objects.get(bot=halted).status == OrderStatus.OPEN
    other = make_bot(org_b, "none")
    Bot.objects.filter(pk__in=[halted.pk, other.pk]).update(next_tick_at=timezone.now())
    # Engaged by another process (no service call): the next dispatch stops the bot.
    KillSwitch.objects.create(organization=org_a, engaged=True, reason="ops")
    ids, _ = claim_due()
    assert halted.pk not in ids and other.pk in ids
    Bot.objects.filter(pk=other.pk).update(next_tick_at=timezone.now())
    assert kill_switches_enforce() == 1
    assert Bot.objects.get(pk=halted.pk).status == BotStatus.STOPPED
    assert Order.objects.get(bot=halted).status == OrderStatus.CANCELED
    assert Bot.objects.get(pk=other.pk).status == BotStatus.RUNNING
    # The global switch halts every organization's dispatch.
    KillSwitch.objects.create(organization=None, engaged=True, reason="all")
    assert claim_due()[0] == []


def test_degraded_mode_blocks_entries_keeps_exits_and_recovers(org_a, market, settings):
    bot = make_bot(org_a, "buy")
    bot_tick(bot_id=bot.pk)  # holds 0.001 BTC
    account = bot.exchange_account
    ExchangeAccount.objects.filter(pk=account.pk).update(
        circuit_state=CircuitState.OPEN, circuit_changed_at=timezone.now()
    )
    set_action(bot, "buy_and_exit")
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    result = bot_tick(bot_id=bot.pk)
    bot.refresh_from_db()
    assert bot.status == BotStatus.DEGRADED
    assert BotEvent.objects.get(bot=bot, kind="risk.rejected").data["code"] == "degraded"
    # The exit was approved, and held while the breaker refuses calls: no refused order per tick,
    # one event, and the strategy asks again at the next tick.
    assert (result.rejected, result.placed) == (1, 0) and "held" in result.note
    assert not Order.objects.filter(bot=bot, tag="exit").exists()
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    assert "held" in bot_tick(bot_id=bot.pk).note
    assert BotEvent.objects.filter(bot=bot, kind="tick.orders_held").count() == 1
    # Cooldown over: the probe (the exit) goes through, the breaker closes, the bot recovers.
    ExchangeAccount.objects.filter(pk=account.pk).update(
        circuit_changed_at=timezone.now() - dt.timedelta(seconds=settings.EXCHANGE_CIRCUIT_COOLDOWN_SECONDS + 1)
    )
    set_action(bot, "exit")
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    assert bot_tick(bot_id=bot.pk).placed == 1
    assert Order.objects.get(bot=bot, tag="exit").status == OrderStatus.FILLED
    assert ExchangeAccount.objects.get(pk=account.pk).circuit_state == CircuitState.CLOSED
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    bot_tick(bot_id=bot.pk)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    assert BotEvent.objects.filter(bot=bot, kind="bot.running").count() == 2  # start, recovery


# -- dispatch ------------------------------------------------------------------------------------------
def test_dispatch_claims_only_due_native_running_bots(org_a, market):
    due = make_bot(org_a)
    later = make_bot(org_a)
    Bot.objects.filter(pk=later.pk).update(next_tick_at=timezone.now() + dt.timedelta(minutes=5))
    stopped = make_bot(org_a, start=False)
    Bot.objects.filter(pk=stopped.pk).update(next_tick_at=timezone.now())
    ids, claim = claim_due()
    assert ids == [due.pk]
    assert Bot.objects.get(pk=due.pk).claimed_until == claim
    assert claim_due()[0] == []  # claimed: not due again until the claim runs out


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_claim_a_bot_twice(org_a, market):
    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    now = timezone.now()
    Bot.objects.bulk_create(
        [
            Bot(
                organization=org_a,
                name=f"b{i}",
                strategy=scripted.KEY,
                exchange_account=account,
                symbol="BTC/USDT",
                status=BotStatus.RUNNING,
                next_tick_at=now,
            )
            for i in range(600)
        ]
    )
    results: list[list[int]] = [[], [], [], []]
    barrier = threading.Barrier(4)

    def dispatcher(n):
        barrier.wait()
        try:
            for _ in range(6):
                results[n] += claim_due(limit=40)[0]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for r in results for i in r]
    assert len(claimed) == len(set(claimed)) == 600
    assert all(len(r) > 0 for r in results)  # they really ran side by side


def test_dispatch_enqueues_chunks_on_the_real_broker(org_a, market, settings):
    from config.celery import app

    settings.TICK_DISPATCH_CHUNK = 4
    for _ in range(10):
        make_bot(org_a)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
        report = dispatch_due()
        assert (report.claimed, report.messages) == (10, 3)
        assert conn.default_channel.client.llen("celery") == 3
        conn.default_channel.queue_purge("celery")


# -- watchdog ------------------------------------------------------------------------------------------
def test_watchdog_restarts_stale_bots_then_gives_up(org_a, market, settings, member):
    owner = member(Role.OWNER)
    settings.BOT_WATCHDOG_MAX_RESTARTS = 2
    bot = make_bot(org_a, "buy_limit", tick_interval=10)
    bot_tick(bot_id=bot.pk)
    fresh = make_bot(org_a, tick_interval=10)
    bot_tick(bot_id=fresh.pk)
    later = timezone.now() + dt.timedelta(seconds=31)
    for n in (1, 2):
        Bot.objects.filter(pk=fresh.pk).update(last_heartbeat_at=later - dt.timedelta(seconds=1))
        assert watchdog_run(now=later) == {"restarted": [bot.pk], "failed": []}
        bot.refresh_from_db()
        assert bot.status == BotStatus.RUNNING and bot.watchdog_restarts == n and bot.restart_count == n
        later += dt.timedelta(seconds=31)
    # The resting order survived the restarts.
    assert Order.objects.get(bot=bot).status == OrderStatus.OPEN
    report = watchdog_run(now=later)
    assert bot.pk in report["failed"]
    bot.refresh_from_db()
    assert bot.status == BotStatus.ERROR and "no heartbeat" in bot.last_error
    assert BotEvent.objects.filter(bot=bot, kind="bot.watchdog_restart").count() == 2
    # A person starting it again gives the watchdog a fresh budget.
    bot_start(bot=bot, user=owner)
    assert Bot.objects.get(pk=bot.pk).watchdog_restarts == 0


def test_watchdog_leaves_healthy_bots_alone(org_a, market):
    bot = make_bot(org_a, tick_interval=10)
    bot_tick(bot_id=bot.pk)
    assert watchdog_run(now=timezone.now() + dt.timedelta(seconds=29)) == {"restarted": [], "failed": []}
    assert Bot.objects.get(pk=bot.pk).watchdog_restarts == 0


def test_order_age_is_measured_on_the_market_clock(org_a, market):
    """The paper exchange replays 2021 while orders are created today: a market maker must still
    see its quotes age and refresh them."""
    bot = make_bot(org_a, start=False)
    Bot.objects.filter(pk=bot.pk).update(strategy="pure_market_making", params={"order_refresh_time": 30})
    bot = Bot.objects.select_related("exchange_account").get(pk=bot.pk)
    bot_start(bot=bot)
    assert bot_tick(bot_id=bot.pk).placed >= 1
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    assert bot_tick(bot_id=bot.pk).canceled == 0  # fresh quotes stay
    Order.objects.filter(bot=bot).update(created_at=timezone.now() - dt.timedelta(seconds=31))
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    result = bot_tick(bot_id=bot.pk)
    assert result.canceled >= 1 and result.placed >= 1
    assert Order.objects.filter(bot=bot, status=OrderStatus.CANCELED).count() == result.canceled


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["buy", "raise"])
def test_paper_tick_commits_asynchronously_and_restores_the_connection(org_a, market, action):
    """A paper tick's order is saved and sent with asynchronous commits (the paper exchange shares
    the database); the next thing the connection runs, after a tick that worked or failed, is
    back to the server's setting."""
    from bots.signals import order_placement_step

    bot = make_bot(org_a, action)
    assert tick_sql.relaxed_commits(bot) and _synchronous_commit() == "on"
    seen = []

    def record(sender, step, client_order_id, **kwargs):
        seen.append((step, _synchronous_commit()))

    order_placement_step.connect(record, weak=False)
    try:
        result = bot_tick(bot_id=bot.pk)
    finally:
        order_placement_step.disconnect(record)
    assert result.outcome == ("ticked" if action == "buy" else "failed")
    if action == "buy":
        assert ("after_save", "off") in seen and Order.objects.get(bot=bot).status == OrderStatus.FILLED
    assert _synchronous_commit() == "on"
    assert Bot.objects.get(pk=bot.pk).tick_lock_until is None


def test_live_bots_and_open_transactions_keep_synchronous_commits(org_a, market):
    bot = make_bot(org_a, "none", start=False)
    assert not tick_sql.relaxed_commits(bot)  # inside the test's transaction
    bot.mode = "live"
    assert not tick_sql.relaxed_commits(bot)


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_mid_tick_leaves_no_relaxed_session_behind(org_a, market):
    """The database connection dies while a paper tick is placing: the error is the database's
    (not one from restoring the session), and the next connection commits synchronously."""
    import psycopg
    from django.db import DatabaseError

    from bots.signals import order_placement_step

    bot = make_bot(org_a, "buy")
    pid = connection.connection.info.backend_pid
    killer = psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=connection.settings_dict["NAME"], autocommit=True
    )

    def kill(sender, step, client_order_id, **kwargs):
        if step == "after_save":
            killer.execute("SELECT pg_terminate_backend(%s)", [pid])

    order_placement_step.connect(kill, weak=False)
    try:
        with pytest.raises(DatabaseError):
            bot_tick(bot_id=bot.pk)
    finally:
        order_placement_step.disconnect(kill)
        killer.close()
    assert connection.connection is None or connection.connection.closed
    assert _synchronous_commit() == "on"  # a new connection, with the server's setting
