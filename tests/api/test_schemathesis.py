"""Property-based API test: schemathesis generates requests for every operation of the published
OpenAPI schema and sends them to the real application (WSGI, PostgreSQL) as an organization's owner
holding an API key with every scope. Every answer must be free of server errors and match the
schema: a documented status code, the documented content type and a body of the documented shape.

Path ids are alternately the generated ones (mostly unknown: 404) and ids of the seeded rows, so the
success paths of every detail route and action are exercised as well.
"""

from __future__ import annotations

import collections
import itertools
import json
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from organizations.models import Role
from organizations.services import api_key_create
from tests.exchanges.binance_server import BinanceServer
from tests.factories import (
    BotEventFactory,
    BotFactory,
    ExchangeAccountFactory,
    FillFactory,
    HummingbotDeploymentFactory,
    MembershipFactory,
    OrderFactory,
    PositionFactory,
    RiskLimitsFactory,
    UserFactory,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# 44 operations x 15 generated examples, plus the boundary cases schemathesis derives from the
# schema itself: several thousand cases; the count test below holds the floor at 1,000.
EXAMPLES_PER_OPERATION = 15
MINIMUM_CASES = 1000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

APP = get_wsgi_application()
cases_run = itertools.count()
CASES: list[int] = []  # status code of each generated case


@pytest.fixture(scope="module")
def binance():
    with BinanceServer() as server:
        yield server


@pytest.fixture
def seeded(settings, binance):
    """One organization with a bit of everything, an owner, and an all-scopes key; another
    organization's rows too, which must stay invisible."""
    settings.EXCHANGE_URL_OVERRIDES = {"binance": binance.base_url}
    settings.EXCHANGE_TIMEOUT_MS = 500
    # The property test sends far more than a client would: throttles would only add 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min", "user": "100000/min", "anon": "100000/min"},
    }
    owner = UserFactory(username="schema-owner")
    bot = BotFactory(name="Grid", status="stopped")
    org = bot.organization
    MembershipFactory(user=owner, organization=org, role=Role.OWNER)
    live_account = ExchangeAccountFactory(
        organization=org, exchange="binance", api_key=binance.api_key, api_secret=binance.api_secret
    )
    live_bot = BotFactory(organization=org, exchange_account=live_account, mode="live", name="Live")
    order = OrderFactory(bot=bot, status="open")
    filled = OrderFactory(bot=live_bot, status="filled", price=Decimal("30123.45"))
    FillFactory(order=filled, price=Decimal("30123.45"))
    PositionFactory(bot=bot)
    BotEventFactory(bot=bot)
    RiskLimitsFactory(organization=org, max_order_notional=Decimal("1000"))
    deployment = HummingbotDeploymentFactory(organization=org, bot__organization=org)
    OrderFactory()  # another organization's
    _, full_key = api_key_create(organization=org, name="schemathesis", scopes=("read", "trade", "admin"))
    ids = {
        "id": [bot.pk, live_bot.pk, order.pk, live_account.pk, bot.exchange_account_id, org.pk, deployment.pk],
        "bot_pk": [bot.pk, live_bot.pk, deployment.bot_id],
        "key": ["grid", "pure_market_making"],
    }
    # The WSGI handler closes the database connection after each request; like Django's test
    # client, keep it open, or the test's transaction would go with it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"key": full_key, "ids": ids, "organization": org}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def published_schema() -> dict:
    """The schema exactly as /api/schema/ serves it (rendered to JSON), built without a request."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(published_schema())
schema.app = APP


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema(case, seeded):
    n = next(cases_run)
    if case.path_parameters and n % 2 == 0:
        # Every other case aims at real rows of the caller's organization.
        for name in list(case.path_parameters):
            choices = seeded["ids"].get(name)
            if choices:
                case.path_parameters[name] = choices[n // 2 % len(choices)]
    response = case.call_and_validate(headers={"Authorization": f"Api-Key {seeded['key']}"}, checks=CHECKS)
    # Counted: cases of the documented method (schemathesis also probes other methods for a 405).
    if case.method.upper() == case.operation.method.upper():
        CASES.append(response.status_code)


def test_at_least_a_thousand_cases_ran():
    if not CASES:
        pytest.skip("run together with the generated cases")
    assert len(CASES) >= MINIMUM_CASES, len(CASES)
    statuses = collections.Counter(CASES)
    assert not [code for code in statuses if code >= 500]
    assert statuses[200] > 0 and statuses[404] > 0
    print(f"schemathesis: {len(CASES)} cases, statuses {dict(sorted(statuses.items()))}")
