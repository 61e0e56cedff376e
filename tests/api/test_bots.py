"""Bots through the API: create and edit through the model's validation, lifecycle actions with
role checks, and manual orders through the risk check."""

from decimal import Decimal

import pytest

from bots.models import Bot, BotEvent, Order
from organizations.models import Role
from risk.models import RiskLimits
from tests.api.conftest import error_of
from tests.factories import BotFactory, ExchangeAccountFactory

pytestmark = pytest.mark.django_db


def test_a_viewer_cannot_start_a_bot_and_a_trader_can(client_for, member, org_a):
    bot = BotFactory(organization=org_a)
    response = client_for(member(Role.VIEWER)).post(f"/api/v1/bots/{bot.pk}/start/")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert Bot.objects.get(pk=bot.pk).status == "stopped"
    response = client_for(member(Role.TRADER)).post(f"/api/v1/bots/{bot.pk}/start/")
    assert response.status_code == 200
    assert Bot.objects.get(pk=bot.pk).status == "running"


def test_start_and_stop_change_the_status(client_for, alice, org_a):
    bot = BotFactory(organization=org_a)
    client = client_for(alice)
    assert client.post(f"/api/v1/bots/{bot.pk}/start/").json()["status"] == "running"
    response = client.post(f"/api/v1/bots/{bot.pk}/stop/", {"cancel_orders": False}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "stopped"
    again = client.post(f"/api/v1/bots/{bot.pk}/stop/")
    assert again.status_code == 400
    assert error_of(again)["code"] == "illegal_transition"
    restarted = client.post(f"/api/v1/bots/{bot.pk}/restart/")
    assert restarted.json()["status"] == "running" and restarted.json()["restart_count"] == 1
    assert BotEvent.objects.filter(bot=bot, kind="bot.running", source="api", actor=alice).exists()


def test_it_creates_a_bot_with_validated_params(client_for, alice, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    body = {"name": "Grid 1", "strategy": "grid", "exchange_account": account.pk, "symbol": "BTC/USDT"}
    response = client_for(alice).post("/api/v1/bots/", body, format="json")
    assert response.status_code == 201, response.json()
    bot = Bot.objects.get(pk=response.json()["id"])
    assert bot.organization == org_a and bot.created_by == alice
    assert bot.params  # defaults filled in by the registry
    duplicate = client_for(alice).post("/api/v1/bots/", body, format="json")
    assert duplicate.status_code == 400


def test_it_rejects_bad_params_naming_the_field(client_for, alice, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    body = {
        "name": "G",
        "strategy": "grid",
        "exchange_account": account.pk,
        "symbol": "BTC/USDT",
        "params": {"nope": 1},
    }
    response = client_for(alice).post("/api/v1/bots/", body, format="json")
    assert response.status_code == 400
    assert error_of(response)["field"] == "params"
    unknown = client_for(alice).post("/api/v1/bots/", {**body, "params": {}, "strategy": "nope"}, format="json")
    assert error_of(unknown)["field"] == "strategy"


def test_it_refuses_another_organizations_account(client_for, alice, org_b):
    foreign = ExchangeAccountFactory(organization=org_b)
    body = {"name": "G", "strategy": "grid", "exchange_account": foreign.pk, "symbol": "BTC/USDT"}
    response = client_for(alice).post("/api/v1/bots/", body, format="json")
    assert response.status_code == 400
    assert error_of(response)["field"] == "exchange_account"
    assert not Bot.objects.filter(name="G").exists()


def test_a_viewer_cannot_create_a_bot(client_for, member, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    body = {"name": "G", "strategy": "grid", "exchange_account": account.pk, "symbol": "BTC/USDT"}
    response = client_for(member(Role.VIEWER)).post("/api/v1/bots/", body, format="json")
    assert response.status_code == 403


def test_a_running_bot_cannot_be_edited(client_for, alice, org_a):
    bot = BotFactory(organization=org_a)
    client = client_for(alice)
    assert client.patch(f"/api/v1/bots/{bot.pk}/", {"name": "Renamed"}, format="json").status_code == 200
    client.post(f"/api/v1/bots/{bot.pk}/start/")
    response = client.patch(f"/api/v1/bots/{bot.pk}/", {"symbol": "ETH/USDT"}, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "bot_active"
    bot.refresh_from_db()
    assert (bot.name, bot.symbol, bot.status) == ("Renamed", "BTC/USDT", "running")


def test_a_manual_order_refused_by_risk_answers_in_the_error_shape(client_for, member, org_a):
    bot = BotFactory(organization=org_a)
    RiskLimits.objects.create(organization=org_a, bot=bot, max_order_notional=Decimal("100"))
    body = {"side": "buy", "type": "limit", "amount": "0.01", "price": "30000"}
    response = client_for(member(Role.TRADER)).post(f"/api/v1/bots/{bot.pk}/orders/", body, format="json")
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "max_order_notional",
        "message": "Order notional 300.00 exceeds the limit 100.00.",
        "field": "amount",
    }
    assert not Order.objects.filter(bot=bot).exists()
    assert BotEvent.objects.filter(bot=bot, kind="risk.rejected", source="api").exists()


def test_a_viewer_cannot_place_a_manual_order(client_for, member, org_a):
    bot = BotFactory(organization=org_a)
    body = {"side": "buy", "type": "limit", "amount": "0.01", "price": "30000"}
    response = client_for(member(Role.VIEWER)).post(f"/api/v1/bots/{bot.pk}/orders/", body, format="json")
    assert response.status_code == 403
    invalid = client_for(member(Role.TRADER)).post(f"/api/v1/bots/{bot.pk}/orders/", {**body, "side": "hold"})
    assert invalid.status_code == 400 and error_of(invalid)["field"] == "side"


def test_kill_switch_needs_the_admin_role(client_for, member, org_a):
    bot = BotFactory(organization=org_a)
    client_for(member(Role.TRADER)).post(f"/api/v1/bots/{bot.pk}/start/")
    trader = client_for(member(Role.TRADER))
    refused = trader.post(f"/api/v1/kill-switch/{org_a.pk}/engage/", {"reason": "panic"})
    assert refused.status_code == 403
    admin = client_for(member(Role.ADMIN))
    engaged = admin.post(f"/api/v1/kill-switch/{org_a.pk}/engage/", {"reason": "panic"})
    assert engaged.status_code == 200 and engaged.json()["engaged"] is True
    assert Bot.objects.get(pk=bot.pk).status == "stopped"
    blocked = trader.post(f"/api/v1/bots/{bot.pk}/start/")
    assert blocked.status_code == 400 and error_of(blocked)["code"] == "kill_switch"
    released = admin.post(f"/api/v1/kill-switch/{org_a.pk}/release/")
    assert released.json()["engaged"] is False
    assert admin.get(f"/api/v1/kill-switch/{org_a.pk}/").json()["reason"] == "panic"


def test_risk_limits_need_the_admin_role(client_for, member, org_a):
    bot = BotFactory(organization=org_a)
    body = {"bot": bot.pk, "max_order_notional": "500"}
    assert client_for(member(Role.TRADER)).post("/api/v1/risk-limits/", body).status_code == 403
    admin = client_for(member(Role.ADMIN))
    created = admin.post("/api/v1/risk-limits/", body)
    assert created.status_code == 201, created.json()
    assert created.json()["scope"] == "bot"
    again = admin.post("/api/v1/risk-limits/", body)
    assert again.status_code == 400
    negative = admin.patch(f"/api/v1/risk-limits/{created.json()['id']}/", {"max_drawdown_pct": "150"})
    assert negative.status_code == 400
    assert admin.delete(f"/api/v1/risk-limits/{created.json()['id']}/").status_code == 204
