"""From events to alerts: kind patterns and severity, deduplication of storms (also under
concurrency and across the window), tenancy, and nothing for a rolled-back write."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from alerts.matching import kind_matches, pattern_error
from alerts.models import Alert, AlertDelivery, AlertRule, AlertStatus, DeliveryStatus
from alerts.services import alert_raise, alerts_for_events, events_raised, rules_for
from bots.models import BotEvent
from bots.services import bot_event_record
from tests.alerts.conftest import rule, wait_delivered, webhook_channel
from tests.factories import BotFactory

transactional = pytest.mark.django_db(transaction=True)


def event(org, bot=None, *, kind="bot.error", level="error", message="failed", **data):
    return bot_event_record(organization_id=org.pk, bot=bot, kind=kind, message=message, level=level, data=data)


@pytest.mark.parametrize(
    ("pattern", "kind", "matches"),
    [
        ("*", "anything.at_all", True),
        ("bot.", "bot.error", True),
        ("bot.", "bots.error", False),
        ("bot.watchdog*", "bot.watchdog_restart", True),
        ("hummingbot.instance_offline", "hummingbot.instance_offline", True),
        ("hummingbot.instance_offline", "hummingbot.instance_online", False),
        ("risk.rejected", "risk.rejected_again", False),
    ],
)
def test_kind_patterns(pattern, kind, matches):
    assert pattern_error(pattern) is None
    assert kind_matches(pattern, kind) is matches


@pytest.mark.django_db
def test_a_rule_with_a_malformed_pattern_is_refused(org_a):
    made = AlertRule(organization=org_a, name="bad", event_kinds=["Bot Error!"], min_level="info")
    with pytest.raises(ValidationError, match="not an event kind"):
        made.full_clean()
    with pytest.raises(ValidationError, match="at least one"):
        AlertRule(organization=org_a, name="empty", event_kinds=[]).full_clean()


@transactional
def test_severity_threshold_filters_events(org_a, receiver):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["bot.", "risk.", "tick."], min_level="critical")
    bot = BotFactory(organization=org_a)
    event(org_a, bot, kind="bot.watchdog_restart", level="warning")
    event(org_a, bot, kind="risk.rejected", level="info")
    event(org_a, bot, kind="bot.debugging", level="debug")
    assert not Alert.objects.exists()
    event(org_a, bot, kind="tick.failed", level="error")  # error events alert as critical
    event(org_a, kind="risk.kill_switch_engaged", level="critical")
    assert sorted(Alert.objects.values_list("kind", "level")) == [
        ("risk.kill_switch_engaged", "critical"),
        ("tick.failed", "critical"),
    ]


@transactional
def test_a_storm_of_100_identical_events_is_one_delivery_with_count_100(org_a, receiver, celery_worker):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["tick.failed"], min_level="warning")
    bot = BotFactory(organization=org_a)
    for n in range(100):
        event(org_a, bot, kind="tick.failed", message=f"Tick failed ({n + 1} in a row)")

    alert = Alert.objects.get()
    assert (alert.count, alert.status) == (100, AlertStatus.OPEN)
    assert alert.last_at >= alert.first_at
    [delivery] = wait_delivered(alert)
    assert delivery.status == DeliveryStatus.SENT
    receiver.wait_for(1)
    assert len(receiver.received) == 1
    assert AlertDelivery.objects.count() == 1


@transactional
def test_a_bulk_written_storm_folds_in_one_batch(org_a, receiver):
    channel = webhook_channel(org_a, receiver)
    made = rule(org_a, [channel], kinds=["tick."], min_level="info")
    bot, other = BotFactory(organization=org_a), BotFactory(organization=org_a)
    with transaction.atomic():
        rows = BotEvent.objects.bulk_create(
            [
                BotEvent(organization=org_a, bot=bot, kind="tick.orders_held", level="warning", message=f"held {n}")
                for n in range(100)
            ]
            + [BotEvent(organization=org_a, bot=other, kind="tick.orders_held", level="warning", message="held")]
        )
        events_raised(rows)
        assert not Alert.objects.exists()  # nothing before commit
    by_bot = dict(Alert.objects.filter(rule=made).values_list("bot_id", "count"))
    assert by_bot == {bot.pk: 100, other.pk: 1}  # the bot is part of the fingerprint
    assert AlertDelivery.objects.count() == 2


@transactional
def test_after_the_window_a_repeat_opens_a_new_alert(org_a, receiver):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["bot.error"], dedupe_seconds=60)
    bot = BotFactory(organization=org_a)
    event(org_a, bot)
    event(org_a, bot)
    first = Alert.objects.get()
    assert first.count == 2
    Alert.objects.filter(pk=first.pk).update(first_at=first.first_at - dt.timedelta(seconds=61))
    event(org_a, bot)
    first.refresh_from_db()
    second = Alert.objects.exclude(pk=first.pk).get()
    assert (first.status, first.count) == (AlertStatus.CLOSED, 2)
    assert (second.status, second.count) == (AlertStatus.OPEN, 1)
    assert AlertDelivery.objects.count() == 2


@transactional
def test_concurrent_raises_of_one_fingerprint_make_one_alert(org_a, receiver):
    channel = webhook_channel(org_a, receiver)
    made = rule(org_a, [channel], kinds=["bot.error"])
    start = threading.Barrier(8)
    errors = []

    def raise_some():
        try:
            start.wait()
            for _ in range(10):
                alert_raise(rule=made, fingerprint="f" * 64, kind="bot.error", level="critical", title="t", message="m")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_some) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    alert = Alert.objects.get()
    assert alert.count == 80
    assert AlertDelivery.objects.count() == 1


@transactional
def test_another_organizations_rule_never_fires_for_our_events(org_a, org_b, receiver):
    theirs = webhook_channel(org_b, receiver)
    rule(org_b, [theirs], kinds=["*"], min_level="info")
    event(org_a, BotFactory(organization=org_a), kind="bot.error")
    event(org_a, kind="risk.kill_switch_engaged", level="critical")
    assert not Alert.objects.exists()
    assert not AlertDelivery.objects.exists()
    # Their own events do fire.
    event(org_b, BotFactory(organization=org_b), kind="bot.error")
    assert Alert.objects.get().organization == org_b


@transactional
def test_a_rule_never_delivers_to_another_organizations_channel(org_a, org_b, receiver):
    ours, theirs = webhook_channel(org_a, receiver), webhook_channel(org_b, receiver)
    made = rule(org_a, [ours], kinds=["bot.error"])
    made.channels.add(theirs)  # written around the admin's check
    event(org_a, BotFactory(organization=org_a))
    assert list(AlertDelivery.objects.values_list("channel_id", flat=True)) == [ours.pk]


@transactional
def test_a_rolled_back_event_sends_nothing(org_a, receiver, celery_worker):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["bot.error"])
    bot = BotFactory(organization=org_a)
    with pytest.raises(RuntimeError), transaction.atomic():
        event(org_a, bot)
        raise RuntimeError("the write fails after the event")
    assert not BotEvent.objects.filter(kind="bot.error").exists()
    assert not Alert.objects.exists() and not AlertDelivery.objects.exists()
    # A committed one afterwards is delivered, and it is the only request the receiver saw.
    event(org_a, bot)
    wait_delivered(Alert.objects.get())
    assert len(receiver.received) == 1


@transactional
def test_disabled_rules_and_channels_send_nothing(org_a, receiver):
    on, off = webhook_channel(org_a, receiver, name="on"), webhook_channel(org_a, receiver, name="off")
    off.enabled = False
    off.save()
    rule(org_a, [on, off], kinds=["bot.error"])
    muted = rule(org_a, [on], kinds=["bot.error"], name="muted")
    muted.enabled = False
    muted.save()
    event(org_a, BotFactory(organization=org_a))
    assert list(AlertDelivery.objects.values_list("channel_id", flat=True)) == [on.pk]
    assert Alert.objects.get().rule.name != "muted"


@pytest.mark.django_db
def test_rules_are_read_once_per_organization_and_cached(org_a, org_b, receiver):
    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["bot.error"])
    with CaptureQueriesContext(connection) as first:
        rules_for([org_a.pk, org_b.pk])
    with CaptureQueriesContext(connection) as again:
        found = rules_for([org_a.pk, org_b.pk])
    assert len(first) == 1 and len(again) == 0
    assert [r.patterns for r in found[org_a.pk]] == [("bot.error",)] and found[org_b.pk] == []
    # An event no rule wants costs no query at all.
    quiet = BotEvent(organization=org_b, kind="bot.error", level="error", message="x")
    with CaptureQueriesContext(connection) as matching:
        assert alerts_for_events(events=[quiet]) == []
    assert len(matching) == 0


@pytest.mark.django_db
def test_an_event_no_rule_wants_leaves_no_commit_callback(org_a, org_b, receiver, django_capture_on_commit_callbacks):
    rule(org_b, [webhook_channel(org_b, receiver)], kinds=["*"])
    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["risk."], min_level="critical")
    rules_for([org_a.pk, org_b.pk])  # warm the cache, as a busy process has it
    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as queries:
        events_raised([BotEvent(organization=org_a, kind="bot.error", level="error", message="x")])
        events_raised([BotEvent(organization=org_a, kind="risk.rejected", level="warning", message="x")])
    assert callbacks == [] and len(queries) == 0
    with django_capture_on_commit_callbacks() as callbacks:
        events_raised([BotEvent(organization=org_a, kind="risk.kill_switch_engaged", level="critical", message="x")])
    assert [c.__module__ for c in callbacks] == ["alerts.services"]
