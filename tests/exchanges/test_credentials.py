"""Credentials follow ccxt's requiredCredentials: each surface asks for, stores and shows exactly
the fields the account's exchange needs, and refuses the others."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from exchanges import venues
from exchanges.models import ExchangeAccount, ExchangeAccountStatus
from exchanges.services import exchange_account_update, exchange_account_verify
from organizations.models import Role
from tests.factories import ExchangeAccountFactory

pytestmark = pytest.mark.django_db


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


WALLET = "0x9b1c8e5d7a00b6ae6e01e6f5c6f1d1c3a1b2c3d4"
PRIVATE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.mark.parametrize(
    "exchange, fields",
    [
        ("binance", ("api_key", "api_secret")),
        ("bybit", ("api_key", "api_secret")),
        ("binanceusdm", ("api_key", "api_secret")),
        ("okx", ("api_key", "api_secret", "passphrase")),
        ("hyperliquid", ("wallet_address", "private_key")),
        ("paper", ()),
    ],
)
def test_each_exchange_asks_for_what_ccxt_requires(exchange, fields):
    assert venues.credential_fields(exchange) == fields


def test_the_api_takes_a_wallet_for_hyperliquid_and_shows_it_masked(alice, org_a):
    client = api_client(alice)
    body = {"exchange": "hyperliquid", "label": "HL", "wallet_address": WALLET, "private_key": PRIVATE_KEY}
    response = client.post("/api/v1/exchange-accounts/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["credential_fields"] == ["wallet_address", "private_key"]
    assert data["masked_credentials"] == {"wallet_address": "••••c3d4", "private_key": "••••2318"}
    text = response.content.decode() + client.get(f"/api/v1/exchange-accounts/{data['id']}/").content.decode()
    assert WALLET not in text and PRIVATE_KEY not in text
    account = ExchangeAccount.objects.get(pk=data["id"])
    assert (account.wallet_address, account.private_key, account.api_key) == (WALLET, PRIVATE_KEY, "")


def test_the_api_refuses_a_credential_the_exchange_does_not_take(alice, org_a):
    client = api_client(alice)
    body = {"exchange": "hyperliquid", "label": "HL", "api_key": "AKIA-not-for-hl", "private_key": PRIVATE_KEY}
    response = client.post("/api/v1/exchange-accounts/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "api_key"
    assert error["message"] == "hyperliquid needs a wallet address and a private key. It takes no api key."
    response = client.post(
        "/api/v1/exchange-accounts/", {"exchange": "binance", "label": "B", "private_key": PRIVATE_KEY}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "private_key"
    assert not ExchangeAccount.objects.filter(organization=org_a).exists()


def test_moving_an_account_to_another_exchange_drops_the_old_credentials(org_a, alice):
    account = ExchangeAccountFactory(
        organization=org_a, exchange="binance", api_key="AKIA1234", api_secret="secret-5678", status="active"
    )
    moved = exchange_account_update(
        account=account,
        data={"exchange": "hyperliquid", "wallet_address": WALLET, "private_key": PRIVATE_KEY},
        user=alice,
    )
    moved = ExchangeAccount.objects.get(pk=moved.pk)
    assert (moved.api_key, moved.api_secret) == ("", "")
    assert (moved.wallet_address, moved.private_key) == (WALLET, PRIVATE_KEY)
    assert moved.status == ExchangeAccountStatus.UNVERIFIED


def test_verify_names_the_missing_credentials(org_a, alice):
    account = ExchangeAccountFactory(organization=org_a, exchange="hyperliquid", wallet_address=WALLET)
    account = exchange_account_verify(account=account, user=alice)
    assert account.status == ExchangeAccountStatus.ERROR
    assert account.status_reason == ("The account needs a wallet address and a private key before it can be verified.")


def test_the_dashboard_form_carries_the_fields_of_the_chosen_exchange(client, member, org_a):
    client.force_login(member(Role.ADMIN))
    html = client.get(reverse("dashboard:accounts") + "?exchange=hyperliquid").content.decode()
    assert 'name="wallet_address"' in html and 'name="private_key"' in html
    assert 'name="api_key"' not in html and 'name="passphrase"' not in html
    html = client.get(reverse("dashboard:accounts") + "?exchange=okx").content.decode()
    assert 'name="api_key"' in html and 'name="passphrase"' in html and 'name="private_key"' not in html
    assert 'name="api_key"' not in client.get(reverse("dashboard:accounts")).content.decode()  # paper

    response = client.post(
        reverse("dashboard:accounts"), {"exchange": "hyperliquid", "label": "HL", "wallet_address": WALLET}
    )
    assert response.status_code == 400
    assert "hyperliquid needs a wallet address and a private key." in response.content.decode()
    assert not ExchangeAccount.objects.filter(organization=org_a).exists()

    response = client.post(
        reverse("dashboard:accounts"),
        {"exchange": "hyperliquid", "label": "HL", "wallet_address": WALLET, "private_key": PRIVATE_KEY},
    )
    assert response.status_code == 302
    account = ExchangeAccount.objects.get(organization=org_a, label="HL")
    assert (account.wallet_address, account.private_key) == (WALLET, PRIVATE_KEY)
    html = client.get(reverse("dashboard:accounts")).content.decode()
    assert "Wallet address ••••c3d4" in html and "Private key ••••2318" in html
    assert WALLET not in html and PRIVATE_KEY not in html


def test_the_admin_shows_only_the_credentials_of_the_account_exchange(client, superuser, org_a):
    account = ExchangeAccountFactory(
        organization=org_a, exchange="hyperliquid", wallet_address=WALLET, private_key=PRIVATE_KEY
    )
    client.force_login(superuser)
    html = client.get(f"/admin/exchanges/exchangeaccount/{account.pk}/change/").content.decode()
    assert 'name="wallet_address"' in html and 'name="private_key"' in html
    assert 'name="api_key"' not in html and 'name="api_secret"' not in html
    assert WALLET not in html and PRIVATE_KEY not in html and "••••2318" in html

    response = client.post(
        f"/admin/exchanges/exchangeaccount/{account.pk}/change/",
        {
            "organization": org_a.pk,
            "label": "HL renamed",
            "exchange": "hyperliquid",
            "is_testnet": "",
            "wallet_address": "",
            "private_key": "",
            "status": "active",
            "status_reason": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.label, account.wallet_address, account.private_key) == ("HL renamed", WALLET, PRIVATE_KEY)


def test_the_admin_refuses_a_credential_the_exchange_does_not_take(client, superuser, org_a):
    client.force_login(superuser)
    response = client.post(
        "/admin/exchanges/exchangeaccount/add/",
        {
            "organization": org_a.pk,
            "label": "B",
            "exchange": "binance",
            "api_key": "AKIA1",
            "api_secret": "s1",
            "passphrase": "",
            "wallet_address": WALLET,
            "private_key": "",
            "status": "unverified",
            "status_reason": "",
        },
    )
    assert response.status_code == 200
    assert "binance needs an API key and an API secret. It takes no wallet address." in response.content.decode()
    assert not ExchangeAccount.objects.filter(organization=org_a).exists()
