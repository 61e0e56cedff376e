"""Alerts to linked members (a `members` channel) through the platform's bot: each member of the
alert's organization with a linked chat gets it, with the buttons their role allows; a trader
stops the bot from the alert (asked first, audited with Telegram as the source), a viewer's
forged stop is refused, and nobody outside the organization hears of it."""

import pytest
from django.core.exceptions import ValidationError

from alerts.models import AlertChannel, AlertDelivery
from alerts.services import delivery_attempt
from bots.models import Bot, BotEvent
from bots.state import BotStatus
from chatops.models import TelegramLink
from chatops.services import link_claim, link_code_create
from organizations.models import Role
from tests.chatops.conftest import TOKEN
from tests.factories import AlertDeliveryFactory, AlertFactory, BotFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
TRADER, VIEWER, OUTSIDER, ADMIN = 4001, 4002, 4003, 4004


@pytest.fixture
def platform_bot(settings, botapi):
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_BASE_URL = botapi.base_url.removesuffix("/bot")
    return settings


def link(user, chat):
    return link_claim(code=link_code_create(user=user)[0], chat_id=chat)


def members_delivery(org, bot, *, min_role="viewer"):
    channel = AlertChannel.objects.create(
        organization=org,
        kind="members",
        name=f"desk-{min_role}-{AlertChannel.objects.count()}",
        config={"min_role": min_role},
    )
    alert = AlertFactory(rule__organization=org, bot=bot, kind="bot.error", title="grid-a failed", level="critical")
    return AlertDeliveryFactory(alert=alert, channel=channel)


def test_each_linked_member_gets_the_buttons_their_role_allows(platform_bot, running_bot, botapi, member, org_a, org_b):
    bot = BotFactory(organization=org_a, name="grid-a", status=BotStatus.RUNNING)
    trader, viewer = member(Role.TRADER), member(Role.VIEWER)
    link(trader, TRADER)
    link(viewer, VIEWER)
    outsider = UserFactory()
    MembershipFactory(user=outsider, organization=org_b, role=Role.OWNER)
    link(outsider, OUTSIDER)
    delivery = members_delivery(org_a, bot)

    assert delivery_attempt(delivery_id=delivery.pk).status == "sent"
    to_trader = botapi.wait_sent(TRADER, 1)[-1]
    to_viewer = botapi.wait_sent(VIEWER, 1)[-1]
    assert to_trader.text.startswith("<b>[CRITICAL] grid-a failed</b>") and "Bot: grid-a" in to_trader.text
    assert [b["callback_data"] for b in to_trader.buttons()] == [f"ab:bot:{bot.pk}", f"ab:stop:{bot.pk}"]
    assert [b["callback_data"] for b in to_viewer.buttons()] == [f"ab:bot:{bot.pk}"]
    assert not [s for s in botapi.sent if s.chat_id == OUTSIDER]

    # The trader stops the bot from the alert: a question first (a new message), then Yes.
    botapi.press(to_trader, f"ab:stop:{bot.pk}")
    question = botapi.wait_sent(TRADER, 2)[-1]
    assert question.method == "sendMessage" and question.text.startswith("Stop grid-a")
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    botapi.press(question, f"do:stop:{bot.pk}")
    assert "grid-a is stop" in botapi.wait_sent(TRADER, 3)[-1].text
    assert Bot.objects.get(pk=bot.pk).status in (BotStatus.STOPPING, BotStatus.STOPPED)
    assert BotEvent.objects.filter(bot=bot, source="telegram", actor=trader).exists()

    # The viewer's details button works; a forged stop is refused and changes nothing.
    botapi.press(to_viewer, f"ab:bot:{bot.pk}")
    assert botapi.wait_sent(VIEWER, 2)[-1].text.startswith(f"#{bot.pk} grid-a")
    Bot.objects.filter(pk=bot.pk).update(status=BotStatus.RUNNING)
    botapi.press(to_viewer, f"ab:stop:{bot.pk}", forged=True)
    assert "needs the trader role" in botapi.wait_sent(VIEWER, 3)[-1].text
    botapi.press(to_viewer, f"do:stop:{bot.pk}", forged=True)
    assert "needs the trader role" in botapi.wait_sent(VIEWER, 4)[-1].text
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING

    # An outsider forging the alert's button learns nothing about the bot.
    botapi.send_text(OUTSIDER, "/help")
    help_message = botapi.wait_sent(OUTSIDER, 1)[-1]
    botapi.press(help_message, f"ab:bot:{bot.pk}", forged=True)
    assert "not in any of your organizations" in botapi.wait_sent(OUTSIDER, 2)[-1].text


def test_an_alert_of_another_organization_switches_the_chat_to_it(platform_bot, running_bot, botapi, org_a, org_b):
    owner = UserFactory()
    MembershipFactory(user=owner, organization=org_a, role=Role.OWNER)
    MembershipFactory(user=owner, organization=org_b, role=Role.ADMIN)
    TelegramLink.objects.filter(pk=link(owner, ADMIN).pk).update(organization=org_a)
    bot = BotFactory(organization=org_b, name="beta-mm", status=BotStatus.RUNNING)
    delivery_attempt(delivery_id=members_delivery(org_b, bot).pk)
    alert = botapi.wait_sent(ADMIN, 1)[-1]
    botapi.press(alert, f"ab:stop:{bot.pk}")
    question = botapi.wait_sent(ADMIN, 2)[-1].text
    assert question.startswith("Stop beta-mm") and f"Commands now act on {org_b.name}" in question
    assert TelegramLink.objects.get(chat_id=ADMIN).organization_id == org_b.pk


def test_min_role_no_linked_member_and_a_stopped_bot(platform_bot, botapi, member, org_a):
    bot = BotFactory(organization=org_a, name="idle")  # stopped: no Stop button
    link(member(Role.VIEWER), VIEWER)
    link(member(Role.ADMIN), ADMIN)
    delivery_attempt(delivery_id=members_delivery(org_a, bot, min_role="admin").pk)
    to_admin = botapi.wait_sent(ADMIN, 1)[-1]
    assert [b["callback_data"] for b in to_admin.buttons()] == [f"ab:bot:{bot.pk}"]
    assert not [s for s in botapi.sent if s.chat_id == VIEWER]

    lonely = members_delivery(org_a, bot, min_role="owner")
    assert delivery_attempt(delivery_id=lonely.pk).status == "failed"
    assert "No member" in AlertDelivery.objects.get(pk=lonely.pk).last_error

    platform_bot.TELEGRAM_BOT_TOKEN = ""
    off = members_delivery(org_a, bot)
    assert delivery_attempt(delivery_id=off.pk).status == "failed"
    assert "TELEGRAM_BOT_TOKEN" in AlertDelivery.objects.get(pk=off.pk).last_error


def test_a_members_channel_validates_its_role_and_takes_no_secret(org_a):
    channel = AlertChannel(organization=org_a, kind="members", name="m", config={"min_role": "boss"})
    with pytest.raises(ValidationError, match="min_role"):
        channel.full_clean()
    channel.config, channel.bot_token = {}, "123:abc"
    with pytest.raises(ValidationError, match="takes no secret"):
        channel.full_clean()
    channel.bot_token = ""
    channel.full_clean()
