"""Execution engines: bots starts and stops a non-native bot through the engine its app
registered, and says clearly when no such engine is installed."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from bots import engines
from bots.models import Bot, BotEvent, BotExecution
from bots.services import bot_start, bot_stop
from bots.state import BotStatus
from core import events
from core.errors import ApplicationError
from hummingbot.engine import HummingbotEngine
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db


class RecordingEngine:
    """An engine that comes up at once and remembers what it was asked."""

    def __init__(self):
        self.calls = []

    def start(self, *, bot):
        from bots.services import bot_transition

        self.calls.append(("start", bot.pk))
        bot_transition(bot=bot, target=BotStatus.RUNNING, reason="engine up")

    def stop(self, *, bot, cancel_orders):
        from bots.services import bot_transition

        self.calls.append(("stop", bot.pk, cancel_orders))
        bot_transition(bot=bot, target=BotStatus.STOPPED, reason="engine down")


def test_the_hummingbot_app_registers_its_engine():
    assert isinstance(engines.engine_for(BotExecution.HUMMINGBOT), HummingbotEngine)


def test_an_execution_without_an_engine_is_a_clear_error_and_changes_nothing(org_a, alice, monkeypatch):
    monkeypatch.delitem(engines._engines, BotExecution.HUMMINGBOT)
    bot = BotFactory(organization=org_a, execution=BotExecution.HUMMINGBOT)
    with pytest.raises(ApplicationError, match="No execution engine for 'hummingbot'") as refused:
        bot_start(bot=bot, user=alice)
    assert refused.value.field == "execution"
    bot = Bot.objects.get(pk=bot.pk)
    assert (bot.status, bot.desired_status) == (BotStatus.STOPPED, BotStatus.STOPPED)
    assert not BotEvent.objects.filter(bot=bot).exists()


def test_start_and_stop_go_through_the_registered_engine(org_a, alice, monkeypatch):
    engine = RecordingEngine()
    monkeypatch.setitem(engines._engines, BotExecution.HUMMINGBOT, engine)
    bot = BotFactory(organization=org_a, execution=BotExecution.HUMMINGBOT)
    bot_start(bot=bot, user=alice)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    bot_stop(bot=Bot.objects.get(pk=bot.pk), user=alice, cancel_orders=False)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert engine.calls == [("start", bot.pk), ("stop", bot.pk, False)]
    messages = list(BotEvent.objects.filter(bot=bot).order_by("pk").values_list("message", flat=True))
    assert any("engine up" in m for m in messages) and any("engine down" in m for m in messages)


def test_a_native_bot_never_asks_an_engine(org_a, alice, monkeypatch):
    monkeypatch.setattr(engines, "_engines", {})
    bot = BotFactory(organization=org_a)
    bot_start(bot=bot, user=alice)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING


def test_lower_apps_write_the_event_log_through_the_installed_writer(org_a):
    event = events.event_record(organization_id=org_a.pk, kind="exchange.verified", message="account checked")
    stored = BotEvent.objects.get(pk=event.pk)
    assert (stored.bot_id, stored.kind, stored.organization_id) == (None, "exchange.verified", org_a.pk)


def test_without_an_event_log_installed_recording_refuses(org_a, monkeypatch):
    monkeypatch.setattr(events, "_writer", None)
    with pytest.raises(ImproperlyConfigured, match="No event log is installed"):
        events.event_record(organization_id=org_a.pk, kind="x", message="y")
    assert not BotEvent.objects.exists()
