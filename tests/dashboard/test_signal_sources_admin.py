"""The sources page's admin controls: a webhook source's secret URL made from the dashboard and
shown once (it works on the webhook; the old one stops), sources switched off and on; traders
and other organizations' sources are refused."""

import json

import pytest
from django.urls import reverse

from organizations.models import Role
from signals.models import Signal, SignalSource
from tests.factories import SignalSourceFactory

pytestmark = pytest.mark.django_db
PAGE = "dashboard:signal_sources"


def test_an_admin_makes_the_webhook_url_once_and_it_works(client, member, org_a):
    hook = SignalSourceFactory(organization=org_a, name="TV", kind="webhook", config={"exchange": "binance"})
    client.force_login(member(Role.ADMIN))
    assert "Make URL" in client.get(reverse(PAGE)).content.decode()

    answer = client.post(reverse(PAGE), {"source_id": hook.pk, "rotate_webhook": "1"})
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    page = answer.content.decode()
    url = page.split('<code id="webhook-url">')[1].split("</code>")[0]
    secret = page.split('<code id="webhook-secret">')[1].split("</code>")[0]
    assert "/api/v1/signals/webhook/" in url and len(secret) >= 40
    hook.refresh_from_db()
    assert hook.webhook_token_hash and hook.webhook_token_hash not in page
    # The page shows the secret on that answer only.
    again = client.get(reverse(PAGE)).content.decode()
    assert secret not in again and url not in again and "New URL" in again

    alert = {"ticker": "BINANCE:BTCUSDT", "action": "buy", "interval": "60", "price": "64000"}
    path = url.split("testserver", 1)[1]
    accepted = client.post(path, json.dumps(alert), content_type="application/json")
    assert accepted.status_code == 201, accepted.content
    assert Signal.objects.get(source=hook).side == "buy"

    client.post(reverse(PAGE), {"source_id": hook.pk, "rotate_webhook": "1"})
    assert client.post(path, json.dumps(alert | {"id": "n2"}), content_type="application/json").status_code == 404


def test_an_admin_switches_a_source_off_and_on(client, member, org_a):
    source = SignalSourceFactory(organization=org_a, name="Engine")
    client.force_login(member(Role.ADMIN))
    assert client.post(reverse(PAGE), {"source_id": source.pk, "toggle_source": "1"}).status_code == 302
    assert SignalSource.objects.get(pk=source.pk).enabled is False
    client.post(reverse(PAGE), {"source_id": source.pk, "toggle_source": "1"})
    assert SignalSource.objects.get(pk=source.pk).enabled is True


def test_a_trader_and_another_organization_are_refused(client, member, org_a, org_b):
    hook = SignalSourceFactory(organization=org_a, kind="webhook")
    foreign = SignalSourceFactory(organization=org_b, kind="webhook")
    client.force_login(member(Role.TRADER))
    page = client.get(reverse(PAGE)).content.decode()
    assert "Make URL" not in page and "toggle_source" not in page
    assert client.post(reverse(PAGE), {"source_id": hook.pk, "rotate_webhook": "1"}).status_code == 403
    assert client.post(reverse(PAGE), {"source_id": hook.pk, "toggle_source": "1"}).status_code == 403
    client.force_login(member(Role.OWNER))
    assert client.post(reverse(PAGE), {"source_id": foreign.pk, "rotate_webhook": "1"}).status_code == 404
    assert client.post(reverse(PAGE), {"source_id": "x", "toggle_source": "1"}).status_code == 404
    assert not SignalSource.objects.get(pk=hook.pk).webhook_token_hash
    assert not SignalSource.objects.get(pk=foreign.pk).webhook_token_hash
    assert SignalSource.objects.get(pk=hook.pk).enabled
    # Only a webhook source has a URL: the refusal is a message, nothing changes.
    engine = SignalSourceFactory(organization=org_a, kind="engine")
    refused = client.post(reverse(PAGE), {"source_id": engine.pk, "rotate_webhook": "1"}, follow=True)
    assert "Only a webhook source has a URL token." in refused.content.decode()
