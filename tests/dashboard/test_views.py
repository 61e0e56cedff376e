"""The customer dashboard: scoped to the user's selected organization, gated by role, bounded in
queries. Real PostgreSQL; services run for real."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bots.models import Bot, BotEvent, Order
from bots.state import BotStatus
from dashboard.templatetags.dashboard import money
from dashboard.views.bots import equity_series
from exchanges.models import ExchangeAccount, ExchangeAccountStatus
from organizations.models import ApiKey, Role
from risk.models import KillSwitch, RiskLimits
from tests.factories import (
    ApiKeyFactory,
    BotEventFactory,
    BotFactory,
    ExchangeAccountFactory,
    FillFactory,
    HummingbotDeploymentFactory,
    HummingbotInstanceFactory,
    MembershipFactory,
    MetricSnapshotFactory,
    OrderFactory,
    PositionFactory,
)

pytestmark = pytest.mark.django_db


def paper_bot(org, **fields):
    return BotFactory(organization=org, strategy="grid", params={"levels": 5}, **fields)


def count_queries(client, url):
    """Queries of one page view, after a first view has settled the session."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


# -- login and organizations --------------------------------------------------------------------------
def test_it_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_login_page_logs_in_and_out(client, alice):
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response.url == reverse("dashboard:home")
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_it_rejects_other_org_bots(client, alice, org_a, org_b):
    BotFactory(organization=org_a, name="alpha-visible")
    BotFactory(organization=org_b, name="beta-hidden")
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "alpha-visible" in html
    assert "beta-hidden" not in html


def test_the_switcher_selects_one_of_the_users_organizations(client, alice, org_a, org_b):
    MembershipFactory(user=alice, organization=org_b, role=Role.VIEWER)
    BotFactory(organization=org_a, name="alpha-bot")
    BotFactory(organization=org_b, name="beta-bot")
    client.force_login(alice)
    assert "alpha-bot" in client.get("/").content.decode()
    response = client.post(reverse("dashboard:organization_switch"), {"organization": org_b.pk, "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert "beta-bot" in html and "alpha-bot" not in html
    assert client.session["organization_id"] == org_b.pk


def test_the_switcher_rejects_other_org(client, alice, org_b):
    client.force_login(alice)
    response = client.post(reverse("dashboard:organization_switch"), {"organization": org_b.pk})
    assert response.status_code == 404
    assert client.session.get("organization_id") != org_b.pk


def test_a_user_without_organization_sees_a_notice(client, django_user_model):
    user = django_user_model.objects.create_user("loner", password="pw")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200 and b"not a member of any organization" in response.content


# -- bots overview and detail --------------------------------------------------------------------------
def test_overview_shows_status_pnl_and_heartbeat(client, alice, org_a):
    bot = paper_bot(org_a, name="pnl-bot")
    Bot.objects.filter(pk=bot.pk).update(last_heartbeat_at=timezone.now(), tick_count=7)
    PositionFactory(bot=bot, realized_pnl=Decimal("12.500000"))
    PositionFactory(bot=bot, realized_pnl=Decimal("-2.5"), closed_at=timezone.now())
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert f'data-bot-id="{bot.pk}"' in html
    assert ">10<" in html  # 12.5 - 2.5, without trailing zeros
    assert 'data-bot-field="status"' in html and ">stopped<" in html


def test_overview_renders_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    client.force_login(alice)
    PositionFactory(bot=paper_bot(org_a))
    few = count_queries(client, "/")
    for _ in range(49):
        PositionFactory(bot=paper_bot(org_a))
    with django_assert_max_num_queries(few):
        assert client.get("/").status_code == 200


def test_bot_detail_of_another_org_is_404(client, alice, org_b):
    bot = paper_bot(org_b)
    client.force_login(alice)
    assert client.get(reverse("dashboard:bot", args=[bot.pk])).status_code == 404


def test_opening_a_bot_of_another_of_the_users_organizations_selects_it(client, alice, org_a, org_b):
    MembershipFactory(user=alice, organization=org_b, role=Role.VIEWER)
    bot = paper_bot(org_b)
    client.force_login(alice)
    html = client.get(reverse("dashboard:bot", args=[bot.pk])).content.decode()
    assert client.session["organization_id"] == org_b.pk
    assert 'data-action="start"' not in html  # a viewer there, though an owner in org A
    assert client.post(reverse("dashboard:bot_start", args=[bot.pk])).status_code == 403


def test_bot_detail_shows_orders_fills_positions_events_and_chart(client, alice, org_a):
    bot = paper_bot(org_a)
    order = OrderFactory(bot=bot, price=Decimal("30100.50"))
    FillFactory(order=order, price=Decimal("30100.5"))
    PositionFactory(bot=bot)
    BotEventFactory(bot=bot, message="a very particular event")
    MetricSnapshotFactory(bot=bot, equity=Decimal("1010.25"))
    client.force_login(alice)
    html = client.get(reverse("dashboard:bot", args=[bot.pk])).content.decode()
    assert f'data-order-id="{order.pk}"' in html and "30100.5" in html
    assert "a very particular event" in html
    assert 'id="equity-data"' in html and "1010.25" in html


def test_bot_detail_renders_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    bot = paper_bot(org_a)
    client.force_login(alice)

    def add_rows(n):
        for _ in range(n):
            order = OrderFactory(bot=bot)
            FillFactory(order=order)
            BotEventFactory(bot=bot)
            PositionFactory(bot=bot, closed_at=timezone.now())

    add_rows(1)
    url = reverse("dashboard:bot", args=[bot.pk])
    few = count_queries(client, url)
    add_rows(49)
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200


def test_the_chart_uses_snapshots_when_there_are_some(org_a):
    bot = paper_bot(org_a)
    now = timezone.now()
    MetricSnapshotFactory(bot=bot, ts=now - dt.timedelta(minutes=5), equity=Decimal("1000"))
    MetricSnapshotFactory(bot=bot, ts=now, equity=Decimal("1005.5"))
    series = equity_series(bot)
    assert series["source"] == "snapshots"
    assert [p[1] for p in series["points"]] == ["1000.000000000000000000", "1005.500000000000000000"]


def test_the_chart_falls_back_to_cumulative_realized_pnl_of_fills(org_a):
    bot = paper_bot(org_a)
    now = timezone.now()
    buy = OrderFactory(bot=bot, side="buy")
    sell = OrderFactory(bot=bot, side="sell")
    FillFactory(order=buy, side="buy", price=Decimal("100"), amount=Decimal("2"), ts=now - dt.timedelta(minutes=2))
    FillFactory(
        order=sell,
        side="sell",
        price=Decimal("110"),
        amount=Decimal("1"),
        fee=Decimal("0.5"),
        fee_currency="USDT",
        ts=now - dt.timedelta(minutes=1),
    )
    FillFactory(order=sell, side="sell", price=Decimal("90"), amount=Decimal("1"), ts=now)
    series = equity_series(bot)
    assert series["source"] == "fills"
    assert [Decimal(p[1]) for p in series["points"]] == [Decimal("0"), Decimal("9.5"), Decimal("-0.5")]


# -- role gates on start, stop and manual orders ---------------------------------------------------------
def test_viewer_sees_no_buttons_and_a_forged_post_is_403(client, member, org_a):
    bot = paper_bot(org_a)
    viewer = member(Role.VIEWER)
    client.force_login(viewer)
    html = client.get(reverse("dashboard:bot", args=[bot.pk])).content.decode()
    assert 'data-action="start"' not in html and "Manual order" not in html
    for name in ("dashboard:bot_start", "dashboard:bot_stop"):
        assert client.post(reverse(name, args=[bot.pk])).status_code == 403
    response = client.post(
        reverse("dashboard:bot_order", args=[bot.pk]), {"side": "buy", "type": "market", "amount": "1"}
    )
    assert response.status_code == 403
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert not Order.objects.filter(bot=bot).exists()


def test_trader_starts_and_stops_a_bot(client, member, org_a):
    bot = paper_bot(org_a)
    client.force_login(member(Role.TRADER))
    html = client.get(reverse("dashboard:bot", args=[bot.pk])).content.decode()
    assert 'data-action="start"' in html
    response = client.post(reverse("dashboard:bot_start", args=[bot.pk]))
    assert response.status_code == 302
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    assert BotEvent.objects.filter(bot=bot, kind="bot.running", source="dashboard").exists()
    response = client.post(reverse("dashboard:bot_stop", args=[bot.pk]), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["bot"]["status"] == BotStatus.STOPPED
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_a_refused_start_says_why(client, member, org_a):
    bot = paper_bot(org_a)
    KillSwitch.objects.create(organization=org_a, engaged=True, reason="drill")
    client.force_login(member(Role.TRADER))
    response = client.post(reverse("dashboard:bot_start", args=[bot.pk]), HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "kill switch" in response.json()["message"]
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_trader_cannot_start_a_live_bot(client, member, org_a):
    account = ExchangeAccountFactory(organization=org_a, exchange="binance")
    bot = paper_bot(org_a, mode="live", exchange_account=account)
    client.force_login(member(Role.TRADER))
    html = client.get(reverse("dashboard:bot", args=[bot.pk])).content.decode()
    assert 'data-action="start"' not in html
    assert client.post(reverse("dashboard:bot_start", args=[bot.pk])).status_code == 403


def test_start_of_another_orgs_bot_is_404(client, alice, org_b):
    bot = paper_bot(org_b)
    client.force_login(alice)
    assert client.post(reverse("dashboard:bot_start", args=[bot.pk])).status_code == 404
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_manual_order_form_names_the_field_and_writes_nothing(client, member, org_a):
    bot = paper_bot(org_a)
    client.force_login(member(Role.TRADER))
    url = reverse("dashboard:bot_order", args=[bot.pk])
    response = client.post(url, {"side": "buy", "type": "limit", "amount": "0.01"})
    assert response.status_code == 400 and "A limit order needs a price." in response.content.decode()
    response = client.post(url, {"side": "buy", "type": "market", "amount": "0"})
    assert response.status_code == 400 and "more than zero" in response.content.decode()
    response = client.post(url, {"side": "hold", "type": "market", "amount": "1"})
    assert response.status_code == 400
    assert not Order.objects.filter(bot=bot).exists()


def test_manual_order_refused_by_risk_is_shown(client, member, org_a):
    bot = paper_bot(org_a)
    KillSwitch.objects.create(organization=org_a, engaged=True, reason="drill")
    client.force_login(member(Role.TRADER))
    response = client.post(
        reverse("dashboard:bot_order", args=[bot.pk]), {"side": "buy", "type": "market", "amount": "0.001"}
    )
    assert response.status_code == 400
    assert "kill switch" in response.content.decode().lower()
    assert not Order.objects.filter(bot=bot).exists()


# -- creating and editing bots ------------------------------------------------------------------------
def bot_form_data(account, **overrides):
    data = {
        "name": "new grid",
        "strategy": "grid",
        "exchange_account": account.pk,
        "symbol": "btc/usdt",
        "mode": "paper",
        "execution": "native",
        "tick_interval": "30",
        "capital": "500",
        "params": "",
    }
    return {**data, **overrides}


def test_trader_creates_a_bot_with_default_params(client, member, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    client.force_login(member(Role.TRADER))
    assert client.get(reverse("dashboard:bot_new")).status_code == 200
    response = client.post(reverse("dashboard:bot_new"), bot_form_data(account))
    bot = Bot.objects.get(organization=org_a, name="new grid")
    assert response.status_code == 302 and response.url == reverse("dashboard:bot", args=[bot.pk])
    assert bot.symbol == "BTC/USDT" and bot.capital == Decimal("500") and bot.params  # defaults filled in
    assert bot.status == BotStatus.STOPPED
    assert BotEvent.objects.filter(bot=bot, kind="bot.created", source="dashboard").exists()


def test_bot_form_names_the_bad_field_and_writes_nothing(client, member, org_a, org_b):
    account = ExchangeAccountFactory(organization=org_a)
    client.force_login(member(Role.TRADER))
    response = client.post(reverse("dashboard:bot_new"), bot_form_data(account, params='{"levels": 1}'))
    assert response.status_code == 400 and "levels" in response.content.decode()
    foreign = ExchangeAccountFactory(organization=org_b)
    response = client.post(reverse("dashboard:bot_new"), bot_form_data(foreign))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = client.post(reverse("dashboard:bot_new"), bot_form_data(account, params="[1, 2]"))
    assert response.status_code == 400
    assert not Bot.objects.exists()


def test_viewer_cannot_create_or_edit_bots(client, member, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    bot = paper_bot(org_a)
    client.force_login(member(Role.VIEWER))
    assert "New bot" not in client.get("/").content.decode()
    assert client.post(reverse("dashboard:bot_new"), bot_form_data(account)).status_code == 403
    assert client.post(reverse("dashboard:bot_edit", args=[bot.pk]), bot_form_data(account)).status_code == 403
    assert not Bot.objects.filter(name="new grid").exists()


def test_trader_edits_a_stopped_bot_but_not_a_running_one(client, member, org_a):
    bot = paper_bot(org_a, tick_interval=60)
    client.force_login(member(Role.TRADER))
    url = reverse("dashboard:bot_edit", args=[bot.pk])
    data = bot_form_data(bot.exchange_account, name=bot.name, params='{"levels": 5}', tick_interval="15")
    assert client.post(url, data).status_code == 302
    assert Bot.objects.get(pk=bot.pk).tick_interval == 15
    from bots.services import bot_start

    bot_start(bot=Bot.objects.select_related("exchange_account").get(pk=bot.pk))
    response = client.post(url, {**data, "tick_interval": "20"})
    assert response.status_code == 400 and "Stop the bot before editing it." in response.content.decode()
    assert Bot.objects.get(pk=bot.pk).tick_interval == 15


def test_editing_another_orgs_bot_is_404(client, alice, org_b):
    bot = paper_bot(org_b)
    client.force_login(alice)
    assert client.get(reverse("dashboard:bot_edit", args=[bot.pk])).status_code == 404


# -- exchange accounts --------------------------------------------------------------------------------
def test_accounts_show_secrets_masked(client, alice, org_a, org_b):
    ExchangeAccountFactory(
        organization=org_a, exchange="binance", label="Main", api_key="AKIAKEYVALUE9876", api_secret="s3cr3tvalue-4321"
    )
    ExchangeAccountFactory(organization=org_b, label="Foreign account")
    client.force_login(alice)
    html = client.get(reverse("dashboard:accounts")).content.decode()
    assert "••••9876" in html and "••••4321" in html
    assert "AKIAKEYVALUE9876" not in html and "s3cr3tvalue-4321" not in html
    assert "Foreign account" not in html


def test_admin_adds_a_paper_account_and_verifies_it(client, member, org_a):
    client.force_login(member(Role.ADMIN))
    response = client.post(reverse("dashboard:accounts"), {"exchange": "paper", "label": "Sandbox"})
    assert response.status_code == 302
    account = ExchangeAccount.objects.get(organization=org_a, label="Sandbox")
    assert account.status == ExchangeAccountStatus.UNVERIFIED
    response = client.post(reverse("dashboard:account_verify", args=[account.pk]))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == ExchangeAccountStatus.ACTIVE and account.last_verified_at is not None


def test_account_form_errors_write_nothing(client, member, org_a):
    client.force_login(member(Role.ADMIN))
    response = client.post(reverse("dashboard:accounts"), {"exchange": "nosuchexchange", "label": "X"})
    assert response.status_code == 400 and "Unknown exchange" in response.content.decode()
    response = client.post(reverse("dashboard:accounts"), {"exchange": "binance", "label": "Y", "api_key": "k"})
    assert response.status_code == 400 and "binance needs an API key and an API secret." in response.content.decode()
    assert not ExchangeAccount.objects.filter(organization=org_a).exists()


def test_a_submitted_secret_is_not_rendered_back(client, member, org_a):
    client.force_login(member(Role.ADMIN))
    response = client.post(
        reverse("dashboard:accounts"), {"exchange": "binance", "label": "", "api_key": "k", "api_secret": "TOPSECRET99"}
    )
    assert response.status_code == 400 and "TOPSECRET99" not in response.content.decode()


def test_trader_cannot_add_or_verify_accounts(client, member, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    client.force_login(member(Role.TRADER))
    assert "Add an account" not in client.get(reverse("dashboard:accounts")).content.decode()
    assert client.post(reverse("dashboard:accounts"), {"exchange": "paper", "label": "Z"}).status_code == 403
    assert client.post(reverse("dashboard:account_verify", args=[account.pk])).status_code == 403
    assert not ExchangeAccount.objects.filter(label="Z").exists()


def test_verifying_another_orgs_account_is_404(client, alice, org_b):
    account = ExchangeAccountFactory(organization=org_b)
    client.force_login(alice)
    assert client.post(reverse("dashboard:account_verify", args=[account.pk])).status_code == 404


def test_accounts_render_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    client.force_login(alice)
    paper_bot(org_a)
    few = count_queries(client, reverse("dashboard:accounts"))
    for _ in range(49):
        paper_bot(org_a)
    with django_assert_max_num_queries(few):
        client.get(reverse("dashboard:accounts"))


# -- risk limits and kill switch -----------------------------------------------------------------------
def test_admin_edits_risk_limits(client, member, org_a):
    client.force_login(member(Role.ADMIN))
    response = client.post(
        reverse("dashboard:risk"),
        {"max_order_notional": "250.50", "max_open_orders": "4", "allowed_symbols": "btc/usdt, ETH/USDT"},
    )
    assert response.status_code == 302
    limits = RiskLimits.objects.get(organization=org_a, bot=None, exchange_account=None)
    assert limits.max_order_notional == Decimal("250.50") and limits.max_open_orders == 4
    assert limits.allowed_symbols == ["BTC/USDT", "ETH/USDT"]
    assert BotEvent.objects.filter(organization=org_a, kind="risk.limits_created").exists()


def test_invalid_risk_limits_are_refused_naming_the_field(client, member, org_a):
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("100"))
    client.force_login(member(Role.ADMIN))
    response = client.post(reverse("dashboard:risk"), {"max_order_notional": "200", "max_drawdown_pct": "150"})
    assert response.status_code == 400
    assert RiskLimits.objects.get(organization=org_a).max_order_notional == Decimal("100")
    response = client.post(reverse("dashboard:risk"), {"allowed_symbols": "BTCUSDT"})
    assert response.status_code == 400 and "BTC/USDT" in response.content.decode()


def test_viewer_reads_limits_but_cannot_edit(client, member, org_a):
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("100"))
    client.force_login(member(Role.VIEWER))
    html = client.get(reverse("dashboard:risk")).content.decode()
    assert "Save limits" not in html and "100" in html
    assert client.post(reverse("dashboard:risk"), {"max_order_notional": "5"}).status_code == 403
    assert client.post(reverse("dashboard:kill_switch"), {"reason": "x", "confirm": org_a.name}).status_code == 403
    assert not KillSwitch.objects.filter(organization=org_a, engaged=True).exists()


def test_risk_renders_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    client.force_login(alice)
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("100"))
    RiskLimits.objects.create(organization=org_a, bot=paper_bot(org_a), max_open_orders=3)
    few = count_queries(client, reverse("dashboard:risk"))
    for _ in range(49):
        RiskLimits.objects.create(organization=org_a, bot=paper_bot(org_a), max_open_orders=3)
    with django_assert_max_num_queries(few):
        client.get(reverse("dashboard:risk"))


def test_kill_switch_needs_the_confirmation(client, member, org_a):
    bot = paper_bot(org_a)
    client.force_login(member(Role.ADMIN))
    from bots.services import bot_start

    bot_start(bot=bot)
    url = reverse("dashboard:kill_switch")
    assert "Type the organization" in client.get(url).content.decode()
    response = client.post(url, {"action": "engage", "reason": "market halt", "confirm": "wrong"})
    assert response.status_code == 400 and f"Type {org_a.name} exactly" in response.content.decode()
    assert not KillSwitch.objects.filter(organization=org_a, engaged=True).exists()
    response = client.post(url, {"action": "engage", "reason": "market halt", "confirm": org_a.name})
    assert response.status_code == 302
    assert KillSwitch.objects.get(organization=org_a).engaged
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert "Kill switch engaged" in client.get("/").content.decode()
    client.post(url, {"action": "release"})
    assert not KillSwitch.objects.get(organization=org_a).engaged


# -- hummingbot -----------------------------------------------------------------------------------------
def test_hummingbot_lists_own_instances_with_deployments(client, alice, org_a, org_b):
    deployment = HummingbotDeploymentFactory(bot__organization=org_a, bot__name="hb-mm")
    HummingbotInstanceFactory(organization=org_b, name="foreign-instance")
    client.force_login(alice)
    html = client.get(reverse("dashboard:hummingbot")).content.decode()
    assert deployment.instance.name in html and "hb-mm" in html
    assert "foreign-instance" not in html


def test_hummingbot_renders_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    client.force_login(alice)
    instance = HummingbotInstanceFactory(organization=org_a)
    HummingbotDeploymentFactory(bot__organization=org_a, instance=instance)
    few = count_queries(client, reverse("dashboard:hummingbot"))
    for _ in range(49):
        HummingbotDeploymentFactory(
            bot__organization=org_a, instance=HummingbotInstanceFactory(organization=org_a), status="stopped"
        )
    with django_assert_max_num_queries(few):
        client.get(reverse("dashboard:hummingbot"))


# -- API keys ---------------------------------------------------------------------------------------------
def test_owner_creates_a_key_shown_once(client, alice, org_a):
    client.force_login(alice)
    response = client.post(reverse("dashboard:api_keys"), {"name": "ci", "scopes": ["read", "trade"]})
    assert response.status_code == 201
    key = ApiKey.objects.get(organization=org_a, name="ci")
    full = response.context["new_key"]
    prefix, secret = full.split(".", 1)
    assert prefix == key.prefix and key.check_secret(secret) and key.scopes == ["read", "trade"]
    assert full in response.content.decode()
    html = client.get(reverse("dashboard:api_keys")).content.decode()
    assert secret not in html and key.prefix in html


def test_api_key_form_errors(client, alice, org_a):
    client.force_login(alice)
    past = (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    response = client.post(reverse("dashboard:api_keys"), {"name": "ci", "scopes": ["read"], "expires_at": past})
    assert response.status_code == 400 and "must be in the future" in response.content.decode()
    response = client.post(reverse("dashboard:api_keys"), {"name": "ci"})
    assert response.status_code == 400
    assert not ApiKey.objects.filter(organization=org_a).exists()


def test_owner_revokes_a_key_but_not_another_orgs(client, alice, org_a, org_b):
    mine = ApiKeyFactory(organization=org_a)
    theirs = ApiKeyFactory(organization=org_b)
    client.force_login(alice)
    assert client.post(reverse("dashboard:api_key_revoke", args=[mine.pk])).status_code == 302
    assert client.post(reverse("dashboard:api_key_revoke", args=[theirs.pk])).status_code == 404
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_api_keys_are_for_admins_and_owners_write(client, member, org_a):
    client.force_login(member(Role.VIEWER))
    assert client.get(reverse("dashboard:api_keys")).status_code == 403
    client.force_login(member(Role.ADMIN))
    assert client.get(reverse("dashboard:api_keys")).status_code == 200
    assert client.post(reverse("dashboard:api_keys"), {"name": "x", "scopes": ["read"]}).status_code == 403
    assert not ApiKey.objects.filter(organization=org_a).exists()


def test_api_keys_render_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    client.force_login(alice)
    ApiKeyFactory(organization=org_a)
    few = count_queries(client, reverse("dashboard:api_keys"))
    for _ in range(49):
        ApiKeyFactory(organization=org_a)
    with django_assert_max_num_queries(few):
        client.get(reverse("dashboard:api_keys"))


# -- helpers ------------------------------------------------------------------------------------------------
def test_money_drops_exponent_and_trailing_zeros():
    assert money(Decimal("0E-18")) == "0"
    assert money(Decimal("30100.500000000000000000")) == "30100.5"
    assert money(Decimal("1E+3")) == "1000"
    assert money(None) == "—"


def test_health_answers(client):
    assert client.get("/healthz").json() == {"status": "ok"}
