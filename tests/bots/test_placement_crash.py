"""A worker SIGKILLed at every step of order placement, 50 times per step, against the loopback
Binance server with the real ccxt client: no duplicate order, no lost fill after the task is
retried (as Celery's acks_late redelivers it) and reconciliation has run.

Each attempt forks a child that places one order and is killed at its step: by itself for the
steps inside our code, by the exchange (the moment it has stored the order, before answering) for
"after send, before the answer".
"""

import os
import signal
from decimal import Decimal

import pytest
from django.db import connections

from bots.models import Fill, Order, OrderStatus
from bots.orders import PlacementIntent, client_order_id_for, order_place, orders_place
from bots.reconciliation import reconcile_account
from bots.signals import order_placement_step
from exchanges.errors import RetryPolicy
from exchanges.gateway import Gateway
from tests.exchanges.binance_server import BinanceServer
from tests.factories import BotFactory, ExchangeAccountFactory

STEPS = ["before_save", "after_save", "after_send_before_answer", "before_commit"]
ROUNDS = 50
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget_seconds=1)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def exchange(settings):
    with BinanceServer(balances={"USDT": "1000000", "BTC": "10"}) as server:
        settings.EXCHANGE_URL_OVERRIDES = {"binance": server.base_url}
        settings.EXCHANGE_TIMEOUT_MS = 2000
        yield server


BATCH = 5
BATCH_ROUNDS = 10  # 10 batches of 5: another 50 orders per step, killed in the middle of a batch


def place_batch(bot, keys):
    intents = [
        PlacementIntent(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.001"), bot=bot, intent_key=k)
        for k in keys
    ]
    return orders_place(
        account=bot.exchange_account, intents=intents, gateway=Gateway(bot.exchange_account, policy=FAST)
    )


def place(bot, intent_key):
    return order_place(
        account=bot.exchange_account,
        bot=bot,
        symbol="BTC/USDT",
        side="buy",
        type="market",
        amount=Decimal("0.001"),
        intent_key=intent_key,
        gateway=Gateway(bot.exchange_account, policy=FAST),
    )


def run_child_killed_at(step: str, bot, intent_key: str, exchange, keys: list[str] | None = None) -> int:
    """Fork a worker that places the order (or the batch `keys`, dying at the order of
    `intent_key`) and dies by SIGKILL at `step`; return its wait status."""
    victim = client_order_id_for(account_id=bot.exchange_account_id, bot_id=bot.pk, intent_key=intent_key)
    go_read, go_write = os.pipe()
    connections.close_all()  # the child opens its own database connection
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(go_write)
        os.read(go_read, 1)

        def die(sender, step: str, client_order_id: str, **kwargs):
            if step == target and client_order_id == victim:
                os.kill(os.getpid(), signal.SIGKILL)

        target = step
        order_placement_step.connect(die, weak=False)
        try:
            place_batch(bot, keys) if keys else place(bot, intent_key)
        finally:
            os._exit(3)  # reaching here means the kill did not happen
    os.close(go_read)
    if step == "after_send_before_answer":

        def kill_at_victim(order):
            if order["clientOrderId"] == victim:
                os.kill(pid, signal.SIGKILL)

        exchange.on_order_created = kill_at_victim
    os.write(go_write, b"g")
    os.close(go_write)
    _, status = os.waitpid(pid, 0)
    exchange.on_order_created = None
    return status


@pytest.mark.parametrize("step", STEPS)
def test_a_killed_worker_never_duplicates_or_loses_an_order(step, exchange):
    account = ExchangeAccountFactory(
        exchange="binance", api_key=exchange.api_key, api_secret=exchange.api_secret, status="active"
    )
    bot = BotFactory(organization=account.organization, exchange_account=account, mode="live")
    Gateway(account).markets()  # warm the markets cache before forking
    intents = [f"{step}-{i}" for i in range(ROUNDS)]

    killed = 0
    for intent in intents:
        status = run_child_killed_at(step, bot, intent, exchange)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"{intent}: not killed at {step}"
        killed += 1
        place(bot, intent)  # the task is delivered again and runs to the end
    for b in range(BATCH_ROUNDS):
        keys = [f"{step}-batch{b}-{j}" for j in range(BATCH)]
        status = run_child_killed_at(step, bot, keys[BATCH // 2], exchange, keys=keys)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"batch {b}: not killed at {step}"
        killed += 1
        place_batch(bot, keys)  # redelivered
        intents.extend(keys)

    reconcile_account(account=account, gateway=Gateway(account, policy=FAST), grace_seconds=0)

    cids = {client_order_id_for(account_id=account.pk, bot_id=bot.pk, intent_key=i) for i in intents}
    on_exchange = [o for o in exchange.orders.values() if o["clientOrderId"] in cids]
    per_intent = {cid: sum(1 for o in on_exchange if o["clientOrderId"] == cid) for cid in cids}
    duplicates = sum(n - 1 for n in per_intent.values() if n > 1)
    missing = sum(1 for n in per_intent.values() if n == 0)
    assert killed == ROUNDS + BATCH_ROUNDS
    assert duplicates == 0, f"{duplicates} duplicate orders"
    assert missing == 0, f"{missing} intents never placed"

    ours = Order.objects.filter(client_order_id__in=cids)
    assert ours.count() == len(intents) == ROUNDS + BATCH_ROUNDS * BATCH
    assert set(ours.values_list("status", flat=True)) == {OrderStatus.FILLED}
    exchange_ids = {str(o["orderId"]) for o in on_exchange}
    assert set(ours.values_list("exchange_order_id", flat=True)) == exchange_ids

    trades = [t for t in exchange.trades if str(t["orderId"]) in exchange_ids]
    recorded = set(Fill.objects.filter(exchange_account=account).values_list("trade_id", flat=True))
    lost = {str(t["id"]) for t in trades} - recorded
    assert len(trades) == len(intents)
    assert not lost, f"{len(lost)} fills lost"
    assert len(recorded) == len(trades)
