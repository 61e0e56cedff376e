"""POST /api/v1/signals/<id>/deploy/: a signal converted and placed on a Hummingbot bot, with the
roles, key scopes and organization checks of every other write."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent
from hummingbot.models import HummingbotDeployment, HummingbotInstance, InstanceStatus
from organizations.models import Role
from tests.api.conftest import error_of
from tests.factories import BotFactory, ExchangeAccountFactory, SignalFactory, SignalSourceFactory

pytestmark = pytest.mark.django_db


def url(signal) -> str:
    return f"/api/v1/signals/{signal.pk}/deploy/"


@pytest.fixture
def setup(org_a):
    HummingbotInstance.objects.create(
        organization=org_a, name="hb", instance_id=uuid.uuid4().hex[:10], status=InstanceStatus.ONLINE, capacity=4
    )
    bot = BotFactory(
        organization=org_a,
        exchange_account=ExchangeAccountFactory(organization=org_a, exchange="paper"),
        strategy="pure_market_making",
        params={"order_amount": "0.01"},
        execution="hummingbot",
        symbol="BTC/USDT",
    )
    signal = SignalFactory(source=SignalSourceFactory(organization=org_a), kind="market_making", price=Decimal("64000"))
    return bot, signal


def test_a_trader_deploys_a_signal(client_for, member, setup):
    bot, signal = setup
    response = client_for(member(Role.TRADER)).post(url(signal), {"bot": bot.pk, "order_amount": "0.02"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["bot"], body["signal"], body["strategy_name"], body["status"]) == (
        bot.pk,
        signal.pk,
        "pure_market_making",
        "pending",
    )
    assert HummingbotDeployment.objects.get().signal_id == signal.pk
    assert BotEvent.objects.filter(bot=bot, kind="bot.starting", source="api").exists()


def test_a_directional_signal_needs_as_kind_and_bad_values_name_the_field(client_for, alice, setup):
    bot, signal = setup
    signal.kind = "directional"
    signal.save(update_fields=["kind"])
    client = client_for(alice)
    refused = client.post(url(signal), {"bot": bot.pk}, format="json")
    assert refused.status_code == 400 and error_of(refused)["field"] == "as_kind"
    assert error_of(client.post(url(signal), {"bot": bot.pk, "as_kind": "oracle"}, format="json"))["field"] == "as_kind"
    assert error_of(client.post(url(signal), {"bot": bot.pk, "levels": 1}, format="json"))["field"] == "levels"
    assert error_of(client.post(url(signal), {"bot": "x"}, format="json"))["field"] == "bot"
    signal.valid_until = timezone.now() - timedelta(minutes=1)
    signal.save(update_fields=["valid_until"])
    expired = client.post(url(signal), {"bot": bot.pk, "as_kind": "market_making"}, format="json")
    assert expired.status_code == 400 and error_of(expired)["code"] == "expired"
    assert not HummingbotDeployment.objects.exists()


def test_a_viewer_and_a_read_key_are_refused(client_for, member, make_key, setup):
    bot, signal = setup
    viewer = client_for(member(Role.VIEWER)).post(url(signal), {"bot": bot.pk}, format="json")
    assert viewer.status_code == 403 and error_of(viewer)["code"] == "permission_denied"
    key = client_for(key=make_key("read")[1]).post(url(signal), {"bot": bot.pk}, format="json")
    assert key.status_code == 403
    traded = client_for(key=make_key("read", "trade")[1]).post(url(signal), {"bot": bot.pk}, format="json")
    assert traded.status_code == 201, traded.content
    assert "API key" in BotEvent.objects.get(bot=bot, kind="api.signal_deploy").message


def test_another_organizations_signal_or_bot_is_not_found(client_for, alice, org_b, setup):
    bot, signal = setup
    foreign_signal = SignalFactory(source=SignalSourceFactory(organization=org_b), kind="market_making")
    foreign_bot = BotFactory(organization=org_b, execution="hummingbot")
    client = client_for(alice)
    assert client.post(url(foreign_signal), {"bot": bot.pk}, format="json").status_code == 404
    response = client.post(url(signal), {"bot": foreign_bot.pk}, format="json")
    assert response.status_code == 400 and error_of(response)["field"] == "bot"
    assert not HummingbotDeployment.objects.exists()
