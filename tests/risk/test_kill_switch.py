"""Kill switches stop every bot in scope and are audited."""

import pytest

from bots.models import BotEvent
from bots.services import bot_start
from bots.state import BotStatus
from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import Role
from risk.models import KillSwitch
from risk.selectors import kill_switch_engaged
from risk.services import kill_switch_engage, kill_switch_release
from tests.factories import BotFactory


def running_bot(org, user):
    bot = BotFactory(organization=org)
    bot_start(bot=bot, user=user)
    return bot


def test_engaging_stops_only_the_organizations_bots(org_a, org_b, alice, bob):
    mine = [running_bot(org_a, alice) for _ in range(3)]
    theirs = running_bot(org_b, bob)

    kill_switch_engage(organization=org_a, user=alice, reason="exchange incident")

    for bot in mine:
        bot.refresh_from_db()
        assert bot.status == BotStatus.STOPPED
    theirs.refresh_from_db()
    assert theirs.status == BotStatus.RUNNING
    assert kill_switch_engaged(organization_id=org_a.pk)
    assert not kill_switch_engaged(organization_id=org_b.pk)
    event = BotEvent.objects.get(kind="risk.kill_switch_engaged")
    assert event.organization_id == org_a.pk and event.actor_id == alice.pk and event.level == "critical"


def test_release_leaves_bots_stopped(org_a, alice):
    bot = running_bot(org_a, alice)
    kill_switch_engage(organization=org_a, user=alice, reason="drill")
    kill_switch_release(organization=org_a, user=alice)
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED
    assert not kill_switch_engaged(organization_id=org_a.pk)
    assert KillSwitch.objects.count() == 1


def test_the_global_switch_covers_everyone_and_needs_a_superuser(org_a, org_b, alice, bob, superuser):
    a, b = running_bot(org_a, alice), running_bot(org_b, bob)
    with pytest.raises(PermissionDeniedError):
        kill_switch_engage(organization=None, user=alice, reason="no")
    kill_switch_engage(organization=None, user=superuser, reason="market halt")
    for bot in (a, b):
        bot.refresh_from_db()
        assert bot.status == BotStatus.STOPPED
    assert kill_switch_engaged(organization_id=org_b.pk)


def test_a_trader_cannot_engage_it(org_a, member):
    with pytest.raises(PermissionDeniedError, match="admin role"):
        kill_switch_engage(organization=org_a, user=member(Role.TRADER), reason="x")


def test_a_reason_is_required(org_a, alice):
    with pytest.raises(ApplicationError) as caught:
        kill_switch_engage(organization=org_a, user=alice, reason="  ")
    assert caught.value.field == "reason"
    assert not KillSwitch.objects.exists()
