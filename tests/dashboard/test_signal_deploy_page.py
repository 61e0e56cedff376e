"""Deploying a signal on Hummingbot from its dashboard page: a trader picks a stopped Hummingbot
bot of the symbol, a refusal shows on the form, a viewer gets no form and is refused."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from bots.models import Bot
from bots.state import BotStatus
from hummingbot.models import HummingbotDeployment, HummingbotInstance, InstanceStatus
from organizations.models import Role
from tests.factories import BotFactory, ExchangeAccountFactory, SignalFactory, SignalSourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(org_a, org_b):
    HummingbotInstance.objects.create(
        organization=org_a, name="hb-main", instance_id=uuid.uuid4().hex[:10], status=InstanceStatus.ONLINE, capacity=3
    )
    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    hb = BotFactory(
        organization=org_a,
        name="hb-btc",
        exchange_account=account,
        execution="hummingbot",
        symbol="BTC/USDT",
        strategy="pure_market_making",
        params={"order_amount": "0.01"},
    )
    BotFactory(organization=org_a, name="native-btc", exchange_account=account, symbol="BTC/USDT")
    BotFactory(organization=org_a, name="hb-eth", exchange_account=account, execution="hummingbot", symbol="ETH/USDT")
    BotFactory(organization=org_b, name="beta-hb", execution="hummingbot", symbol="BTC/USDT")
    signal = SignalFactory(
        source=SignalSourceFactory(organization=org_a),
        side="buy",
        price=Decimal("64000"),
        factors={"structure": {"score": 0.1, "reason": "", "support": [61000.0], "resistance": [66000.0]}},
    )
    return hb, signal


def test_a_trader_deploys_from_the_signal_page(client, member, rows):
    hb, signal = rows
    client.force_login(member(Role.TRADER))
    url = reverse("dashboard:signal", args=[signal.pk])
    page = client.get(url).content.decode()
    # Only stopped Hummingbot bots of this organization trading the signal's symbol are offered.
    assert "hb-btc" in page and "native-btc" not in page and "hb-eth" not in page and "beta-hb" not in page

    refused = client.post(url, {"deploy-bot": hb.pk, "deploy-levels": 10})
    assert refused.status_code == 400
    assert "no Hummingbot strategy of its own" in refused.content.decode()
    assert not HummingbotDeployment.objects.exists()

    done = client.post(url, {"deploy-bot": hb.pk, "deploy-as_kind": "grid", "deploy-levels": 8})
    assert done.status_code == 302 and done["Location"] == reverse("dashboard:bot", args=[hb.pk])
    deployment = HummingbotDeployment.objects.get()
    assert deployment.signal_id == signal.pk and deployment.bot_id == hb.pk
    assert Bot.objects.get(pk=hb.pk).status == BotStatus.STARTING
    shown = client.get(url).content.decode()
    assert 'id="signal-deployments"' in shown and "hb-main" in shown


def test_a_viewer_sees_no_form_and_cannot_post(client, member, rows):
    hb, signal = rows
    client.force_login(member(Role.VIEWER))
    url = reverse("dashboard:signal", args=[signal.pk])
    assert 'name="deploy"' not in client.get(url).content.decode()
    response = client.post(url, {"deploy-bot": hb.pk, "deploy-as_kind": "grid", "deploy-levels": 8})
    assert response.status_code == 403
    assert not HummingbotDeployment.objects.exists()
