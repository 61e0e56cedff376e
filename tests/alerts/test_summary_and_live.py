"""The daily summary (beat job) and the live update an alert publishes."""

import asyncio
import datetime as dt
import json
from decimal import Decimal

import pytest
from celery.schedules import crontab
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from alerts.models import Alert, AlertDelivery
from alerts.services import summaries_send, summary_figures
from alerts.tasks import daily_summary
from bots.live import group_for
from bots.models import Bot
from bots.services import bot_event_record
from tests.alerts.conftest import rule, wait_delivered, webhook_channel
from tests.factories import BotFactory, OrderFactory, PositionFactory

YESTERDAY = (timezone.now() - dt.timedelta(days=1)).date()
NOON = dt.datetime.combine(YESTERDAY, dt.time(12), tzinfo=dt.UTC)


def a_day_of_trading(org):
    running = BotFactory(organization=org, name="Runner")
    broken = BotFactory(organization=org, name="Broken")
    Bot.objects.filter(pk=running.pk).update(status="running")
    Bot.objects.filter(pk=broken.pk).update(status="error")
    for pnl, fees in (("12.5", "0.5"), ("-3", "1")):
        PositionFactory(
            bot=running, realized_pnl=Decimal(pnl), fees_paid=Decimal(fees), quantity=0, opened_at=NOON, closed_at=NOON
        )
    PositionFactory(bot=running, realized_pnl=Decimal("99"), closed_at=NOON - dt.timedelta(days=1))  # another day
    for status in ("filled", "filled", "canceled"):
        order = OrderFactory(bot=running, status=status)
        type(order).objects.filter(pk=order.pk).update(created_at=NOON)
    OrderFactory(bot=running)  # today: not in yesterday's figures
    return running, broken


@pytest.mark.django_db
def test_the_figures_of_a_day(org_a, org_b):
    a_day_of_trading(org_a)
    a_day_of_trading(org_b)  # never counted for org A
    figures = summary_figures(organization_id=org_a.pk, day=YESTERDAY)
    assert figures | {} == {
        "day": YESTERDAY.isoformat(),
        "bots": {"error": 1, "running": 1},
        "bots_running": 1,
        "bots_error": 1,
        "realized_pnl": "8",  # (12.5 - 0.5) + (-3 - 1)
        "positions_closed": 2,
        "orders_placed": 3,
        "orders_filled": 2,
        "alerts": 0,
        "alerts_critical": 0,
        "alert_occurrences": 0,
    }


@pytest.mark.django_db(transaction=True)
def test_the_daily_summary_goes_to_subscribed_rules_once(org_a, org_b, receiver, celery_worker):
    a_day_of_trading(org_a)
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["summary.daily"], name="summary")
    rule(org_a, [channel], kinds=["bot."], name="not for summaries")
    rule(org_b, [webhook_channel(org_b, receiver)], kinds=["bot."], name="theirs")
    old = Alert.objects.create(
        organization=org_a,
        rule=org_a.alertrules.get(name="not for summaries"),
        kind="bot.error",
        fingerprint="x",
        level="critical",
        title="Bot in error",
        message="m",
        first_at=NOON,
        last_at=NOON,
        count=7,
    )

    assert daily_summary.apply().get() == 1
    summary = Alert.objects.get(kind="summary.daily")
    assert summary.organization == org_a and summary.level == "info"
    assert summary.title == f"Daily summary {YESTERDAY.isoformat()}"
    assert "Bots: 1 running, 1 in error." in summary.message
    assert "Realized PnL: 8 (2 position(s) closed)." in summary.message
    assert "Orders: 3 placed, 2 filled." in summary.message
    assert "Alerts: 1 (1 critical, 7 occurrence(s))." in summary.message
    assert old.pk != summary.pk
    [request] = receiver.wait_for(1)
    assert request.fields["kind"] == "summary.daily" and request.fields["data"]["orders_filled"] == 2
    wait_delivered(summary)
    # Run again (a beat restart, two beats by mistake): nothing new is sent.
    assert summaries_send(day=YESTERDAY) == []
    assert Alert.objects.filter(kind="summary.daily").count() == 1
    assert AlertDelivery.objects.filter(alert=summary).count() == 1


def test_beat_runs_the_summary_at_five_past_midnight_utc():
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "alerts.tasks.daily_summary")
    assert entry["schedule"] == crontab(minute=5, hour=0)
    assert settings.CELERY_TIMEZONE == "UTC"


class Listener:
    """A channel-layer client on one event loop of its own (the layer's receive buffers belong to
    the loop that first used them)."""

    def __init__(self, *organization_ids):
        self.loop = asyncio.new_event_loop()
        self.layer = get_channel_layer()
        self.channels = {}
        for org_id in organization_ids:
            name = self.loop.run_until_complete(self.layer.new_channel())
            self.loop.run_until_complete(self.layer.group_add(group_for(org_id), name))
            self.channels[org_id] = name

    def frames(self, org_id, seconds=1.0):
        """Every live frame the organization's group got within `seconds`, decoded."""
        got = []

        async def drain():
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channels[org_id]), seconds)
                except TimeoutError:
                    return
                got.extend(json.loads(text) for text in message.get("frames", []))

        self.loop.run_until_complete(drain())
        return got

    def close(self):
        for org_id, name in self.channels.items():
            self.loop.run_until_complete(self.layer.group_discard(group_for(org_id), name))
        self.loop.close()


@pytest.mark.django_db(transaction=True)
def test_a_new_alert_is_published_to_its_organization_only(org_a, org_b, receiver):
    rule(org_a, [webhook_channel(org_a, receiver)], kinds=["bot.error"])
    listener = Listener(org_a.pk, org_b.pk)
    try:
        bot = BotFactory(organization=org_a, name="Grid")
        bot_event_record(organization_id=org_a.pk, bot=bot, kind="bot.error", message="boom", level="error")
        alert = Alert.objects.get()
        assert [f for f in listener.frames(org_a.pk) if f["kind"] == "alert"] == [
            {
                "kind": "alert",
                "organization": org_a.pk,
                "alert": {
                    "id": alert.pk,
                    "level": "critical",
                    "title": "Bot in error: Grid",
                    "message": "boom",
                    "created_at": alert.first_at.isoformat(),
                },
            }
        ]
        assert listener.frames(org_b.pk, 0.3) == []
        # A folded repeat publishes no new alert.
        bot_event_record(organization_id=org_a.pk, bot=bot, kind="bot.error", message="boom", level="error")
        assert [f for f in listener.frames(org_a.pk) if f["kind"] == "alert"] == []
        assert Alert.objects.get().count == 2
    finally:
        listener.close()
