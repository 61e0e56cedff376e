"""A Hummingbot bot from start to stop against a simulated instance over the real Mosquitto:
start renders and places the config, the deploy task imports, configures and starts it, the
bot turns running, the instance's orders and fills arrive through the bridge as our orders,
fills and position, and stop stops the strategy and the bot."""

import uuid
from decimal import Decimal

import pytest

from bots.models import Bot, BotEvent, Fill, Order
from bots.services import bot_start, bot_stop
from bots.state import BotStatus
from core.errors import ApplicationError
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance, InstanceStatus
from hummingbot.services import deployment_reconcile
from hummingbot.tasks import hb_deploy
from organizations.models import Role
from risk.models import RiskLimits
from tests.factories import BotFactory, ExchangeAccountFactory
from tests.hummingbot.sim import SimInstance
from tests.hummingbot.test_bridge import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager():
    """Tasks enqueued after commit run at once, in this process (what a worker would do)."""
    from config.celery import app

    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = False, False


@pytest.fixture
def sim():
    with SimInstance(f"sim-{uuid.uuid4().hex[:12]}", heartbeat_seconds=0.2) as instance:
        yield instance


def test_start_deploy_trade_and_stop(org_a, member, running_bridge, sim, eager):
    owner = member(Role.OWNER)
    instance = HummingbotInstance.objects.create(organization=org_a, name="hb-1", instance_id=sim.instance_id)
    assert wait_for(lambda: HummingbotInstance.objects.get(pk=instance.pk).status == InstanceStatus.ONLINE)
    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    bot = BotFactory(
        organization=org_a,
        exchange_account=account,
        strategy="pure_market_making",
        params={"bid_spread": "0.2", "ask_spread": "0.2", "order_amount": "0.01"},
        execution="hummingbot",
        symbol="BTC/USDT",
    )
    # Start renders the config and places it; after the commit the deploy task imports,
    # configures and starts it on the instance, which turns the bot running.
    bot_start(bot=bot, user=owner)
    deployment = HummingbotDeployment.objects.get(bot=bot)
    assert deployment.instance == instance and "bid_spread: 0.2" in deployment.rendered_config
    assert sim.running and sim.starts == 1
    assert deployment.status == DeploymentStatus.RUNNING
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    # A repeated deploy (a redelivered task) starts nothing twice.
    hb_deploy.apply(args=[deployment.pk]).get()
    assert sim.starts == 1

    sim.emit_order_created(order_id="buy-BTC-USDT-1", side="BUY", price="64000", amount="0.01")
    sim.emit_fill(order_id="buy-BTC-USDT-1", side="BUY", price="64000", amount="0.01", exchange_trade_id="T-1")
    assert wait_for(lambda: Fill.objects.filter(bot=bot).exists())
    order = Order.objects.get(bot=bot)
    assert order.exchange_order_id == "buy-BTC-USDT-1" and order.filled == Decimal("0.01")
    assert bot.positions.get().quantity == Decimal("0.01")

    bot_stop(bot=Bot.objects.get(pk=bot.pk), user=owner)  # the stop task runs after commit
    assert not sim.running
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.STOPPED
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    kinds = list(BotEvent.objects.filter(bot=bot).order_by("id").values_list("kind", flat=True))
    for kind in ("hummingbot.deployment_created", "hummingbot.started", "bot.running", "hummingbot.stopped"):
        assert kind in kinds


def test_start_is_refused_when_no_instance_has_room_or_the_config_breaks_a_limit(org_a, member):
    owner = member(Role.OWNER)
    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    bot = BotFactory(
        organization=org_a,
        exchange_account=account,
        strategy="pure_market_making",
        execution="hummingbot",
        symbol="BTC/USDT",
    )
    with pytest.raises(ApplicationError) as refused:
        bot_start(bot=bot, user=owner)
    assert refused.value.code == "no_instance"
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED  # nothing half-written
    assert not HummingbotDeployment.objects.exists()
    # A strategy Hummingbot has no equivalent for is refused with the reason.
    Bot.objects.filter(pk=bot.pk).update(strategy="macd_trend", params={})
    HummingbotInstance.objects.create(
        organization=org_a, name="hb", instance_id=f"i-{uuid.uuid4().hex[:8]}", status="online"
    )
    with pytest.raises(ApplicationError, match="macd_trend"):
        bot_start(bot=Bot.objects.select_related("exchange_account").get(pk=bot.pk), user=owner)
    # Risk limits travel into the config, and one the config cannot satisfy refuses the start.
    Bot.objects.filter(pk=bot.pk).update(strategy="pure_market_making", params={})
    RiskLimits.objects.create(organization=org_a, max_open_orders=1)
    with pytest.raises(ApplicationError):
        bot_start(bot=Bot.objects.select_related("exchange_account").get(pk=bot.pk), user=owner)
    assert not HummingbotDeployment.objects.exists()


def test_history_repairs_fills_the_stream_lost(org_a, member, sim, eager):
    """Events are at most once: with no bridge listening, fills are lost; /history brings them
    back, once, and a fill the stream did deliver is not recorded twice."""
    owner = member(Role.OWNER)
    HummingbotInstance.objects.create(organization=org_a, name="hb", instance_id=sim.instance_id, status="online")
    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    bot = BotFactory(
        organization=org_a, exchange_account=account, strategy="pure_market_making", execution="hummingbot"
    )
    bot_start(bot=bot, user=owner)
    deployment = HummingbotDeployment.objects.get(bot=bot)
    sim.emit_fill(order_id="sell-1", side="SELL", price="64000", amount="0.002", exchange_trade_id="lost-1")
    sim.emit_fill(order_id="buy-2", side="BUY", price="63000", amount="0.003", exchange_trade_id="lost-2")
    assert not Fill.objects.filter(bot=bot).exists()
    assert deployment_reconcile(deployment=deployment) == 2
    assert sorted(Fill.objects.filter(bot=bot).values_list("trade_id", "amount")) == [
        ("lost-1", Decimal("0.002")),
        ("lost-2", Decimal("0.003")),
    ]
    assert deployment_reconcile(deployment=deployment) == 0  # nothing twice
    assert BotEvent.objects.filter(bot=bot, kind="hummingbot.reconciled").count() == 1
    position = bot.positions.get()
    assert position.quantity == Decimal("0.001")
