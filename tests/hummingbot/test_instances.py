"""Instance health from heartbeats, least-loaded placement, failover by the bot's policy, and the
instance folder export."""

import datetime as dt
import io
import zipfile

import pytest
import yaml
from django.utils import timezone

from bots.models import Bot, BotEvent
from bots.state import BotStatus
from hummingbot.models import DeploymentStatus, HummingbotDeployment, InstanceStatus
from hummingbot.services import instance_export, instance_pick, instances_check_health
from organizations.models import Role
from tests.bots.test_runtime import market  # noqa: F401 - the real candles and a fixed paper clock
from tests.factories import BotFactory, ExchangeAccountFactory
from tests.hummingbot.test_bridge import bot_of, make_instance

pytestmark = pytest.mark.django_db


def online(instance, seconds_ago=0):
    instance.status = InstanceStatus.ONLINE
    instance.last_heartbeat_at = timezone.now() - dt.timedelta(seconds=seconds_ago)
    instance.save()
    return instance


def running(bot):
    Bot.objects.filter(pk=bot.pk).update(status=BotStatus.RUNNING, next_tick_at=None)
    return Bot.objects.get(pk=bot.pk)


def test_three_missed_heartbeats_make_an_instance_offline(org_a):
    silent = online(make_instance(org_a, with_bot=False), seconds_ago=31)
    fine = online(make_instance(org_a, with_bot=False), seconds_ago=25)
    report = instances_check_health()
    assert report["offline"] == [silent.pk]
    silent.refresh_from_db()
    fine.refresh_from_db()
    assert (silent.status, fine.status) == (InstanceStatus.OFFLINE, InstanceStatus.ONLINE)
    assert BotEvent.objects.filter(kind="hummingbot.instance_offline", level="critical").count() == 1
    assert instances_check_health()["offline"] == []  # not twice


def test_pick_prefers_the_least_loaded_online_instance_with_room(org_a, org_b):
    busy = online(make_instance(org_a, name="a-busy", capacity=2))
    full = online(make_instance(org_a, name="b-full", capacity=1))
    free = online(make_instance(org_a, name="c-free", capacity=2, with_bot=False))
    make_instance(org_a, name="d-offline", capacity=5, with_bot=False)
    online(make_instance(org_b, name="e-other-org", capacity=5, with_bot=False))
    assert instance_pick(organization_id=org_a.pk) == free
    assert instance_pick(organization_id=org_a.pk, exclude=(free.pk,)) == busy
    assert instance_pick(organization_id=org_a.pk, exclude=(free.pk, busy.pk)) is None
    assert full.deployments.count() == 1


def test_failover_pause(org_a):
    instance = online(make_instance(org_a, policy="pause"), seconds_ago=60)
    bot = running(bot_of(instance))
    instances_check_health()
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED and bot.execution == "hummingbot"
    assert instance.deployments.get().status == DeploymentStatus.FAILED
    assert BotEvent.objects.filter(bot=bot, kind="hummingbot.paused", level="critical").exists()


def test_failover_to_native_execution(org_a):
    instance = online(make_instance(org_a, policy="native"), seconds_ago=60)
    bot = running(bot_of(instance))
    report = instances_check_health()
    bot.refresh_from_db()
    assert report["failed_over"] == [bot.pk]
    assert (bot.status, bot.execution) == (BotStatus.RUNNING, "native")
    assert bot.next_tick_at is not None  # the dispatcher ticks it from now on
    assert BotEvent.objects.filter(bot=bot, kind="hummingbot.failed_over", level="critical").exists()


def test_failover_redeploys_elsewhere_or_pauses_when_nothing_is_free(org_a, django_capture_on_commit_callbacks):
    gone = online(make_instance(org_a, policy="redeploy"), seconds_ago=60)
    spare = online(make_instance(org_a, with_bot=False))
    bot = running(bot_of(gone))
    with django_capture_on_commit_callbacks() as callbacks:
        instances_check_health()
    moved = HummingbotDeployment.objects.get(bot=bot, status=DeploymentStatus.PENDING)
    assert moved.instance == spare and moved.rendered_config == gone.deployments.get().rendered_config
    # The deploy is enqueued after commit (the other callbacks are live updates and alerts).
    assert len([c for c in callbacks if c.__module__ not in ("bots.live", "alerts.services")]) == 1
    assert BotEvent.objects.filter(bot=bot, kind="hummingbot.redeployed").exists()
    # Nowhere left: the bot is paused.
    HummingbotDeployment.objects.filter(pk=moved.pk).update(status=DeploymentStatus.RUNNING)
    online(spare, seconds_ago=60)
    instances_check_health()
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED
    assert "no other instance has room" in BotEvent.objects.get(bot=bot, kind="hummingbot.paused").message


def test_instance_folder_export(org_a, settings):
    settings.MQTT_URL = "mqtts://hb-user:hb-pass@broker.example.test:8883"
    instance = make_instance(org_a)
    archive = zipfile.ZipFile(io.BytesIO(instance_export(instance=instance)))
    deployment = instance.deployments.get()
    assert sorted(archive.namelist()) == sorted(
        ["conf/conf_client.yml", f"conf/strategies/{deployment.config_file}", "README.txt"]
    )
    client = yaml.safe_load(archive.read("conf/conf_client.yml"))
    assert client["instance_id"] == instance.instance_id
    assert client["mqtt_bridge"] | {} == {
        "mqtt_host": "broker.example.test",
        "mqtt_port": 8883,
        "mqtt_username": "hb-user",
        "mqtt_password": "hb-pass",
        "mqtt_namespace": "hbot",
        "mqtt_ssl": True,
        "mqtt_logger": True,
        "mqtt_notifier": True,
        "mqtt_commands": True,
        "mqtt_events": True,
        "mqtt_external_events": True,
        "mqtt_autostart": True,
    }
    assert archive.read(f"conf/strategies/{deployment.config_file}").decode() == deployment.rendered_config


def test_admin_downloads_the_folder_of_visible_instances_only(client, scoped_staff, org_a, org_b):
    ours, theirs = make_instance(org_a), make_instance(org_b)
    client.force_login(scoped_staff)
    page = client.get(f"/admin/hummingbot/hummingbotinstance/{ours.pk}/change/")
    assert f"/admin/hummingbot/hummingbotinstance/{ours.pk}/export/" in page.content.decode()
    response = client.get(f"/admin/hummingbot/hummingbotinstance/{ours.pk}/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "conf/conf_client.yml" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert client.get(f"/admin/hummingbot/hummingbotinstance/{theirs.pk}/export/").status_code == 404


@pytest.mark.usefixtures("market")
def test_a_hummingbot_config_goes_through_the_pre_trade_check(org_a, member):
    """Limits with no Hummingbot equivalent still bind: the config's order, at the current price,
    passes the same risk check as a tick's, and a refusal leaves nothing behind."""
    from bots.services import bot_start
    from core.errors import ApplicationError
    from risk.models import RiskLimits

    owner = member(Role.OWNER)
    online(make_instance(org_a, with_bot=False))
    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    bot = BotFactory(
        organization=org_a, exchange_account=account, strategy="pure_market_making", execution="hummingbot"
    )
    RiskLimits.objects.create(organization=org_a, bot=bot, max_daily_trades=0)
    with pytest.raises(ApplicationError, match="breaks a risk limit") as refused:
        bot_start(bot=bot, user=owner)
    assert refused.value.code == "max_daily_trades"
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert not HummingbotDeployment.objects.filter(bot=bot).exists()
