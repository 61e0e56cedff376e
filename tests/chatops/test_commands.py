"""The read commands and the confirmed start/stop through the running bot, scoped to the linked
member's selected organization and roles; plus the pure helpers (splitting, paging)."""

import pytest

from bots.models import Bot, BotEvent
from bots.state import BotStatus
from chatops.commands import MAX_TEXT, PAGE, split_text
from chatops.models import TelegramLink
from chatops.services import link_claim, link_code_create
from organizations.models import Role
from risk.services import kill_switch_engage
from tests.factories import BotFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)
CHAT = 5151


def linked_chat(user, chat=CHAT):
    return link_claim(code=link_code_create(user=user)[0], chat_id=chat)


def test_split_text_keeps_every_piece_under_the_limit_and_loses_nothing():
    text = "\n".join(f"line {i} " + "x" * (i % 120) for i in range(900))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= MAX_TEXT for p in pieces)
    assert "\n".join(pieces) == text
    assert split_text("y" * (MAX_TEXT * 2 + 5)) == ["y" * MAX_TEXT, "y" * MAX_TEXT, "y" * 5]


def test_status_bots_and_bot_show_only_the_selected_organization(running_bot, botapi, member, org_a, org_b):
    user = member(Role.VIEWER)
    MembershipFactory(user=user, organization=org_b, role=Role.OWNER)
    for i in range(PAGE + 3):
        BotFactory(organization=org_a, name=f"alpha-{i:02d}")
    BotFactory(organization=org_b, name="beta-only")
    link = linked_chat(user)
    TelegramLink.objects.filter(pk=link.pk).update(organization=org_a)

    botapi.send_text(CHAT, "/status")
    status = botapi.wait_sent(CHAT, 1)[-1].text
    assert org_a.name in status and f"Bots: {PAGE + 3}" in status and "Kill switch: released" in status

    botapi.send_text(CHAT, "/bots")
    first = botapi.wait_sent(CHAT, 2)[-1]
    assert "page 1 of 2" in first.text and "alpha-00" in first.text and "beta-only" not in first.text
    query = botapi.press(first, "bots:2")
    botapi.wait_answered(query)
    second = botapi.wait_sent(CHAT, 3)[-1]
    assert second.method == "editMessageText" and second.message_id == first.message_id
    assert "page 2 of 2" in second.text and f"alpha-{PAGE + 2:02d}" in second.text

    beta = Bot.objects.get(name="beta-only")
    botapi.send_text(CHAT, f"/bot {beta.pk}")  # another organization's id
    assert "No bot" in botapi.wait_sent(CHAT, 4)[-1].text
    botapi.send_text(CHAT, "/bot ALPHA-01")
    detail = botapi.wait_sent(CHAT, 5)[-1].text
    assert "alpha-01: stopped" in detail and "No open position" in detail

    botapi.send_text(CHAT, "/org")
    assert "\u2190 current" in botapi.wait_sent(CHAT, 6)[-1].text
    botapi.send_text(CHAT, "/org beta")
    assert f"Now acting on {org_b.name}" in botapi.wait_sent(CHAT, 7)[-1].text
    botapi.send_text(CHAT, "/bot beta-only")
    assert "beta-only: stopped" in botapi.wait_sent(CHAT, 8)[-1].text
    botapi.send_text(CHAT, "/org nowhere")
    assert "not a member of 'nowhere'" in botapi.wait_sent(CHAT, 9)[-1].text


def test_start_and_stop_ask_first_and_run_through_the_services(running_bot, botapi, member, org_a):
    trader = member(Role.TRADER)
    bot = BotFactory(organization=org_a, name="trend")
    linked_chat(trader)

    botapi.send_text(CHAT, "/start trend")
    question = botapi.wait_sent(CHAT, 1)[-1]
    assert question.text.startswith("Start trend") and Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    botapi.press(question, "cancel")
    assert "Cancelled" in botapi.wait_sent(CHAT, 2)[-1].text
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED

    botapi.send_text(CHAT, f"/start {bot.pk}")
    question = botapi.wait_sent(CHAT, 3)[-1]
    botapi.wait_answered(botapi.press(question, f"do:start:{bot.pk}"))
    assert botapi.wait_sent(CHAT, 4)[-1].text == "trend is running."
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    started = BotEvent.objects.filter(bot=bot, kind="bot.running").latest("id")
    assert started.source == "telegram" and started.actor_id == trader.pk

    botapi.send_text(CHAT, "/stop trend")
    question = botapi.wait_sent(CHAT, 5)[-1]
    botapi.press(question, f"do:stop:{bot.pk}")
    botapi.wait_sent(CHAT, 6)
    assert Bot.objects.get(pk=bot.pk).status in (BotStatus.STOPPING, BotStatus.STOPPED)


def test_roles_forged_buttons_and_the_kill_switch_are_refused(running_bot, botapi, member, org_a, org_b):
    viewer, admin = member(Role.VIEWER), member(Role.ADMIN)
    bot = BotFactory(organization=org_a, name="grid")
    foreign = BotFactory(organization=org_b, name="theirs")
    linked_chat(viewer)

    botapi.send_text(CHAT, "/start grid")
    question = botapi.wait_sent(CHAT, 1)[-1]
    botapi.press(question, f"do:start:{bot.pk}")
    assert "needs the trader role" in botapi.wait_sent(CHAT, 2)[-1].text
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED

    # A forged button for another organization's bot finds nothing.
    question.reply_markup = {"inline_keyboard": [[{"text": "x", "callback_data": f"do:start:{foreign.pk}"}]]}
    botapi.press(question, f"do:start:{foreign.pk}")
    assert "No bot" in botapi.wait_sent(CHAT, 3)[-1].text
    assert Bot.objects.get(pk=foreign.pk).status == BotStatus.STOPPED

    trader_chat = CHAT + 1
    linked_chat(member(Role.TRADER), chat=trader_chat)
    kill_switch_engage(organization=org_a, user=admin, reason="drill")
    botapi.send_text(trader_chat, "/start grid")
    question = botapi.wait_sent(trader_chat, 1)[-1]
    botapi.press(question, f"do:start:{bot.pk}")
    assert "kill switch is engaged" in botapi.wait_sent(trader_chat, 2)[-1].text

    for text, answer in (("/bot", "Name the bot"), ("/start nope", "No bot 'nope'"), ("/stop grid", "only a running")):
        count = len(botapi.wait_sent(trader_chat))
        botapi.send_text(trader_chat, text)
        assert answer in botapi.wait_sent(trader_chat, count + 1)[-1].text
