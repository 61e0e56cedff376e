"""Exchange account verification against a loopback Binance (real ccxt), the bot metrics action,
and the create/edit services the API shares with the other surfaces."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import Bot, BotEvent
from bots.services import bot_create, bot_update
from core.errors import ApplicationError, PermissionDeniedError
from exchanges.models import ExchangeAccount
from exchanges.services import exchange_account_create, exchange_account_update, exchange_account_verify
from organizations.models import Role
from tests.api.conftest import error_of
from tests.exchanges.binance_server import BinanceServer
from tests.factories import BotFactory, ExchangeAccountFactory, FillFactory, OrderFactory, PositionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def server():
    with BinanceServer() as srv:
        yield srv


@pytest.fixture
def binance(server, settings):
    server.reset()
    settings.EXCHANGE_URL_OVERRIDES = {"binance": server.base_url}
    settings.EXCHANGE_TIMEOUT_MS = 2000
    return server


def binance_account(org, *, key, secret, status="unverified"):
    return ExchangeAccountFactory(
        organization=org, exchange="binance", api_key=key, api_secret=secret, status=status, label="Binance main"
    )


# -- verify -----------------------------------------------------------------------------------------------
def test_verify_reads_the_balance_and_marks_the_account_active(client_for, alice, org_a, binance):
    account = binance_account(org_a, key=binance.api_key, secret=binance.api_secret)
    before = timezone.now()
    response = client_for(alice).post(f"/api/v1/exchange-accounts/{account.pk}/verify/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "active" and body["status_reason"] == ""
    account.refresh_from_db()
    assert account.status == "active" and account.last_verified_at >= before
    assert ("GET", "/api/v3/account") in [(m, p.split("?")[0]) for m, p in binance.requests]
    event = BotEvent.objects.get(organization=org_a, kind="exchange_account.verified")
    assert event.actor == alice and event.source == "api" and event.data["account"] == account.pk


def test_verify_with_bad_credentials_fails_with_a_reason_and_no_secret(client_for, alice, org_a, binance):
    secret = "wrong-secret-value-9876"
    account = binance_account(org_a, key="wrong-key-ABCD1234", secret=secret, status="active")
    response = client_for(alice).post(f"/api/v1/exchange-accounts/{account.pk}/verify/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "error"
    assert body["status_reason"].startswith("The exchange refused the credentials")
    assert "Invalid API-key" in body["status_reason"]
    account.refresh_from_db()
    assert account.status == "error" and account.last_verified_at is None
    event = BotEvent.objects.get(organization=org_a, kind="exchange_account.verify_failed")
    stored = response.content.decode() + event.message + str(event.data) + account.status_reason
    assert "wrong-key-ABCD1234" not in stored and secret not in stored


def test_verify_with_a_wrong_secret_is_refused_by_the_signature_check(org_a, alice, binance):
    account = binance_account(org_a, key=binance.api_key, secret="not-the-secret")
    account = exchange_account_verify(account=account, user=alice)
    assert account.status == "error" and "not-the-secret" not in account.status_reason
    assert ExchangeAccount.objects.get(pk=account.pk).status_reason == account.status_reason


def test_an_unreachable_exchange_is_a_failed_verification(org_a, alice, settings):
    with BinanceServer() as gone:
        url = gone.base_url
    settings.EXCHANGE_URL_OVERRIDES = {"binance": url}
    account = exchange_account_verify(account=binance_account(org_a, key="k", secret="s"), user=alice)
    assert account.status == "error" and account.status_reason.startswith("The exchange could not be reached")


def test_a_paper_account_verifies_at_once(client_for, make_key, org_a):
    account = ExchangeAccountFactory(organization=org_a, status="unverified")
    key, full_key = make_key("admin")
    response = client_for(key=full_key).post(f"/api/v1/exchange-accounts/{account.pk}/verify/")
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert response.json()["last_verified_at"] is not None
    event = BotEvent.objects.get(kind="exchange_account.verified")
    assert event.data["api_key"] == key.prefix and event.actor is None


def test_an_account_without_credentials_fails_verification(org_a, alice):
    account = ExchangeAccountFactory(organization=org_a, exchange="binance", status="unverified")
    account = exchange_account_verify(account=account, user=alice)
    assert (account.status, account.status_reason) == (
        "error",
        "The account needs an API key and an API secret before it can be verified.",
    )


def test_verify_needs_the_admin_role(client_for, member, make_key, org_a):
    account = ExchangeAccountFactory(organization=org_a, status="unverified")
    refused = client_for(member(Role.TRADER)).post(f"/api/v1/exchange-accounts/{account.pk}/verify/")
    assert refused.status_code == 403 and error_of(refused)["code"] == "permission_denied"
    by_key = client_for(key=make_key("read", "trade")[1]).post(f"/api/v1/exchange-accounts/{account.pk}/verify/")
    assert by_key.status_code == 403
    account.refresh_from_db()
    assert account.status == "unverified"
    assert client_for(member(Role.ADMIN)).post(f"/api/v1/exchange-accounts/{account.pk}/verify/").status_code == 200


def test_verify_of_another_organizations_account_is_not_found(client_for, alice, org_b):
    account = ExchangeAccountFactory(organization=org_b, status="unverified")
    response = client_for(alice).post(f"/api/v1/exchange-accounts/{account.pk}/verify/")
    assert response.status_code == 404
    account.refresh_from_db()
    assert account.status == "unverified"


# -- metrics --------------------------------------------------------------------------------------------
def test_metrics_sum_pnl_orders_fills_and_volume(client_for, alice, org_a, django_assert_max_num_queries):
    bot = BotFactory(organization=org_a)
    now = timezone.now()
    open_order = OrderFactory(bot=bot, status="open")
    OrderFactory(bot=bot, status="partially_filled")
    filled = OrderFactory(bot=bot, status="filled")
    OrderFactory(bot=bot, status="canceled")
    FillFactory(order=filled, price=Decimal("30000"), amount=Decimal("0.01"), ts=now - dt.timedelta(hours=30))
    FillFactory(order=filled, price=Decimal("31000"), amount=Decimal("0.02"), ts=now - dt.timedelta(hours=1))
    FillFactory(order=open_order, price=Decimal("32000"), amount=Decimal("0.01"), ts=now - dt.timedelta(minutes=5))
    # Open: 0.5 at 30,000 marked at the last fill (32,000) = +1,000; closed: realized 12.5.
    PositionFactory(bot=bot, quantity=Decimal("0.5"), average_entry_price=Decimal("30000"), realized_pnl=Decimal("7"))
    PositionFactory(
        bot=bot, quantity=Decimal("0"), realized_pnl=Decimal("5.5"), closed_at=now, fees_paid=Decimal("1.25")
    )
    other = BotFactory(organization=org_a)
    FillFactory(order=OrderFactory(bot=other, status="open"), price=Decimal("99999"), ts=now)

    client = client_for(alice)
    with django_assert_max_num_queries(8):
        response = client.get(f"/api/v1/bots/{bot.pk}/metrics/")
    assert response.status_code == 200
    body = response.json()
    assert Decimal(body["realized_pnl"]) == Decimal("12.5")
    assert Decimal(body["unrealized_pnl"]) == Decimal("1000")
    assert Decimal(body["total_pnl"]) == Decimal("1012.5")
    assert Decimal(body["fees_paid"]) == Decimal("1.25")
    assert (body["orders_count"], body["open_orders"], body["fills_count"], body["open_positions"]) == (4, 2, 3, 1)
    assert Decimal(body["volume_24h"]) == Decimal("620") + Decimal("320")


def test_metrics_of_a_new_bot_are_zero(client_for, make_key, org_a):
    bot = BotFactory(organization=org_a)
    body = client_for(key=make_key("read")[1]).get(f"/api/v1/bots/{bot.pk}/metrics/").json()
    assert Decimal(body["realized_pnl"]) == Decimal("0") and Decimal(body["volume_24h"]) == Decimal("0")
    assert (body["orders_count"], body["fills_count"], body["open_orders"]) == (0, 0, 0)


def test_metrics_of_another_organizations_bot_are_not_found(client_for, alice, b_objects):
    response = client_for(alice).get(f"/api/v1/bots/{b_objects['bot'].pk}/metrics/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# -- the services other surfaces call -----------------------------------------------------------------
def test_bot_create_validates_and_audits(org_a, alice):
    account = ExchangeAccountFactory(organization=org_a)
    bot = bot_create(
        data={"name": "G", "strategy": "grid", "exchange_account": account, "symbol": "BTC/USDT"},
        user=alice,
        source="dashboard",
    )
    assert bot.organization == org_a and bot.created_by == alice and bot.params
    assert BotEvent.objects.filter(bot=bot, kind="bot.created", actor=alice, source="dashboard").exists()
    with pytest.raises(ApplicationError) as exc:
        bot_create(
            data={
                "name": "H",
                "strategy": "grid",
                "exchange_account": account,
                "symbol": "BTC/USDT",
                "params": {"x": 1},
            },
            user=alice,
        )
    assert exc.value.field == "params"
    assert not Bot.objects.filter(name="H").exists()


def test_bot_create_refuses_a_viewer_and_live_mode_for_a_trader(org_a, member):
    account = ExchangeAccountFactory(organization=org_a, exchange="binance")
    data = {"name": "L", "strategy": "grid", "exchange_account": account, "symbol": "BTC/USDT", "mode": "live"}
    with pytest.raises(PermissionDeniedError):
        bot_create(data=data, user=member(Role.VIEWER))
    with pytest.raises(PermissionDeniedError):
        bot_create(data=data, user=member(Role.TRADER))
    assert bot_create(data=data, user=member(Role.ADMIN)).mode == "live"


def test_bot_update_writes_only_the_edited_columns(org_a, alice):
    bot = BotFactory(organization=org_a)
    Bot.objects.filter(pk=bot.pk).update(tick_count=42)
    updated = bot_update(bot=bot, data={"name": "Renamed"}, user=alice)
    assert updated.name == "Renamed" and Bot.objects.get(pk=bot.pk).tick_count == 42
    with pytest.raises(ApplicationError) as exc:
        bot_update(bot=bot, data={"status": "running"}, user=alice)
    assert exc.value.field == "status"
    assert BotEvent.objects.filter(bot=bot, kind="bot.updated", actor=alice).count() == 1


def test_exchange_account_services_keep_blank_credentials(org_a, alice, member):
    account = exchange_account_create(
        organization=org_a,
        data={"exchange": "binance", "label": "B", "api_key": "K-1234", "api_secret": "S"},
        user=alice,
    )
    assert account.status == "unverified"
    ExchangeAccount.objects.filter(pk=account.pk).update(status="active")
    kept = exchange_account_update(account=account, data={"label": "B2", "api_key": ""}, user=alice)
    assert (kept.label, kept.api_key, kept.status) == ("B2", "K-1234", "active")
    with pytest.raises(PermissionDeniedError):
        exchange_account_update(account=account, data={"label": "B3"}, user=member(Role.TRADER))
    with pytest.raises(ApplicationError) as exc:
        exchange_account_create(organization=org_a, data={"exchange": "nope", "label": "X"}, user=alice)
    assert exc.value.field == "exchange"


# -- ping and the bots list ---------------------------------------------------------------------------
def test_ping_needs_credentials_and_answers_ok(client, client_for, make_key, django_assert_num_queries):
    anonymous = client.get("/api/v1/ping/")
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "not_authenticated"
    keyed = client_for(key=make_key("read")[1])
    keyed.get("/api/v1/ping/")  # stamps last_used_at once
    with django_assert_num_queries(1):  # the key
        response = keyed.get("/api/v1/ping/")
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_bots_list_query_count_does_not_grow(client_for, make_key, org_a, django_assert_num_queries):
    for _ in range(15):
        BotFactory(organization=org_a)
    client = client_for(key=make_key("read")[1])
    client.get("/api/v1/bots/")
    # The key, then the page of bots (no account rows, no strategy memory).
    with django_assert_num_queries(2) as captured:
        response = client.get("/api/v1/bots/")
    assert len(response.json()["results"]) == 15
    assert '"state"' not in captured.captured_queries[-1]["sql"]
