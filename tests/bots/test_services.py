"""Lifecycle services: roles, validation, kill switch and the audit trail."""

import pytest
from django.utils import timezone

from bots.errors import IllegalTransition
from bots.models import Bot, BotEvent, EventSource
from bots.services import bot_restart, bot_start, bot_stop
from bots.state import BotStatus
from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import Role
from risk.services import kill_switch_engage
from tests.factories import BotFactory, ExchangeAccountFactory


@pytest.fixture
def bot(org_a):
    return BotFactory(organization=org_a, strategy="grid", params={"levels": 5})


def test_a_trader_starts_a_native_bot_and_it_is_due_at_once(bot, member):
    trader = member(Role.TRADER)
    bot_start(bot=bot, user=trader, source=EventSource.API)

    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING
    assert bot.desired_status == BotStatus.RUNNING
    assert bot.next_tick_at is not None and bot.next_tick_at <= timezone.now()
    kinds = list(BotEvent.objects.filter(bot=bot).order_by("id").values_list("kind", "actor", "source"))
    assert kinds == [("bot.starting", trader.pk, "api"), ("bot.running", trader.pk, "api")]


def test_a_viewer_cannot_start_a_bot(bot, member):
    with pytest.raises(PermissionDeniedError, match="trader role"):
        bot_start(bot=bot, user=member(Role.VIEWER))
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_a_member_of_another_org_cannot_start_it(bot, bob):
    with pytest.raises(PermissionDeniedError):
        bot_start(bot=bot, user=bob)


def test_invalid_params_are_refused_naming_the_field(bot, member):
    Bot.objects.filter(pk=bot.pk).update(params={"levels": 1})
    bot.refresh_from_db()
    with pytest.raises(ApplicationError) as caught:
        bot_start(bot=bot, user=member(Role.TRADER))
    assert caught.value.field == "params.levels"
    assert "at least 2" in caught.value.message
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert not BotEvent.objects.filter(bot=bot).exists()


def test_live_mode_needs_admin_and_a_verified_account(org_a, member):
    real = ExchangeAccountFactory(organization=org_a, exchange="binance", status="unverified")
    bot = BotFactory(organization=org_a, exchange_account=real, mode="live")
    with pytest.raises(PermissionDeniedError, match="admin role"):
        bot_start(bot=bot, user=member(Role.TRADER))
    admin = member(Role.ADMIN)
    with pytest.raises(ApplicationError, match="verified"):
        bot_start(bot=bot, user=admin)
    real.status, real.last_verified_at = "active", timezone.now()
    real.save()
    with pytest.raises(ApplicationError, match="credentials: an API key and an API secret") as caught:
        bot_start(bot=bot, user=admin)
    assert caught.value.field == "exchange_account"
    real.api_key, real.api_secret = "live-key-0001", "live-secret-0001"
    real.save()
    bot_start(bot=bot, user=admin)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING


def test_a_paper_bot_cannot_use_a_real_account(org_a, alice):
    real = ExchangeAccountFactory(organization=org_a, exchange="binance")
    bot = BotFactory(organization=org_a, exchange_account=real, mode="paper")
    with pytest.raises(ApplicationError, match="paper bot must use paper accounts") as caught:
        bot_start(bot=bot, user=alice)
    assert caught.value.field == "exchange_account"


def test_arbitrage_needs_a_second_account(org_a, alice):
    bot = BotFactory(organization=org_a, strategy="arbitrage")
    with pytest.raises(ApplicationError, match="two accounts"):
        bot_start(bot=bot, user=alice)


def test_stop_goes_through_stopping_and_clears_the_schedule(bot, alice):
    bot_start(bot=bot, user=alice)
    bot_stop(bot=bot, user=alice, source=EventSource.DASHBOARD)
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED
    assert bot.desired_status == BotStatus.STOPPED
    assert bot.next_tick_at is None
    assert list(BotEvent.objects.filter(bot=bot).order_by("id").values_list("kind", flat=True)) == [
        "bot.starting",
        "bot.running",
        "bot.stopping",
        "bot.stopped",
    ]


def test_stopping_a_stopped_bot_is_a_clear_error(bot, alice):
    with pytest.raises(IllegalTransition, match="only a starting or running bot"):
        bot_stop(bot=bot, user=alice)


def test_restart_counts(bot, alice):
    bot_start(bot=bot, user=alice)
    bot_restart(bot=bot, user=alice)
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING
    assert bot.restart_count == 1


def test_nothing_starts_while_the_kill_switch_is_engaged(bot, alice, org_a):
    kill_switch_engage(organization=org_a, user=alice, reason="drill")
    with pytest.raises(ApplicationError, match="kill switch"):
        bot_start(bot=bot, user=alice)
