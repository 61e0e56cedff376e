"""Signals in admin: every page renders, staff see only their organization's rows, secrets never
show, and each changelist's query count does not grow with its rows."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from signals.models import AiBudget, AiUsage, Signal, SignalSource, WatchedMarket, WebhookReceipt
from signals.services import webhook_token_rotate
from tests.factories import OrganizationFactory, SignalFactory, SignalSourceFactory

MODELS = [SignalSource, Signal, WatchedMarket, AiBudget, AiUsage, WebhookReceipt]


def populate(org, tag: str) -> None:
    source = SignalSourceFactory(organization=org, name=f"{tag}-source", kind="webhook")
    signal = SignalFactory(source=source, factors={"rsi": {"score": 0.5, "reason": f"{tag}-rsi"}})
    WatchedMarket.objects.create(organization=org, source=source, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    AiBudget.objects.create(organization=org, monthly_limit=Decimal("25"))
    AiUsage.objects.create(organization=org, source=source, model=f"{tag}-model", prompt_tokens=10)
    WebhookReceipt.objects.create(source=source, digest=f"{tag}-digest".ljust(64, "0"), signal=signal)


def url(model, action="changelist", *args):
    return reverse(f"admin:signals_{model._meta.model_name}_{action}", args=args)


def org_of(obj):
    return obj.source.organization_id if isinstance(obj, WebhookReceipt) else obj.organization_id


@pytest.fixture
def world(org_a, org_b):
    populate(org_a, "alpha")
    populate(org_b, "beta")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_superuser_sees_every_changelist_and_change_form(client, superuser, world, model):
    client.force_login(superuser)
    assert client.get(url(model)).status_code == 200
    for obj in model.objects.all():
        assert client.get(url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_scoped_staff_sees_only_their_organization(client, scoped_staff, world, org_a, model):
    scoped_staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="signals"))
    client.force_login(scoped_staff)
    response = client.get(url(model))
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows and {org_of(r) for r in rows} == {org_a.pk}
    assert "beta-" not in response.content.decode()
    for obj in model.objects.all():
        expected = 200 if org_of(obj) == org_a.pk else 302
        assert client.get(url(model, "change", obj.pk)).status_code == expected


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_query_count_does_not_grow_with_rows(client, superuser, org_a, org_b, model):
    client.force_login(superuser)
    populate(org_a, "one")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(model)).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    populate(org_b, "two")
    for i in range(3):
        populate(OrganizationFactory(), f"more{i}")
    assert count() == small


def test_a_sources_webhook_secrets_never_show(client, superuser, org_a):
    source = SignalSourceFactory(organization=org_a, kind="webhook")
    token, secret = webhook_token_rotate(signal_source=source)
    source.refresh_from_db()
    client.force_login(superuser)
    pages = client.get(url(SignalSource, "change", source.pk)).content.decode()
    pages += client.get(url(SignalSource)).content.decode()
    for hidden in (token, secret, source.webhook_token_hash):
        assert hidden not in pages


def test_a_signals_factors_show_read_only_and_pretty(client, superuser, org_a):
    signal = SignalFactory(
        source__organization=org_a,
        factors={"fibonacci": {"score": -0.25, "levels": {"0.618": 95123.5}}},
        valid_until=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    client.force_login(superuser)
    page = client.get(url(Signal, "change", signal.pk)).content.decode()
    assert "<pre>" in page and "&quot;0.618&quot;: 95123.5" in page
    assert 'name="factors"' not in page
