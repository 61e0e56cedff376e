"""Webhook mode end to end: `manage.py telegram_bot` registers the webhook (setWebhook with the
secret token) on the loopback Bot API, which then posts each update to our view on a live
server, as Telegram does; the view refuses a wrong token, a body that is no update, and a mode
that is off."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from chatops.bot import webhook_runner_stop
from chatops.services import link_claim, link_code_create
from organizations.models import Role
from tests.chatops.conftest import TOKEN
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "wh_secret-0123456789"
CHAT = 9191


@pytest.fixture
def webhook_mode(settings, botapi, live_server):
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_BASE_URL = botapi.base_url.removesuffix("/bot")
    settings.TELEGRAM_MODE = "webhook"
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_WEBHOOK_URL = f"{live_server.url}/telegram/webhook/"
    yield settings
    webhook_runner_stop()


def test_the_command_sets_the_webhook_and_telegram_posts_updates_to_the_view(webhook_mode, botapi, member, org_a):
    call_command("telegram_bot", "--once")
    assert botapi.webhook["url"] == webhook_mode.TELEGRAM_WEBHOOK_URL
    assert botapi.webhook["secret_token"] == SECRET
    assert botapi.webhook["allowed_updates"] == ["message", "callback_query"]

    BotFactory(organization=org_a, name="alpha-grid")
    code, _ = link_code_create(user=member(Role.TRADER))
    update_id = botapi.send_text(CHAT, f"/start {code}")
    assert botapi.wait_delivered(update_id) == [200]
    assert botapi.wait_sent(CHAT, 1)[-1].text.startswith("Linked to ")
    update_id = botapi.send_text(CHAT, "/bots")
    assert botapi.wait_delivered(update_id) == [200]
    assert "alpha-grid: stopped" in botapi.wait_sent(CHAT, 2)[-1].text
    # Buttons arrive the same way.
    botapi.send_text(CHAT, "/start alpha-grid")
    question = botapi.wait_sent(CHAT, 3)[-1]
    query = botapi.press(question, "cancel")
    assert botapi.wait_answered(query)
    assert botapi.wait_sent(CHAT, 4)[-1].text.startswith("Cancelled")
    # Telegram refuses long polling while the webhook is set, as the real one does.
    assert "getUpdates" not in botapi.calls


def test_a_wrong_or_missing_secret_token_is_refused_and_nothing_is_answered(webhook_mode, botapi, member):
    link_claim(code=link_code_create(user=member(Role.VIEWER))[0], chat_id=CHAT)
    call_command("telegram_bot", "--once")
    botapi.webhook["secret_token"] = "not-the-secret"
    update_id = botapi.send_text(CHAT, "/help")
    assert botapi.wait_delivered(update_id) == [403, 403, 403]
    botapi.webhook["secret_token"] = None
    assert botapi.wait_delivered(botapi.send_text(CHAT, "/help")) == [403, 403, 403]
    assert not [s for s in botapi.sent if s.chat_id == CHAT]


def test_garbage_bodies_get_400_and_an_off_webhook_404(webhook_mode, live_server):
    client = Client()
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": SECRET}
    url = "/telegram/webhook/"
    assert client.post(url, "not json", content_type="application/json", **headers).status_code == 400
    assert client.post(url, json.dumps([1, 2]), content_type="application/json", **headers).status_code == 400
    assert (
        client.post(url, json.dumps({"update_id": "x"}), content_type="application/json", **headers).status_code == 400
    )
    assert client.get(url, **headers).status_code == 405
    webhook_mode.TELEGRAM_MODE = "polling"
    assert client.post(url, json.dumps({"update_id": 1}), content_type="application/json", **headers).status_code == 404


def test_webhook_mode_refuses_to_register_without_an_https_url_or_a_valid_secret(webhook_mode):
    webhook_mode.TELEGRAM_WEBHOOK_URL = "http://example.com/telegram/webhook/"
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_URL"):
        call_command("telegram_bot", "--once")
    webhook_mode.TELEGRAM_WEBHOOK_URL = "https://desk.example.com/telegram/webhook/"
    webhook_mode.TELEGRAM_WEBHOOK_SECRET = "has spaces!"
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("telegram_bot", "--once")
