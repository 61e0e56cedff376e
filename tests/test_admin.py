"""Admin: every page renders, staff who are not superusers see only their organizations, and each
changelist costs the same number of queries however many rows it shows."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bots.models import Bot
from bots.state import BotStatus
from organizations.models import Organization
from risk.models import KillSwitch
from tests import factories

OUR_APPS = {"organizations", "exchanges", "bots", "risk", "analytics", "alerts", "backtest"}
MODELS = sorted((m for m in admin.site._registry if m._meta.app_label in OUR_APPS), key=lambda m: m._meta.label)


def populate(org, tag: str) -> None:
    """One row of every model, named after the organization."""
    bot = factories.BotFactory(organization=org, name=f"{tag}-bot")
    order = factories.OrderFactory(bot=bot, client_order_id=f"{tag}-order")
    factories.FillFactory(order=order, trade_id=f"{tag}-trade")
    factories.PositionFactory(bot=bot)
    factories.FundingPaymentFactory(bot=bot, payment_id=f"{tag}-funding")
    factories.BotEventFactory(bot=bot, message=f"{tag}-event")
    factories.RiskLimitsFactory(organization=org)
    factories.KillSwitchFactory(organization=org)
    factories.MetricSnapshotFactory(bot=bot)
    factories.ApiKeyFactory(organization=org, name=f"{tag}-key")
    factories.AlertDeliveryFactory(alert__rule__organization=org, alert__title=f"{tag}-alert")
    factories.BacktestFactory(organization=org, name=f"{tag}-backtest")
    factories.HummingbotDeploymentFactory(bot__organization=org, instance__name=f"{tag}-hb")


@pytest.fixture
def world(org_a, org_b, alice, bob):
    populate(org_a, "alpha")
    populate(org_b, "beta")


def url(model, action="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_superuser_sees_every_changelist_and_change_form(client, superuser, world, model):
    client.force_login(superuser)
    assert client.get(url(model)).status_code == 200
    for obj in model.objects.all():
        assert client.get(url(model, "change", obj.pk)).status_code == 200
    if admin.site._registry[model].has_add_permission(_request(superuser)):
        assert client.get(url(model, "add")).status_code == 200


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _org_of(obj) -> int | None:
    return obj.pk if isinstance(obj, Organization) else obj.organization_id


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_scoped_staff_sees_only_their_organization(client, scoped_staff, world, org_a, org_b, model):
    client.force_login(scoped_staff)
    response = client.get(url(model))
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows, "org A has a row of every model"
    assert {_org_of(r) for r in rows} == {org_a.pk}
    assert "Beta Funds" not in response.content.decode()
    assert "beta-" not in response.content.decode()

    for obj in model.objects.all():
        response = client.get(url(model, "change", obj.pk))
        if _org_of(obj) == org_a.pk:
            assert response.status_code == 200
        else:
            # Django answers an object outside the queryset with a redirect to the admin index.
            assert response.status_code == 302
            assert response.url == reverse("admin:index")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_query_count_does_not_grow_with_rows(client, superuser, org_a, org_b, alice, model):
    client.force_login(superuser)
    populate(org_a, "one")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(model)).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    populate(org_b, "two")
    for i in range(4):
        populate(factories.OrganizationFactory(), f"more{i}")
    assert count() == small


def test_admin_actions_call_the_services(client, superuser, org_a, alice):
    bot = factories.BotFactory(organization=org_a)
    client.force_login(superuser)
    response = client.post(url(Bot), {"action": "start_bots", "_selected_action": [bot.pk]}, follow=True)
    assert response.status_code == 200
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING
    assert bot.events.filter(kind="bot.running", source="admin", actor=superuser).exists()

    client.post(url(Bot), {"action": "stop_bots", "_selected_action": [bot.pk]})
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED

    client.post(url(Organization), {"action": "engage_kill_switch", "_selected_action": [org_a.pk]})
    assert KillSwitch.objects.get(organization=org_a).engaged


def test_a_refused_action_is_reported_not_crashed(client, scoped_staff, org_a):
    bot = factories.BotFactory(organization=org_a, strategy="arbitrage")  # lacks its second account
    client.force_login(scoped_staff)
    response = client.post(url(Bot), {"action": "start_bots", "_selected_action": [bot.pk]}, follow=True)
    assert response.status_code == 200
    assert "two accounts" in response.content.decode()
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_scoped_staff_cannot_create_a_bot_in_another_organization(client, scoped_staff, org_a, org_b):
    foreign_account = factories.ExchangeAccountFactory(organization=org_b)
    client.force_login(scoped_staff)
    response = client.post(
        url(Bot, "add"),
        {
            "organization": org_b.pk,
            "name": "sneaky",
            "strategy": "grid",
            "params": "{}",
            "symbol": "BTC/USDT",
            "exchange_account": foreign_account.pk,
            "mode": "paper",
            "execution": "native",
            "failover_policy": "pause",
            "tick_interval": 60,
            "desired_status": "stopped",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 200  # the form comes back with errors
    errors = response.context["adminform"].form.errors
    assert "Select a valid choice" in errors["organization"][0]
    assert "Select a valid choice" in errors["exchange_account"][0]
    assert not Bot.objects.filter(name="sneaky").exists()


def test_a_viewer_on_staff_cannot_edit_bots(client, member, org_a):
    from django.contrib.auth.models import Permission

    viewer = member("viewer", staff=True)
    viewer.user_permissions.set(Permission.objects.filter(content_type__app_label="bots"))
    bot = factories.BotFactory(organization=org_a)
    client.force_login(viewer)
    page = client.get(url(Bot, "change", bot.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only view


def test_bot_form_rejects_bad_params_with_a_field_error(client, superuser, org_a):
    account = factories.ExchangeAccountFactory(organization=org_a)
    client.force_login(superuser)
    response = client.post(
        url(Bot, "add"),
        {
            "organization": org_a.pk,
            "name": "bad",
            "strategy": "grid",
            "params": '{"levels": 1}',
            "symbol": "BTC/USDT",
            "exchange_account": account.pk,
            "mode": "paper",
            "execution": "native",
            "failover_policy": "pause",
            "tick_interval": 60,
            "desired_status": "stopped",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 200
    assert "levels must be at least 2" in response.content.decode()
    assert not Bot.objects.filter(name="bad").exists()


def _empty_inlines() -> dict:
    data = {}
    for prefix in ("orders", "events"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return data


def _perp_bot_form(org, account, **changes) -> dict:
    data = {
        "organization": org.pk,
        "name": "perp",
        "strategy": "macd_trend",
        "params": '{"direction": "both"}',
        "symbol": "BTC/USDT:USDT",
        "market_type": "perp",
        "leverage": "3",
        "margin_mode": "cross",
        "exchange_account": account.pk,
        "mode": "paper",
        "execution": "native",
        "failover_policy": "pause",
        "tick_interval": 60,
        "capital": "1000",
        "desired_status": "stopped",
        **_empty_inlines(),
    }
    return {**data, **changes}


def test_staff_set_a_bots_market_leverage_and_margin_mode(client, superuser, org_a):
    account = factories.ExchangeAccountFactory(organization=org_a)
    client.force_login(superuser)
    response = client.post(url(Bot, "add"), _perp_bot_form(org_a, account))
    assert response.status_code == 302
    bot = Bot.objects.get(name="perp")
    assert (bot.market_type, bot.leverage, bot.margin_mode) == ("perp", 3, "cross")
    assert "perp 3x cross" in client.get(url(Bot)).content.decode()

    response = client.post(
        url(Bot, "add"), _perp_bot_form(org_a, account, name="spot", market_type="spot", symbol="BTC/USDT")
    )
    assert response.status_code == 200
    assert "Spot trades without leverage: leave it at 1 or choose a perpetual." in response.content.decode()
    assert not Bot.objects.filter(name="spot").exists()
