"""/stopall and /kill through the running bot (asked first, then the services with Telegram as
the source, within the member's role), and the per-chat rate limit."""

import time

import pytest

from bots.models import Bot, BotEvent
from bots.state import BotStatus
from chatops.bot import ChatRateLimit
from chatops.services import link_claim, link_code_create
from organizations.models import Role
from risk.models import KillSwitch
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)
CHAT = 6161


def linked_chat(user, chat=CHAT):
    return link_claim(code=link_code_create(user=user)[0], chat_id=chat)


def test_stopall_stops_every_running_bot_after_the_question(running_bot, botapi, member, org_a, org_b):
    trader = member(Role.TRADER)
    ours = [BotFactory(organization=org_a, name=f"run-{i}", status=BotStatus.RUNNING) for i in range(3)]
    idle = BotFactory(organization=org_a, name="idle")
    theirs = BotFactory(organization=org_b, name="theirs", status=BotStatus.RUNNING)
    linked_chat(trader)

    botapi.send_text(CHAT, "/stopall")
    question = botapi.wait_sent(CHAT, 1)[-1]
    assert question.text.startswith("Stop all 3 running bots")
    assert all(Bot.objects.get(pk=b.pk).status == BotStatus.RUNNING for b in ours)
    botapi.press(question, "org:stopall")
    assert botapi.wait_sent(CHAT, 2)[-1].text.startswith("Stopping 3 bots")
    assert all(Bot.objects.get(pk=b.pk).status in (BotStatus.STOPPING, BotStatus.STOPPED) for b in ours)
    assert Bot.objects.get(pk=idle.pk).status == BotStatus.STOPPED
    assert Bot.objects.get(pk=theirs.pk).status == BotStatus.RUNNING
    assert BotEvent.objects.filter(bot__in=ours, source="telegram", actor=trader).count() >= 3

    botapi.send_text(CHAT, "/stopall")
    assert "No bot is running" in botapi.wait_sent(CHAT, 3)[-1].text


def test_kill_needs_the_admin_role_and_engages_the_switch(running_bot, botapi, member, org_a):
    linked_chat(member(Role.TRADER))
    botapi.send_text(CHAT, "/kill")
    question = botapi.wait_sent(CHAT, 1)[-1]
    botapi.press(question, "org:kill")
    assert "needs the admin role" in botapi.wait_sent(CHAT, 2)[-1].text
    assert not KillSwitch.objects.filter(organization=org_a, engaged=True).exists()

    admin = member(Role.ADMIN)
    linked_chat(admin, chat=CHAT + 1)
    botapi.send_text(CHAT + 1, "/kill")
    question = botapi.wait_sent(CHAT + 1, 1)[-1]
    botapi.press(question, "org:kill")
    assert "engaged" in botapi.wait_sent(CHAT + 1, 2)[-1].text
    switch = KillSwitch.objects.get(organization=org_a)
    assert switch.engaged and switch.changed_by == admin and "Telegram" in switch.reason
    assert BotEvent.objects.get(kind="risk.kill_switch_engaged").source == "telegram"


def test_the_rate_limit_counts_per_chat_over_a_sliding_minute():
    limit = ChatRateLimit(per_minute=2)
    assert limit.wait_seconds(1, now=0) == 0 and limit.wait_seconds(1, now=10) == 0
    assert limit.wait_seconds(1, now=20) == pytest.approx(40)
    assert limit.wait_seconds(2, now=20) == 0  # another chat has its own count
    assert limit.wait_seconds(1, now=60) == 0  # the first one left the window


def test_a_chat_over_the_limit_is_told_once_and_the_rest_dropped(strict_bot, botapi, member):
    linked_chat(member(Role.VIEWER))
    for _ in range(6):
        botapi.send_text(CHAT, "/help")
    botapi.wait_sent(CHAT, 4)
    time.sleep(0.5)  # nothing more arrives
    texts = [r.text for r in botapi.wait_sent(CHAT)]
    assert len(texts) == 4 and sum(t.startswith("Too many commands") for t in texts) == 1
    assert sum(t.startswith("Commands:") for t in texts) == 3
    # Another chat is unaffected.
    botapi.send_text(CHAT + 9, "/help")
    assert botapi.wait_sent(CHAT + 9, 1)
