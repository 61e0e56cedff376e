"""A perpetual-futures bot's worker SIGKILLed at every step of order placement on Hyperliquid (the real ccxt
client against the loopback server, every request signed and verified): after the task is retried and
reconciliation has run, each intent has exactly one order on the exchange, filled, with its fills recorded.

Like tests/bots/test_placement_crash.py, with fewer rounds: each attempt forks a child that places one order (or
a batch) and is killed at its step, by itself inside our code, or by the exchange the moment it has stored the
order, before answering ("after send, before the answer").
"""

import os
import signal
from decimal import Decimal

import pytest
from django.db import connections

from bots.models import Fill, Order, OrderStatus, Position
from bots.orders import PlacementIntent, client_order_id_for, orders_place
from bots.perps import margin_ensure
from bots.reconciliation import reconcile_account
from bots.signals import order_placement_step
from exchanges import venues
from exchanges.ccxt_client import CcxtClient
from exchanges.errors import RetryPolicy
from exchanges.gateway import Gateway
from tests.exchanges.hyperliquid_server import DEFAULT_PRIVATE_KEY, HyperliquidServer
from tests.factories import BotFactory, ExchangeAccountFactory

BTC = "BTC/USDC:USDC"
STEPS = ["before_save", "after_save", "after_send_before_answer", "before_commit"]
ROUNDS = 3
BATCH = 3
AMOUNT = Decimal("0.001")  # $30 at the mark: above Hyperliquid's $10 minimum
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget_seconds=1)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def exchange(settings):
    with HyperliquidServer(accounts={DEFAULT_PRIVATE_KEY: "1000000"}) as server:
        settings.EXCHANGE_URL_OVERRIDES = {"hyperliquid": server.base_url}
        settings.EXCHANGE_TIMEOUT_MS = 2000
        yield server


def gateway(account) -> Gateway:
    client = CcxtClient.from_account(account)
    client.api.enableRateLimit = False  # ccxt's spacing by Hyperliquid's request weights only slows loopback
    return Gateway(account, client, policy=FAST)


def place(bot, keys: list[str]) -> list[Order]:
    intents = [
        PlacementIntent(symbol=BTC, side="buy", type="market", amount=AMOUNT, bot=bot, intent_key=k) for k in keys
    ]
    return orders_place(account=bot.exchange_account, intents=intents, gateway=gateway(bot.exchange_account))


def run_child_killed_at(step: str, bot, keys: list[str], victim_key: str, exchange) -> int:
    """Fork a worker that places the orders of `keys` and dies by SIGKILL at `step` of the order of
    `victim_key`; return its wait status."""
    victim = client_order_id_for(account_id=bot.exchange_account_id, bot_id=bot.pk, intent_key=victim_key)
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
            place(bot, keys)
        finally:
            os._exit(3)  # reaching here means the kill did not happen
    os.close(go_read)
    if step == "after_send_before_answer":
        venue_cid = venues.to_venue_cid("hyperliquid", victim)

        def kill_at_victim(order):
            if order["cloid"] == venue_cid:
                os.kill(pid, signal.SIGKILL)

        exchange.on_order_created = kill_at_victim
    os.write(go_write, b"g")
    os.close(go_write)
    _, status = os.waitpid(pid, 0)
    exchange.on_order_created = None
    return status


@pytest.mark.parametrize("step", STEPS)
def test_a_killed_perp_worker_leaves_one_order_per_intent_after_reconciliation(step, exchange):
    account = ExchangeAccountFactory(
        exchange="hyperliquid",
        wallet_address=exchange.wallet_address,
        private_key=exchange.private_key,
        status="active",
    )
    bot = BotFactory(
        organization=account.organization,
        exchange_account=account,
        mode="live",
        symbol=BTC,
        market_type="perp",
        leverage=Decimal(5),
        margin_mode="isolated",
    )
    gw = gateway(account)
    assert margin_ensure(bot, gw, {}) is None  # leverage and margin mode set before the first order, as a tick does
    gw.markets()  # warm the markets cache before forking

    batches = [[f"{step}-{i}"] for i in range(ROUNDS)] + [[f"{step}-batch-{j}" for j in range(BATCH)]]
    for keys in batches:
        victim = keys[len(keys) // 2]
        status = run_child_killed_at(step, bot, keys, victim, exchange)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"{keys}: not killed at {step}"
        place(bot, keys)  # the task is delivered again and runs to the end
    reconcile_account(account=account, gateway=gateway(account), grace_seconds=0)

    intents = [k for keys in batches for k in keys]
    cids = {client_order_id_for(account_id=account.pk, bot_id=bot.pk, intent_key=k) for k in intents}
    venue_cids = {venues.to_venue_cid("hyperliquid", c): c for c in cids}
    on_exchange = [o for o in exchange.orders.values() if o["order"]["cloid"] in venue_cids]
    per_intent = {c: sum(1 for o in on_exchange if o["order"]["cloid"] == c) for c in venue_cids}
    assert [c for c, n in per_intent.items() if n > 1] == [], "duplicate orders"
    assert [c for c, n in per_intent.items() if n == 0] == [], "intents never placed"
    assert {o["status"] for o in on_exchange} == {"filled"}

    ours = Order.objects.filter(client_order_id__in=cids)
    assert ours.count() == len(intents) == ROUNDS + BATCH
    assert set(ours.values_list("status", flat=True)) == {OrderStatus.FILLED}
    oids = {str(o["order"]["oid"]) for o in on_exchange}
    assert set(ours.values_list("exchange_order_id", flat=True)) == oids

    fills = [f for f in exchange.fills if str(f["oid"]) in oids]
    recorded = set(Fill.objects.filter(exchange_account=account).values_list("trade_id", flat=True))
    assert len(fills) == len(intents) and recorded == {str(f["tid"]) for f in fills}

    total = AMOUNT * len(intents)
    [held] = exchange.clearinghouse()["assetPositions"]
    assert Decimal(held["position"]["szi"]) == total
    assert (held["position"]["leverage"]["type"], held["position"]["leverage"]["value"]) == ("isolated", 5)
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == total
