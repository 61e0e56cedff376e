"""API fixtures: a DRF client, real API keys made by the service, and one of each object in org B."""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from backtest.models import Backtest
from organizations.services import api_key_create
from signals.models import WatchedMarket
from tests.factories import (
    BotEventFactory,
    BotFactory,
    DexAccountFactory,
    DexSwapFactory,
    FillFactory,
    HummingbotDeploymentFactory,
    OrderFactory,
    PositionFactory,
    RiskLimitsFactory,
    SignalFactory,
    SignalSourceFactory,
)


@pytest.fixture(autouse=True)
def _fresh_throttles(settings):
    # Throttle counters live in the cache, Redis as in production: a key prefix of each test's own
    # starts it with none, without flushing a Redis database other processes may be using.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"test-api-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def client_for():
    """client_for(user) signs in by session; client_for(key=full_key) sends the API key."""

    def make(user=None, *, key: str | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        if key is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client

    return make


@pytest.fixture
def make_key(org_a):
    def make(*scopes: str, organization=None, **kwargs):
        return api_key_create(organization=organization or org_a, name="ci", scopes=scopes or ("read",), **kwargs)

    return make


@pytest.fixture
def b_objects(org_b, bob):
    """One row of every kind in org B."""
    bot = BotFactory(organization=org_b)
    order = OrderFactory(bot=bot)
    deployment = HummingbotDeploymentFactory(organization=org_b, bot__organization=org_b)
    signal_source = SignalSourceFactory(organization=org_b, kind="webhook")
    swap = DexSwapFactory(wallet__connection__organization=org_b)
    return {
        "gateway": swap.wallet.connection,
        "wallet": swap.wallet,
        "swap": swap,
        "dex_account": DexAccountFactory(
            connection=swap.wallet.connection, wallet=swap.wallet, account__exchange="jupiter"
        ),
        "bot": bot,
        "order": order,
        "fill": FillFactory(order=order),
        "position": PositionFactory(bot=bot),
        "event": BotEventFactory(bot=bot),
        "account": bot.exchange_account,
        "limits": RiskLimitsFactory(organization=org_b),
        "instance": deployment.instance,
        "deployment": deployment,
        "membership": bob.memberships.get(),
        "organization": org_b,
        "signal_source": signal_source,
        "signal": SignalFactory(source=signal_source),
        "watched_market": WatchedMarket.objects.create(
            organization=org_b, source=signal_source, exchange="binance", symbol="BTC/USDT", timeframe="1h"
        ),
        "backtest": Backtest.objects.create(
            organization=org_b,
            strategy="macd_trend",
            symbol="BTC/USDT",
            start=dt.datetime(2021, 4, 20, tzinfo=dt.UTC),
            end=dt.datetime(2021, 4, 27, tzinfo=dt.UTC),
        ),
    }


def error_of(response) -> dict:
    """The error object, after checking the shape every API error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    return body["error"]
