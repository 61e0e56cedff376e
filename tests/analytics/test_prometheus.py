"""/metrics: who may read it, what it shows, and sums across processes."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from analytics.prometheus import exposition, observe_reconciliation
from bots.reconciliation import ReconcileReport
from risk.metrics import risk_rejections
from tests.factories import BotFactory, ExchangeAccountFactory, HummingbotInstanceFactory, OrderFactory, UserFactory

TOKEN = "scrape-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = ""
    return TOKEN


def scrape(client, token=TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})


def value(text: str, name: str, **labels) -> float:
    """The sample `name{labels}` of an exposition text."""
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = r"^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} {labels} not in the scrape"
    return float(match.group(1))


@pytest.mark.django_db
def test_it_refuses_a_scrape_without_the_token(client, token):
    assert scrape(client, token=None).status_code == 403
    assert scrape(client, token="wrong").status_code == 403


@pytest.mark.django_db
def test_it_refuses_everything_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client, token="").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_it_refuses_a_customer_but_serves_staff(client, token, alice):
    client.force_login(alice)
    assert client.get("/metrics").status_code == 403
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"backoffice_bots" in response.content


def test_the_scrape_reflects_the_database(client, token, org_a, org_b):
    for _ in range(2):
        BotFactory(organization=org_a, status="running", last_heartbeat_at=timezone.now())
    BotFactory(organization=org_b, status="error")
    stale = BotFactory(organization=org_b, status="degraded")
    stale.last_heartbeat_at = timezone.now() - timezone.timedelta(minutes=10)
    stale.save(update_fields=["last_heartbeat_at"])
    ExchangeAccountFactory(organization=org_a, circuit_state="open")
    HummingbotInstanceFactory(organization=org_a, status="online", last_heartbeat_at=timezone.now())
    HummingbotInstanceFactory(organization=org_b, status="offline")
    OrderFactory(bot=stale, status="open")
    OrderFactory(bot=stale, status="open")
    OrderFactory(bot=stale, status="filled")
    risk_rejections.labels(code="max_order_notional").inc()
    observe_reconciliation(ReconcileReport(account_id=1, orders_adopted=2, fills_added=3))

    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert value(text, "backoffice_bots", status="running") == 2
    assert value(text, "backoffice_bots", status="error") == 1
    assert value(text, "backoffice_bots", status="degraded") == 1
    assert value(text, "backoffice_bots", status="stopped") == 0
    assert 590 <= value(text, "backoffice_bot_heartbeat_age_seconds_max") <= 700
    assert value(text, "backoffice_orders_working", status="open") == 2
    assert value(text, "backoffice_orders_working", status="new") == 0
    # Every bot above has its own account, closed; one more account's breaker is open.
    assert value(text, "backoffice_exchange_circuit_accounts", state="open") == 1
    assert value(text, "backoffice_hummingbot_instances_up") == 1
    assert value(text, "backoffice_hummingbot_instances", status="offline") == 1
    assert value(text, "backoffice_risk_rejections_total", code="max_order_notional") >= 1
    assert value(text, "backoffice_reconciliation_corrections_total", kind="fills_added") >= 3
    assert value(text, "backoffice_reconciliation_corrections_total", kind="orders_adopted") >= 2
    for name in ("backoffice_ticks_total", "backoffice_tick_seconds", "backoffice_exchange_errors_total"):
        assert f"# TYPE {name}" in text
    assert "django_http_requests" in text  # django-prometheus' own metrics come along


WORKER = """
import sys
from analytics.prometheus import EXCHANGE_ERRORS, observe_tick
for _ in range(int(sys.argv[1])):
    observe_tick("ticked", 0.02)
EXCHANGE_ERRORS.labels(kind="timeout").inc(int(sys.argv[1]))
"""


@pytest.mark.django_db
def test_a_scrape_sums_the_counters_of_several_processes(client, token, settings, tmp_path):
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in (2, 3):
        subprocess.run([sys.executable, "-c", WORKER, str(count)], env=env, cwd=ROOT, check=True, timeout=60)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process

    text = scrape(client).content.decode()
    assert value(text, "backoffice_ticks_total", outcome="ticked") == 5
    assert value(text, "backoffice_tick_seconds_count") == 5
    assert value(text, "backoffice_tick_seconds_bucket", le="0.025") == 5
    assert value(text, "backoffice_tick_seconds_bucket", le="0.01") == 0
    assert value(text, "backoffice_exchange_errors_total", kind="timeout") == 5
    assert "backoffice_bots{" in text  # the database gauges are still there


def test_a_celery_pool_process_that_exits_drops_its_live_gauges(settings, tmp_path):
    from celery.signals import worker_process_shutdown

    import config.celery  # noqa: F401 - connects the hook

    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "gauge_livesum_4343.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    worker_process_shutdown.send(sender=None, pid=4242, exitcode=0)
    # The exited process's live gauge goes; its counters stay (they still count), others stay.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_4343.db"]


def test_the_database_gauges_cost_four_queries_whatever_the_data(django_assert_num_queries, org_a):
    for status in ("running", "error", "stopped"):
        BotFactory(organization=org_a, status=status)
    HummingbotInstanceFactory(organization=org_a, status="online")
    with django_assert_num_queries(4):
        text = exposition().decode()
    assert value(text, "backoffice_bots", status="error") == 1
