"""Delivery through a real Celery worker to loopback servers that speak Telegram's Bot API and the
webhook APIs: message bodies, Retry-After honoured, permanent refusals recorded, retries with
backoff, HMAC signatures a receiver can verify; email through Django's mail backend."""

import hashlib
import hmac
import json
import time

import pytest
from django.core import mail

from alerts.models import Alert, AlertChannel, AlertDelivery, DeliveryStatus
from alerts.tasks import alert_deliver
from bots.services import bot_event_record
from tests.alerts.conftest import SIGNING_SECRET, TOKEN, rule, telegram_channel, wait_delivered, webhook_channel
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)


def raise_bot_error(org, bot=None, *, kind="bot.error", level="error", message="running → error: exchange down"):
    bot = bot or BotFactory(organization=org, name="Grid BTC")
    bot_event_record(organization_id=org.pk, bot=bot, kind=kind, message=message, level=level)
    return bot


def test_a_bot_error_reaches_telegram_as_a_send_message_call(org_a, telegram, celery_worker):
    channel = telegram_channel(org_a, telegram)
    rule(org_a, [channel], kinds=["bot.error"], min_level="critical")
    raise_bot_error(org_a)

    [request] = telegram.wait_for(1)
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.fields["chat_id"] == "-100200300"
    assert request.fields["parse_mode"] == "HTML"
    assert request.fields["text"].startswith("<b>[CRITICAL] Bot in error: Grid BTC</b>\n")
    assert "running → error: exchange down" in request.fields["text"]
    [delivery] = wait_delivered(Alert.objects.get())
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 1, "")
    assert delivery.sent_at is not None


def test_telegram_429_retry_after_is_honoured_then_the_message_goes_out(org_a, telegram, celery_worker):
    telegram.too_many_requests(2)
    channel = telegram_channel(org_a, telegram)
    rule(org_a, [channel], kinds=["bot."])
    raise_bot_error(org_a)

    first, second = telegram.wait_for(2)
    # The worker's own backoff is 0.2 s: only Telegram's retry_after explains a 2 s wait.
    assert second.at - first.at >= 1.9
    assert first.fields["text"] == second.fields["text"]
    [delivery] = wait_delivered(Alert.objects.get())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    assert len(telegram.received) == 2


def test_a_telegram_400_is_a_permanent_failure_recorded_without_the_token(org_a, telegram, celery_worker):
    telegram.bad_request("Bad Request: chat not found")
    channel = telegram_channel(org_a, telegram)
    rule(org_a, [channel], kinds=["bot.error"])
    raise_bot_error(org_a)

    [delivery] = wait_delivered(Alert.objects.get())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "chat not found" in delivery.last_error.lower()
    assert TOKEN not in delivery.last_error and TOKEN.split(":")[1] not in delivery.last_error
    time.sleep(1.5)  # several backoff periods: nothing is retried
    assert len(telegram.received) == 1


def test_a_generic_webhook_is_signed_so_the_receiver_can_verify_it(org_a, receiver, celery_worker):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["risk."], min_level="warning")
    bot = BotFactory(organization=org_a)
    bot_event_record(
        organization_id=org_a.pk,
        bot=bot,
        kind="risk.rejected",
        message="Order notional 5000 over the 1000 limit",
        level="warning",
        data={"code": "max_notional"},
    )

    [request] = receiver.wait_for(1)
    assert request.path == "/hooks/T000/B000/XXXXsecretpath"
    # What a receiver does (docs/alerts.md): HMAC-SHA256 of the raw body with the shared secret.
    expected = "sha256=" + hmac.new(SIGNING_SECRET.encode(), request.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Signature"], expected)
    body = json.loads(request.raw)
    assert str(body["timestamp"]) == request.headers["X-Timestamp"]
    assert abs(body["timestamp"] - time.time()) < 60
    assert body["kind"] == "risk.rejected" and body["level"] == "warning"
    assert body["bot"] == {"id": bot.pk, "name": bot.name}
    assert body["data"]["code"] == "max_notional"
    assert body["organization"] == org_a.pk and body["count"] == 1
    assert request.headers["X-Delivery"] == str(AlertDelivery.objects.get().pk)
    # A tampered body no longer verifies.
    forged = hmac.new(SIGNING_SECRET.encode(), request.raw.replace(b"warning", b"info"), hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers["X-Signature"], "sha256=" + forged)
    assert wait_delivered(Alert.objects.get())[0].status == DeliveryStatus.SENT


def test_server_errors_are_retried_with_backoff_until_success(org_a, receiver, celery_worker):
    receiver.then(502, {"error": "bad gateway"}).then(503, {"error": "unavailable"})
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["bot.error"])
    raise_bot_error(org_a)

    first, second, third = receiver.wait_for(3)
    assert second.at - first.at >= 0.15 and third.at - second.at >= 0.3  # 0.2 s, then 0.4 s (±20 %)
    [delivery] = wait_delivered(Alert.objects.get())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 3)


def test_a_webhook_that_keeps_failing_gives_up_after_the_last_attempt(org_a, receiver, celery_worker):
    for _ in range(10):
        receiver.then(500, {"error": "boom"})
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["bot.error"])
    raise_bot_error(org_a)

    [delivery] = wait_delivered(Alert.objects.get())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 4)  # ALERTS_MAX_ATTEMPTS in the worker
    assert "answered 500" in delivery.last_error
    assert "secretpath" not in delivery.last_error
    assert len(receiver.received) == 4


def test_slack_gets_text_and_discord_gets_content_with_its_retry_after(org_a, slack, discord, celery_worker):
    discord.then(429, {"message": "You are being rate limited.", "retry_after": 1.5, "global": False})
    to_slack = webhook_channel(org_a, slack, kind="slack")
    to_discord = webhook_channel(org_a, discord, kind="discord", path="/api/webhooks/1/tok")
    rule(org_a, [to_slack, to_discord], kinds=["risk.kill_switch_engaged"])
    bot_event_record(
        organization_id=org_a.pk, kind="risk.kill_switch_engaged", message="Kill switch engaged", level="critical"
    )

    [to_s] = slack.wait_for(1)
    assert set(to_s.fields) == {"text"} and "Kill switch engaged" in to_s.fields["text"]
    first, second = discord.wait_for(2)
    assert first.fields["content"].startswith("[CRITICAL] Kill switch engaged")
    assert first.fields["allowed_mentions"] == {"parse": []}
    assert second.at - first.at >= 1.4
    deliveries = {d.channel_id: d for d in wait_delivered(Alert.objects.get())}
    assert (deliveries[to_slack.pk].status, deliveries[to_slack.pk].attempts) == (DeliveryStatus.SENT, 1)
    assert (deliveries[to_discord.pk].status, deliveries[to_discord.pk].attempts) == (DeliveryStatus.SENT, 2)


def test_a_discord_404_is_not_retried(org_a, discord, celery_worker):
    discord.then(404, {"message": "Unknown Webhook", "code": 10015})
    channel = webhook_channel(org_a, discord, kind="discord", path="/api/webhooks/1/gone")
    rule(org_a, [channel], kinds=["bot.error"])
    raise_bot_error(org_a)

    [delivery] = wait_delivered(Alert.objects.get())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "Unknown Webhook" in delivery.last_error


@pytest.mark.django_db
def test_email_goes_through_the_mail_backend(org_a, django_capture_on_commit_callbacks):
    channel = AlertChannel.objects.create(
        organization=org_a, kind="email", name="ops mail", config={"emails": ["ops@alpha.example", "cto@alpha.example"]}
    )
    rule(org_a, [channel], kinds=["bot.error"])
    with django_capture_on_commit_callbacks(execute=True):
        raise_bot_error(org_a)
    delivery = AlertDelivery.objects.get()
    # The locmem outbox lives in this process, so the task runs here (as tests/hummingbot does);
    # the test's transaction is not committed, so no worker can have sent it.
    assert alert_deliver.apply(args=[delivery.pk]).get() == DeliveryStatus.SENT
    [message] = mail.outbox
    assert message.subject == "[CRITICAL] Bot in error: Grid BTC"
    assert message.to == ["ops@alpha.example", "cto@alpha.example"]
    assert "exchange down" in message.body and org_a.name in message.body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
    # A task message delivered twice sends once.
    assert alert_deliver.apply(args=[delivery.pk]).get() == DeliveryStatus.SENT
    assert len(mail.outbox) == 1
