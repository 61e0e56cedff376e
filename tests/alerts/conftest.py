"""Fixtures for alert tests: loopback Telegram and webhook servers, channels and rules, and a real
Celery worker (a subprocess on the test database) for the tests that deliver."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from alerts.models import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus
from alerts.services import DEFAULT_RULE_NAME, rules_forget
from tests.alerts.servers import TelegramServer, WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAH-test-token-for-the-loopback-api"
SIGNING_SECRET = "whsec-loopback-signing-secret-0123456789"


@pytest.fixture(autouse=True)
def _fresh_rule_cache(request):
    """These tests set up their own rules: the default rule each organization starts with would
    raise a second alert for every event, so it is removed (test_sources.py tests it)."""
    orgs = [request.getfixturevalue(name) for name in ("org_a", "org_b") if name in request.fixturenames]
    if orgs and "keep_default_rule" not in request.keywords:
        AlertRule.objects.filter(organization__in=orgs, name=DEFAULT_RULE_NAME).delete()
    rules_forget()
    yield
    rules_forget()


@pytest.fixture
def telegram():
    server = TelegramServer(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def slack():
    server = WebhookReceiver("slack").start()
    yield server
    server.stop()


@pytest.fixture
def discord():
    server = WebhookReceiver("discord").start()
    yield server
    server.stop()


def telegram_channel(org, server, **config):
    return AlertChannel.objects.create(
        organization=org,
        kind="telegram",
        name=f"tg-{org.slug}",
        config={"chat_id": "-100200300", "api_url": server.url, **config},
        bot_token=TOKEN,
    )


def webhook_channel(org, server, *, kind="webhook", name=None, path="/hooks/T000/B000/XXXXsecretpath"):
    return AlertChannel.objects.create(
        organization=org,
        kind=kind,
        name=name or f"{kind}-{org.slug}",
        webhook_url=server.url + path,
        signing_secret=SIGNING_SECRET if kind == "webhook" else "",
    )


def rule(org, channels, *, kinds=("*",), min_level="info", dedupe_seconds=300, name=None):
    made = AlertRule.objects.create(
        organization=org,
        name=name or f"rule-{AlertRule.objects.count() + 1}",
        event_kinds=list(kinds),
        min_level=min_level,
        dedupe_seconds=dedupe_seconds,
    )
    made.channels.set(channels)
    return made


def wait_delivered(delivery_or_alert, *, timeout: float = 30, status=None) -> list[AlertDelivery]:
    """Wait until every delivery of the alert (or the one delivery) left pending."""
    end = time.monotonic() + timeout
    while True:
        if isinstance(delivery_or_alert, AlertDelivery):
            rows = list(AlertDelivery.objects.filter(pk=delivery_or_alert.pk))
        else:
            rows = list(AlertDelivery.objects.filter(alert=delivery_or_alert))
        if rows and all(d.status != DeliveryStatus.PENDING for d in rows):
            return rows
        if time.monotonic() > end:
            raise AssertionError(f"still pending: {[(d.pk, d.status, d.attempts, d.last_error) for d in rows]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real worker per test module, on this run's test database and Redis broker. It stops
    when the module ends: left running, it would take other tests' messages from the shared
    queue (the tick crash test's rescuing worker would never see its tick)."""
    from config.celery import app

    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    log_path = tmp_path_factory.mktemp("alerts-worker") / "worker.log"
    log = open(log_path, "w")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "ALERTS_RETRY_BASE_SECONDS": "0.2",
        "ALERTS_MAX_ATTEMPTS": "4",
    }
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/alerts/worker.py")], env=env, stdout=log, stderr=log, cwd=ROOT
    )
    time.sleep(0.5)
    yield worker
    worker.terminate()
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()
    if worker.returncode not in (0, -15):
        print(log_path.read_text()[-4000:])
