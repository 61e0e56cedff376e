"""Every detail route answers 404 for another organization's object: signed in with each role,
and with an API key of each scope."""

import pytest

from bots.models import Bot, Order
from dex.models import DexAccount
from organizations.models import Role
from risk.models import KillSwitch, RiskLimits
from tests.api.conftest import error_of
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

# (method, path with the org-B object's id, which object, body)
DETAIL_ROUTES = [
    ("get", "/api/v1/bots/{}/", "bot", None),
    ("put", "/api/v1/bots/{}/", "bot", {"name": "taken"}),
    ("patch", "/api/v1/bots/{}/", "bot", {"name": "taken"}),
    ("post", "/api/v1/bots/{}/start/", "bot", {}),
    ("post", "/api/v1/bots/{}/stop/", "bot", {}),
    ("post", "/api/v1/bots/{}/restart/", "bot", {}),
    ("get", "/api/v1/bots/{}/orders/", "bot", None),
    ("post", "/api/v1/bots/{}/orders/", "bot", {"side": "buy", "type": "limit", "amount": "1", "price": "1"}),
    ("get", "/api/v1/bots/{}/fills/", "bot", None),
    ("get", "/api/v1/bots/{}/positions/", "bot", None),
    ("get", "/api/v1/bots/{}/events/", "bot", None),
    ("get", "/api/v1/bots/{}/metrics/", "bot", None),
    ("get", "/api/v1/orders/{}/", "order", None),
    ("get", "/api/v1/fills/{}/", "fill", None),
    ("get", "/api/v1/exchange-accounts/{}/", "account", None),
    ("put", "/api/v1/exchange-accounts/{}/", "account", {"label": "x", "exchange": "paper"}),
    ("patch", "/api/v1/exchange-accounts/{}/", "account", {"api_key": "stolen"}),
    ("post", "/api/v1/exchange-accounts/{}/verify/", "account", {}),
    ("get", "/api/v1/risk-limits/{}/", "limits", None),
    ("put", "/api/v1/risk-limits/{}/", "limits", {"max_order_notional": "1"}),
    ("patch", "/api/v1/risk-limits/{}/", "limits", {"max_order_notional": "1"}),
    ("delete", "/api/v1/risk-limits/{}/", "limits", None),
    ("get", "/api/v1/kill-switch/{}/", "organization", None),
    ("post", "/api/v1/kill-switch/{}/engage/", "organization", {"reason": "x"}),
    ("post", "/api/v1/kill-switch/{}/release/", "organization", {}),
    ("get", "/api/v1/hummingbot/instances/{}/", "instance", None),
    ("get", "/api/v1/hummingbot/instances/{}/export/", "instance", None),
    ("get", "/api/v1/hummingbot/deployments/{}/", "deployment", None),
    ("get", "/api/v1/members/{}/", "membership", None),
    ("get", "/api/v1/backtests/{}/", "backtest", None),
    ("get", "/api/v1/signals/sources/{}/", "signal_source", None),
    ("patch", "/api/v1/signals/sources/{}/", "signal_source", {"name": "taken"}),
    ("delete", "/api/v1/signals/sources/{}/", "signal_source", None),
    ("post", "/api/v1/signals/sources/{}/rotate-webhook/", "signal_source", {}),
    ("get", "/api/v1/signals/watched-markets/{}/", "watched_market", None),
    ("delete", "/api/v1/signals/watched-markets/{}/", "watched_market", None),
    ("get", "/api/v1/signals/{}/", "signal", None),
    ("get", "/api/v1/dex/gateways/{}/", "gateway", None),
    ("post", "/api/v1/dex/gateways/{}/verify/", "gateway", {}),
    ("get", "/api/v1/dex/wallets/{}/", "wallet", None),
    ("delete", "/api/v1/dex/wallets/{}/", "wallet", None),
    ("get", "/api/v1/dex/swaps/{}/", "swap", None),
    ("get", "/api/v1/dex/accounts/{}/", "dex_account", None),
    ("patch", "/api/v1/dex/accounts/{}/", "dex_account", {"slippage_bps": 10}),
    ("post", "/api/v1/dex/accounts/{}/verify/", "dex_account", {}),
]


def _ids(route):
    return f"{route[0]} {route[1]}"


# A member of org A of each role (session), and org A keys of each scope.
CALLERS = [f"session {role}" for role in Role.values] + ["key read", "key read,trade", "key read,trade,admin"]


@pytest.fixture
def caller(request, client_for, org_a, make_key):
    how, what = request.param.split(" ")
    if how == "session":
        user = UserFactory(username=f"member-{what}")
        MembershipFactory(user=user, organization=org_a, role=what)
        return client_for(user)
    return client_for(key=make_key(*what.split(","))[1])


@pytest.mark.parametrize("caller", CALLERS, indirect=True)
@pytest.mark.parametrize("route", DETAIL_ROUTES, ids=_ids)
def test_it_hides_other_organizations_objects(caller, b_objects, route):
    method, template, kind, body = route
    response = getattr(caller, method)(template.format(b_objects[kind].pk), body, format="json")
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"
    # Nothing of org B changed.
    bot = Bot.objects.get(pk=b_objects["bot"].pk)
    assert (bot.status, bot.name) == ("stopped", b_objects["bot"].name)
    assert RiskLimits.objects.filter(pk=b_objects["limits"].pk).exists()
    assert not KillSwitch.objects.filter(organization=b_objects["organization"]).exists()
    assert not Order.objects.filter(bot=bot).exclude(pk=b_objects["order"].pk).exists()
    dex = DexAccount.objects.select_related("account").get(pk=b_objects["dex_account"].pk)
    assert (dex.slippage_bps, dex.account.status) == (50, "active")


def test_every_registered_detail_route_is_walked():
    from api.urls import router

    walked = {template.split("{}")[0] for _, template, _, _ in DETAIL_ROUTES}
    for prefix, _viewset, _basename in router.registry:
        if prefix == "strategies":  # the registry is not organization data
            continue
        plain = "/api/v1/" + prefix.replace("(?P<bot_pk>[^/.]+)", "{}")
        assert any(path.startswith(plain.split("{}")[0]) for path in walked), prefix


def test_lists_show_only_own_rows(client_for, alice, make_key, b_objects):
    for client in (client_for(alice), client_for(key=make_key("read")[1])):
        for path in (
            "/api/v1/bots/",
            "/api/v1/orders/",
            "/api/v1/fills/",
            "/api/v1/exchange-accounts/",
            "/api/v1/risk-limits/",
            "/api/v1/hummingbot/instances/",
            "/api/v1/hummingbot/deployments/",
            "/api/v1/dex/accounts/",
        ):
            response = client.get(path)
            assert response.status_code == 200
            assert response.json()["results"] == [], path
        members = client.get("/api/v1/members/").json()["results"]
        assert all(row["organization"] != b_objects["organization"].pk for row in members)
        switches = client.get("/api/v1/kill-switch/").json()
        assert [row["organization"] for row in switches] == [alice.memberships.get().organization_id]
