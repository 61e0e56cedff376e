"""A stored signal converted to a Hummingbot config and deployed by a bot, against a simulated
instance over the real Mosquitto; and every refusal leaving the bot stopped with nothing placed."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml
from django.utils import timezone

from bots.models import Bot, BotEvent
from bots.services import bot_stop
from bots.state import BotStatus
from core.errors import ApplicationError
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance, InstanceStatus
from hummingbot.signal_deploy import signal_deploy
from organizations.models import Role
from risk.models import RiskLimits
from risk.services import kill_switch_engage
from tests.factories import BotFactory, ExchangeAccountFactory, SignalFactory, SignalSourceFactory
from tests.hummingbot.sim import SimInstance
from tests.hummingbot.test_bridge import wait_for
from tests.hummingbot.test_flow import eager  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

STRUCTURE = {"score": 0.1, "reason": "", "support": [61000.0, 59000.0], "resistance": [66000.0, 69000.0]}


@pytest.fixture
def sim():
    with SimInstance(f"sim-{uuid.uuid4().hex[:12]}", heartbeat_seconds=0.2) as instance:
        yield instance


def hb_bot(org, **values):
    account = ExchangeAccountFactory(organization=org, exchange="paper")
    defaults = {
        "organization": org,
        "exchange_account": account,
        "strategy": "pure_market_making",
        "params": {"order_amount": "0.01"},
        "execution": "hummingbot",
        "symbol": "BTC/USDT",
    }
    return BotFactory(**(defaults | values))


def online_instance(org, instance_id=None):
    return HummingbotInstance.objects.create(
        organization=org,
        name=f"hb-{uuid.uuid4().hex[:6]}",
        instance_id=instance_id or uuid.uuid4().hex[:10],
        status=InstanceStatus.ONLINE,
        capacity=5,
    )


def test_a_market_making_signal_deploys_runs_and_stops(org_a, member, running_bridge, sim, eager):  # noqa: F811
    owner = member(Role.OWNER)
    instance = HummingbotInstance.objects.create(organization=org_a, name="hb-1", instance_id=sim.instance_id)
    assert wait_for(lambda: HummingbotInstance.objects.get(pk=instance.pk).status == InstanceStatus.ONLINE)
    bot = hb_bot(org_a)
    signal = SignalFactory(
        source=SignalSourceFactory(organization=org_a, kind="manual"),
        kind="market_making",
        side="buy",
        confidence=Decimal("0.8"),
        price=Decimal("64000"),
    )
    deployment = signal_deploy(signal=signal, bot=bot, user=owner, source="dashboard", order_amount="0.02")

    deployment.refresh_from_db()
    assert deployment.signal_id == signal.pk and deployment.instance == instance
    assert deployment.strategy_name == "pure_market_making"
    config = yaml.safe_load(deployment.rendered_config)
    # Confidence 0.8 quotes 1 - 0.9 * 0.8 = 0.28% from the mid, leaning the inventory toward buy.
    assert Decimal(str(config["bid_spread"])) == Decimal("0.28") == Decimal(str(config["ask_spread"]))
    assert Decimal(str(config["order_amount"])) == Decimal("0.02")
    assert Decimal(str(config["inventory_target_base_pct"])) > 50
    assert sim.running and sim.starts == 1
    assert deployment.status == DeploymentStatus.RUNNING
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING

    created = BotEvent.objects.get(bot=bot, kind="hummingbot.deployment_created")
    assert created.data["signal_id"] == signal.pk and created.data["signal_kind"] == "market_making"
    starting = BotEvent.objects.filter(bot=bot, kind="bot.starting").get()
    assert f"signal #{signal.pk}" in starting.message and starting.actor_id == owner.pk
    assert starting.source == "dashboard"

    bot_stop(bot=Bot.objects.get(pk=bot.pk), user=owner)
    assert not sim.running
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_a_directional_signal_deploys_as_a_grid_between_its_support_and_resistance(org_a, member):
    trader = member(Role.TRADER)
    online_instance(org_a)
    bot = hb_bot(org_a)
    signal = SignalFactory(
        source=SignalSourceFactory(organization=org_a),
        side="buy",
        price=Decimal("64000"),
        factors={"structure": STRUCTURE},
    )
    with pytest.raises(ApplicationError) as refused:
        signal_deploy(signal=signal, bot=bot, user=trader)
    assert refused.value.code == "unsupported" and refused.value.field == "as_kind"
    with pytest.raises(ApplicationError, match="market_making or grid, not arbitrage"):
        signal_deploy(signal=signal, bot=bot, user=trader, as_kind="arbitrage")
    assert not HummingbotDeployment.objects.exists()

    deployment = signal_deploy(signal=signal, bot=bot, user=trader, as_kind="grid", levels=6)
    assert deployment.strategy_name == "v2_with_controllers" or "grid_strike" in deployment.rendered_config
    files = {name: text for _, name, text in deployment.files}
    controller = next(yaml.safe_load(text) for name, text in files.items() if "grid_strike" in text)
    assert Decimal(str(controller["start_price"])) == Decimal("61000")
    assert Decimal(str(controller["end_price"])) == Decimal("66000")
    assert controller["side"] in (1, "BUY", "buy")
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STARTING  # running once the instance answers

    # Explicit levels win over the factor's.
    other = hb_bot(org_a, name="grid-2")
    deployment = signal_deploy(signal=signal, bot=other, user=trader, as_kind="grid", lower="62000", upper="65000")
    text = next(t for _, _, t in deployment.files if "grid_strike" in t)
    assert Decimal(str(yaml.safe_load(text)["start_price"])) == Decimal("62000")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"signal": {"valid_until": -1}}, "expired"),
        ({"signal": {"kind": "exit"}}, "exit signal"),
        ({"signal": {"symbol": "ETH/USDT"}}, "ETH/USDT"),
        ({"bot": {"execution": "native"}}, "runs natively"),
        ({"bot": {"status": "running"}}, "stop it before"),
        ({"call": {"order_amount": "-1"}}, "order_amount must be a positive number"),
        ({"call": {"levels": 1}}, "between 2 and 200 levels"),
    ],
)
def test_refusals_name_the_reason_and_place_nothing(org_a, member, change, expected):
    trader = member(Role.TRADER)
    online_instance(org_a)
    bot = hb_bot(org_a, **change.get("bot", {}))
    values = {"kind": "grid"} | change.get("signal", {})
    if "valid_until" in values:
        values["valid_until"] = timezone.now() + timedelta(minutes=values["valid_until"])
    signal = SignalFactory(
        source=SignalSourceFactory(organization=org_a),
        price=Decimal("64000"),
        factors={"structure": STRUCTURE},
        **values,
    )
    with pytest.raises(ApplicationError, match=expected):
        signal_deploy(signal=signal, bot=bot, user=trader, **({"order_amount": "0.01"} | change.get("call", {})))
    assert Bot.objects.get(pk=bot.pk).status == bot.status
    assert not HummingbotDeployment.objects.exists()
    assert not BotEvent.objects.filter(kind="hummingbot.deployment_created").exists()


def test_roles_the_kill_switch_other_organizations_risk_and_capacity(org_a, org_b, member):
    viewer, trader, admin = member(Role.VIEWER), member(Role.TRADER), member(Role.ADMIN)
    bot = hb_bot(org_a)
    signal = SignalFactory(source=SignalSourceFactory(organization=org_a), kind="market_making", side="neutral")

    with pytest.raises(ApplicationError) as refused:
        signal_deploy(signal=signal, bot=bot, user=viewer)
    assert refused.value.code == "permission_denied"
    with pytest.raises(ApplicationError) as refused:
        signal_deploy(signal=signal, bot=bot, user=trader)
    assert refused.value.code == "no_instance"

    online_instance(org_a)
    foreign = SignalFactory(source=SignalSourceFactory(organization=org_b), kind="market_making")
    with pytest.raises(ApplicationError) as refused:
        signal_deploy(signal=foreign, bot=bot, user=trader)
    assert refused.value.code == "not_found"

    # The same pre-trade check as every tick: a symbol the limits do not allow is refused ...
    limits = RiskLimits.objects.create(organization=org_a, allowed_symbols=["ETH/USDT"])
    signal.price = Decimal("64000")
    signal.save(update_fields=["price"])
    with pytest.raises(ApplicationError, match="not among the allowed symbols"):
        signal_deploy(signal=signal, bot=bot, user=trader, order_amount="0.01")
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED == bot.status
    # ... and the order size is capped to max_order_notional at the signal's price.
    limits.allowed_symbols, limits.max_order_notional = [], Decimal("100")
    limits.save()
    deployment = signal_deploy(signal=signal, bot=bot, user=trader, order_amount="0.01")
    amount = Decimal(str(yaml.safe_load(deployment.rendered_config)["order_amount"]))
    assert amount * Decimal("64000") <= Decimal("100") < Decimal("0.01") * Decimal("64000")
    HummingbotDeployment.objects.all().delete()
    Bot.objects.filter(pk=bot.pk).update(status=BotStatus.STOPPED)

    kill_switch_engage(organization=org_a, user=admin, reason="drill")
    with pytest.raises(ApplicationError) as refused:
        signal_deploy(signal=signal, bot=Bot.objects.get(pk=bot.pk), user=trader)
    assert refused.value.code == "kill_switch"
    assert not HummingbotDeployment.objects.exists()
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_the_admin_lists_the_signal_a_deployment_came_from(org_a, member, admin_client):
    online_instance(org_a)
    bot = hb_bot(org_a, name="admin-listed")
    signal = SignalFactory(source=SignalSourceFactory(organization=org_a), kind="market_making")
    signal_deploy(signal=signal, bot=bot, user=member(Role.TRADER))
    page = admin_client.get("/admin/hummingbot/hummingbotdeployment/").content.decode()
    assert f"/admin/signals/signal/{signal.pk}/change/" in page
