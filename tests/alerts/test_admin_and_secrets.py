"""Channel secrets are encrypted at rest, write-only in admin, and never in errors or logs;
staff see and pick only their organizations' alert objects; channels are validated."""

import logging
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule
from alerts.transports import DiscordTransport, Notice, TelegramTransport, TransportError, scrub
from tests.alerts.conftest import SIGNING_SECRET, TOKEN, rule, telegram_channel, webhook_channel

pytestmark = pytest.mark.django_db


def test_channel_secrets_are_encrypted_at_rest(org_a, telegram, receiver):
    tg = telegram_channel(org_a, telegram)
    hook = webhook_channel(org_a, receiver)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bot_token, webhook_url, signing_secret FROM alerts_alertchannel WHERE id IN (%s, %s)",
            [tg.pk, hook.pk],
        )
        stored = " ".join(v for row in cursor.fetchall() for v in row)
    assert TOKEN not in stored and SIGNING_SECRET not in stored and "secretpath" not in stored
    assert stored.count("gAAAA") == 3  # Fernet tokens
    assert AlertChannel.objects.get(pk=tg.pk).bot_token == TOKEN
    assert AlertChannel.objects.get(pk=hook.pk).signing_secret == SIGNING_SECRET


def test_admin_never_shows_a_secret_and_blank_keeps_it(client, superuser, org_a, telegram):
    channel = telegram_channel(org_a, telegram)
    client.force_login(superuser)
    page = client.get(f"/admin/alerts/alertchannel/{channel.pk}/change/").content.decode()
    assert TOKEN not in page and TOKEN[-4:] in page  # masked: last four only
    answer = client.post(
        f"/admin/alerts/alertchannel/{channel.pk}/change/",
        {
            "organization": org_a.pk,
            "name": "renamed",
            "kind": "telegram",
            "enabled": "on",
            "config": '{"chat_id": "42"}',
            "bot_token": "",
            "webhook_url": "",
            "signing_secret": "",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    channel.refresh_from_db()
    assert (channel.name, channel.bot_token, channel.config) == ("renamed", TOKEN, {"chat_id": "42"})
    listing = client.get("/admin/alerts/alertchannel/").content.decode()
    assert TOKEN not in listing


def test_admin_refuses_a_secret_in_config(client, superuser, org_a):
    client.force_login(superuser)
    answer = client.post(
        "/admin/alerts/alertchannel/add/",
        {
            "organization": org_a.pk,
            "name": "leaky",
            "kind": "webhook",
            "enabled": "on",
            "config": '{"url": "https://hooks.example/T/B/x"}',
            "webhook_url": "https://hooks.example/T/B/x",
            "signing_secret": "s3cret-s3cret",
        },
    )
    assert answer.status_code == 200 and "encrypted field" in answer.content.decode()
    assert not AlertChannel.objects.exists()


def test_staff_see_and_pick_only_their_organizations_alert_objects(client, scoped_staff, org_a, org_b, receiver):
    ours, theirs = webhook_channel(org_a, receiver), webhook_channel(org_b, receiver)
    mine = rule(org_a, [ours], kinds=["bot."], name="ours")
    rule(org_b, [theirs], kinds=["bot."], name="theirs")
    client.force_login(scoped_staff)
    listing = client.get("/admin/alerts/alertrule/").content.decode()
    assert "ours" in listing and "theirs" not in listing
    assert client.get(f"/admin/alerts/alertchannel/{theirs.pk}/change/").status_code == 302  # not found → index
    form = client.get(f"/admin/alerts/alertrule/{mine.pk}/change/").content.decode()
    assert f'value="{ours.pk}"' in form and f'value="{theirs.pk}"' not in form
    answer = client.post(
        f"/admin/alerts/alertrule/{mine.pk}/change/",
        {
            "organization": org_a.pk,
            "name": "ours",
            "event_kinds": '["bot."]',
            "min_level": "warning",
            "channels": [ours.pk, theirs.pk],
            "enabled": "on",
            "dedupe_seconds": 300,
        },
    )
    assert answer.status_code == 200  # refused: not a choice
    assert list(AlertRule.objects.get(pk=mine.pk).channels.all()) == [ours]
    assert client.get("/admin/alerts/alert/").status_code == 200
    assert client.get("/admin/alerts/alertdelivery/").status_code == 200


@pytest.mark.parametrize(
    ("kind", "fields", "error"),
    [
        ("email", {"config": {"emails": ["not-an-address"]}}, "not an email address"),
        ("email", {"config": {}}, "emails"),
        ("telegram", {"config": {"chat_id": "1"}}, "bot token"),
        ("telegram", {"config": {}, "bot_token": "1:x"}, "chat_id"),
        ("webhook", {"webhook_url": "ftp://x"}, "http(s) URL"),
        ("webhook", {"webhook_url": "https://example.test/h"}, "signing secret"),
        ("slack", {"webhook_url": "https://hooks.slack.test/x", "config": {"token": "x"}}, "encrypted field"),
    ],
)
def test_channels_that_cannot_deliver_are_refused(org_a, kind, fields, error):
    channel = AlertChannel(organization=org_a, kind=kind, name="c", **fields)
    with pytest.raises(ValidationError, match=re.escape(error)):
        channel.full_clean()


def test_errors_and_logs_never_carry_the_webhook_token(org_a, caplog):
    url = "http://127.0.0.1:9/api/webhooks/123/very-secret-token"  # nothing listens on port 9
    channel = AlertChannel(organization=org_a, kind="discord", name="d", webhook_url=url)
    now = timezone.now()
    notice = Notice(
        alert_id=1,
        delivery_id=1,
        organization_id=org_a.pk,
        organization="Alpha",
        kind="bot.error",
        level="critical",
        title="t",
        message="m",
        count=1,
        first_at=now,
        last_at=now,
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransportError) as failure:
        DiscordTransport(channel).send(notice)
    assert not failure.value.permanent  # a connection error is retried
    assert "very-secret-token" not in failure.value.message
    assert "very-secret-token" not in caplog.text
    assert scrub(f"GET {url} failed", [url]) == "GET *** failed"
    assert scrub("POST http://h/api/webhooks/123/very-secret-token", [url]) == "POST http://h/***"


def test_admin_changelists_take_a_fixed_number_of_queries(client, superuser, org_a, org_b, receiver):
    def add_rows(org, n):
        channel = webhook_channel(org, receiver, name=f"hook-{org.slug}-{AlertChannel.objects.count()}")
        made = rule(org, [channel], kinds=["bot."], name=f"rule-{org.slug}-{AlertRule.objects.count()}")
        now = timezone.now()
        for i in range(n):
            alert = Alert.objects.create(
                organization=org,
                rule=made,
                kind="bot.error",
                fingerprint=f"{made.pk}-{i}",
                level="critical",
                title="t",
                message="m",
                first_at=now,
                last_at=now,
            )
            AlertDelivery.objects.create(organization=org, alert=alert, channel=channel)

    client.force_login(superuser)
    pages = ["alertchannel", "alertrule", "alert", "alertdelivery"]

    def counts():
        found = {}
        for page in pages:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(f"/admin/alerts/{page}/").status_code == 200
            found[page] = len(queries)
        return found

    add_rows(org_a, 2)
    few = counts()
    for _ in range(4):
        add_rows(org_b, 5)
    assert counts() == few


def test_a_telegram_send_logs_nothing_that_holds_the_token(org_a, telegram, caplog):
    channel = telegram_channel(org_a, telegram)
    now = timezone.now()
    notice = Notice(
        alert_id=1,
        delivery_id=1,
        organization_id=org_a.pk,
        organization="Alpha <Capital>",
        kind="bot.error",
        level="critical",
        title="Bot in error: <grid>",
        message="a & b",
        count=1,
        first_at=now,
        last_at=now,
    )
    caplog.set_level(logging.DEBUG)
    TelegramTransport(channel).send(notice)
    [request] = telegram.received
    assert request.fields["text"].startswith("<b>[CRITICAL] Bot in error: &lt;grid&gt;</b>\na &amp; b\n")
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
