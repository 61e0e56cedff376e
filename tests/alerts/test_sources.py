"""The events the platform already writes become alerts: a Hummingbot instance going offline
and its bots' failover (through the existing health check), errors the bridge writes in bulk, the
kill switch and the watchdog."""

import pytest

from alerts.models import Alert, DeliveryStatus
from hummingbot.bridge import Bridge
from hummingbot.services import instances_check_health
from risk.services import kill_switch_engage
from tests.alerts.conftest import rule, telegram_channel, wait_delivered, webhook_channel
from tests.hummingbot.test_bridge import bot_of, make_instance, msg
from tests.hummingbot.test_instances import online, running

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_hummingbot_instance_going_offline_alerts_and_so_does_the_failover(org_a, telegram, celery_worker):
    channel = telegram_channel(org_a, telegram)
    rule(org_a, [channel], kinds=["hummingbot.instance_offline", "hummingbot.paused"], min_level="critical")
    instance = online(make_instance(org_a, name="hb-frankfurt", policy="pause"), seconds_ago=60)
    bot = running(bot_of(instance))

    instances_check_health()

    offline = Alert.objects.get(kind="hummingbot.instance_offline")
    assert (offline.level, offline.bot_id, offline.title) == ("critical", None, "Hummingbot instance offline")
    assert offline.data["instance"] == instance.pk
    paused = Alert.objects.get(kind="hummingbot.paused")
    assert paused.bot_id == bot.pk and paused.title == f"Hummingbot failover: bot paused: {bot.name}"
    texts = sorted(r.fields["text"] for r in telegram.wait_for(2))
    assert "hb-frankfurt missed 3 heartbeats" in texts[0] + texts[1]
    assert all(d.status == DeliveryStatus.SENT for a in (offline, paused) for d in wait_delivered(a))
    # The next health check finds nothing new: no second alert.
    instances_check_health()
    assert Alert.objects.count() == 2


def test_two_instances_offline_are_two_alerts(org_a, receiver):
    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["hummingbot.instance_offline"], min_level="critical")
    online(make_instance(org_a, with_bot=False), seconds_ago=60)
    online(make_instance(org_a, with_bot=False), seconds_ago=60)
    instances_check_health()
    assert Alert.objects.filter(kind="hummingbot.instance_offline").count() == 2


def test_errors_the_bridge_writes_in_bulk_alert_after_its_batch_commits(org_a, receiver):
    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["hummingbot.log"], min_level="warning")
    instance = make_instance(org_a)
    line = {"timestamp": 1, "msg": "order book stale", "level_no": 40, "level_name": "ERROR"}
    Bridge().process([msg(instance, "log", line)] * 60)  # 60 rows: written with COPY, no post_save

    alert = Alert.objects.get()
    assert (alert.kind, alert.level, alert.count) == ("hummingbot.log", "critical", 60)
    assert alert.bot_id == bot_of(instance).pk and alert.message == "order book stale"


def test_the_kill_switch_alerts(org_a, alice, receiver):
    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["risk.kill_switch*"], min_level="critical")
    kill_switch_engage(organization=org_a, user=alice, reason="exchange outage")
    alert = Alert.objects.get()
    assert alert.title == "Kill switch engaged" and "exchange outage" in alert.message


def test_a_watchdog_restart_alerts_as_a_warning(org_a, receiver):
    from bots.services import bot_event_record
    from tests.factories import BotFactory

    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["bot.watchdog*"], min_level="warning")
    bot = BotFactory(organization=org_a, name="MM ETH")
    bot_event_record(
        organization_id=org_a.pk, bot=bot, kind="bot.watchdog_restart", message="No heartbeat", level="warning"
    )
    assert Alert.objects.get().title == "Bot restarted by the watchdog: MM ETH"


@pytest.mark.keep_default_rule
def test_every_organization_starts_with_a_rule_so_failover_steps_alert_out_of_the_box(org_a, org_b):
    """No rule configured by anyone: the default rule (warnings and worse, no channels) still
    turns each failover step into an alert, recorded and shown, with nothing sent anywhere."""
    from alerts.models import AlertRule
    from alerts.services import DEFAULT_RULE_NAME
    from organizations.models import Organization

    fresh = Organization.objects.create(name="Gamma", slug="gamma")
    default = AlertRule.objects.get(organization=fresh)
    assert (default.name, default.event_kinds, default.min_level) == (DEFAULT_RULE_NAME, ["*"], "warning")
    assert not default.channels.exists()

    instance = online(make_instance(org_a, name="hb-paris", policy="pause"), seconds_ago=60)
    bot = running(bot_of(instance))
    instances_check_health()

    alerts = {a.kind: a for a in Alert.objects.filter(organization=org_a)}
    assert {"hummingbot.instance_offline", "hummingbot.paused"} <= set(alerts)
    assert alerts["hummingbot.paused"].bot_id == bot.pk
    assert all(a.rule.name == DEFAULT_RULE_NAME and not a.deliveries.exists() for a in alerts.values())
    assert not Alert.objects.filter(organization=org_b).exists()
