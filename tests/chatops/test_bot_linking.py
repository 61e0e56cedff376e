"""Linking through the running bot: `/start <code>` from the deep link links the chat, a bad code
is answered, an unknown chat gets a polite refusal and nothing else, `/unlink` works from the
chat, group chats are refused."""

import pytest

from bots.models import BotEvent
from chatops.bot import NOT_LINKED, PRIVATE_ONLY
from chatops.models import TelegramLink
from chatops.services import link_code_create
from organizations.models import Role

pytestmark = pytest.mark.django_db(transaction=True)
CHAT = 4242


def test_start_with_the_code_links_and_unlink_unlinks(running_bot, botapi, member, org_a):
    user = member(Role.TRADER)
    code, _ = link_code_create(user=user)
    botapi.send_text(CHAT, f"/start {code}", username="trader_t")
    reply = botapi.wait_sent(CHAT)[-1]
    assert reply.text.startswith(f"Linked to {user.get_username()}") and org_a.name in reply.text
    link = TelegramLink.objects.get(chat_id=CHAT)
    assert (link.user, link.username) == (user, "trader_t")
    assert code not in reply.text

    botapi.send_text(CHAT, "/help")
    assert "/unlink" in botapi.wait_sent(CHAT, 2)[-1].text
    botapi.send_text(CHAT, "/unlink")
    assert botapi.wait_sent(CHAT, 3)[-1].text.startswith("Unlinked")
    assert not TelegramLink.objects.exists()
    assert list(BotEvent.objects.filter(kind__startswith="telegram.").values_list("kind", "source")) in (
        [("telegram.unlinked", "telegram"), ("telegram.linked", "telegram")],
        [("telegram.linked", "telegram"), ("telegram.unlinked", "telegram")],
    )


def test_an_unknown_chat_gets_a_polite_refusal_and_nothing_else(running_bot, botapi, member):
    for text in ("/status", "hello", "/help", "/start", "/unlink"):
        botapi.send_text(CHAT, text)
    replies = botapi.wait_sent(CHAT, 5)
    assert [r.text for r in replies] == [NOT_LINKED] * 5
    assert all(r.reply_markup is None for r in replies)
    assert not TelegramLink.objects.exists() and not BotEvent.objects.exists()


def test_a_bad_or_used_code_is_answered_and_links_nothing(running_bot, botapi, member):
    user = member(Role.VIEWER)
    botapi.send_text(CHAT, "/start not-a-real-code-at-all-000")
    assert "unknown, already used or expired" in botapi.wait_sent(CHAT)[-1].text
    code, _ = link_code_create(user=user)
    botapi.send_text(CHAT, f"/start {code}")
    botapi.wait_sent(CHAT, 2)
    botapi.send_text(CHAT + 1, f"/start {code}")
    assert "unknown, already used or expired" in botapi.wait_sent(CHAT + 1)[-1].text
    assert list(TelegramLink.objects.values_list("chat_id", flat=True)) == [CHAT]


def test_group_chats_are_refused(running_bot, botapi, member):
    code, _ = link_code_create(user=member(Role.OWNER))
    botapi.send_text(-100500, f"/start {code}", chat_type="group")
    assert botapi.wait_sent(-100500)[-1].text == PRIVATE_ONLY
    assert not TelegramLink.objects.exists()
