"""DEX accounts in the API (/api/v1/dex/accounts/) against the loopback Gateway: paper and live
accounts added through dex_account_create, verified, their pairs and slippage changed; refusals
name their field and write nothing; roles and API key scopes; another organization's Gateway or
wallet is not found."""

from decimal import Decimal

import pytest

from bots.models import BotEvent
from dex.models import DexAccount
from dex.services import connection_create, connection_verify, dex_account_create, wallet_add
from exchanges.models import ExchangeAccount, PaperBalance
from organizations.models import Role
from tests.api.conftest import error_of
from tests.dex.gateway_server import GatewayServer, new_keypair
from tests.factories import DexAccountFactory, DexWalletFactory, GatewayConnectionFactory

pytestmark = pytest.mark.django_db
ACCOUNTS = "/api/v1/dex/accounts/"


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        server.prices[("SOL", "USDC")] = Decimal("150")
        server.spread = Decimal("0.001")
        yield server


@pytest.fixture
def connection(gateway, org_a, alice):
    made = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    return connection_verify(connection=made, user=alice)


@pytest.fixture
def wallet(gateway, connection, alice):
    key, address = new_keypair()
    gateway.balances[address] = {"SOL": Decimal("10"), "USDC": Decimal("1000")}
    return wallet_add(connection=connection, private_key=key, user=alice)


def nothing_written() -> bool:
    return not DexAccount.objects.exists() and not ExchangeAccount.objects.exists()


def test_a_paper_account_is_added_verified_and_listed(client_for, alice, connection):
    api = client_for(alice)
    body = {
        "label": "Jupiter paper",
        "connection": connection.pk,
        "wallet": None,
        "pairs": ["SOL/USDC"],
        "slippage_bps": 30,
        "quote_amount": "2",
        "paper_balances": {"USDC": "1000", "SOL": 2},
    }
    created = api.post(ACCOUNTS, body, format="json")
    assert created.status_code == 201, created.json()
    dex = DexAccount.objects.select_related("account").get()
    assert created.json() == {
        "id": dex.pk,
        "organization": connection.organization_id,
        "label": "Jupiter paper",
        "exchange_account": dex.account_id,
        "venue": "jupiter_paper",
        "paper": True,
        "connection": connection.pk,
        "connection_name": "local",
        "wallet": None,
        "wallet_address": None,
        "pairs": ["SOL/USDC"],
        "slippage_bps": 30,
        "quote_amount": "2.000000000000000000",
        "status": "unverified",
        "status_reason": "",
        "last_verified_at": None,
        "created_at": created.json()["created_at"],
    }
    balances = {b.asset: b.free for b in PaperBalance.objects.filter(account=dex.account)}
    assert balances == {"USDC": Decimal(1000), "SOL": Decimal(2)}
    assert BotEvent.objects.get(kind="dex.account_created").source == "api"

    verified = api.post(f"{ACCOUNTS}{dex.pk}/verify/")
    assert verified.status_code == 200, verified.json()
    assert verified.json()["status"] == "active" and verified.json()["last_verified_at"] is not None
    assert ExchangeAccount.objects.get(pk=dex.account_id).status == "active"
    assert [row["id"] for row in api.get(ACCOUNTS).json()["results"]] == [dex.pk]
    assert api.get(f"{ACCOUNTS}{dex.pk}/").json()["status"] == "active"


def test_a_live_account_swaps_from_its_wallet_and_fails_verification_once_gateway_lost_the_key(
    client_for, alice, gateway, connection, wallet
):
    api = client_for(alice)
    created = api.post(
        ACCOUNTS, {"label": "Jupiter live", "connection": connection.pk, "wallet": wallet.pk}, format="json"
    )
    assert created.status_code == 201, created.json()
    row = created.json()
    assert (row["venue"], row["paper"], row["wallet"], row["wallet_address"]) == (
        "jupiter",
        False,
        wallet.pk,
        wallet.address,
    )
    assert (row["pairs"], row["slippage_bps"], row["quote_amount"]) == (["SOL/USDC"], 50, "1.000000000000000000")
    verified = api.post(f"{ACCOUNTS}{row['id']}/verify/").json()
    assert verified["status"] == "active"

    gateway.wallets.clear()
    failed = api.post(f"{ACCOUNTS}{row['id']}/verify/").json()
    assert (
        failed["status"] == "error" and f"Gateway holds no key for wallet {wallet.address}" in failed["status_reason"]
    )
    assert [(row["id"], row["paper"]) for row in api.get(ACCOUNTS, {"paper": "false"}).json()["results"]] == [
        (row["id"], False)
    ]
    assert api.get(ACCOUNTS, {"paper": "true"}).json()["results"] == []


@pytest.mark.parametrize(
    "values, field, says",
    [
        ({"pairs": ["SOLUSDC"]}, "pairs", "BASE/QUOTE"),
        ({"pairs": []}, "pairs", "BASE/QUOTE"),
        ({"pairs": "SOL/USDC"}, "pairs", "list"),
        ({"slippage_bps": 0}, "slippage_bps", "from 1 to 5000"),
        ({"slippage_bps": "lots"}, "slippage_bps", "integer"),
        ({"quote_amount": "-1"}, "quote_amount", "positive"),
        ({"paper_balances": {"USDC": "-5"}}, "paper_balances", "cannot be negative"),
        ({"paper_balances": {"USDC": "lots"}}, "paper_balances.USDC", "number"),
        ({"label": ""}, "label", "blank"),
        ({"connection": None}, "connection", "null"),
        ({"connection": 999_999}, "connection", "does not exist"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_is_written(client_for, alice, connection, values, field, says):
    body = {"label": "Jupiter paper", "connection": connection.pk} | values
    response = client_for(alice).post(ACCOUNTS, body, format="json")
    assert response.status_code == 400, response.json()
    error = error_of(response)
    assert error["field"] == field and says in error["message"], error
    assert nothing_written()


def test_a_wallet_of_another_gateway_or_paper_balances_for_a_live_account_are_refused(
    client_for, alice, org_a, gateway, connection, wallet
):
    api = client_for(alice)
    other = connection_create(organization=org_a, user=alice, name="other", url=gateway.url)
    elsewhere = api.post(ACCOUNTS, {"label": "L", "connection": other.pk, "wallet": wallet.pk}, format="json")
    assert elsewhere.status_code == 400 and error_of(elsewhere) == {
        "code": "invalid",
        "message": "The wallet is registered in another Gateway.",
        "field": "wallet",
    }
    funded = api.post(
        ACCOUNTS,
        {"label": "L", "connection": connection.pk, "wallet": wallet.pk, "paper_balances": {"USDC": "1"}},
        format="json",
    )
    assert funded.status_code == 400 and "give no paper balances" in error_of(funded)["message"]
    dex_account_create(organization=org_a, connection=connection, label="Taken", user=alice)
    taken = api.post(ACCOUNTS, {"label": "Taken", "connection": connection.pk}, format="json")
    assert taken.status_code == 400 and error_of(taken)["field"] == "label"
    assert DexAccount.objects.count() == 1 and ExchangeAccount.objects.count() == 1


def test_another_organizations_gateway_or_wallet_is_not_found(client_for, alice, org_b, connection):
    their_gateway = GatewayConnectionFactory(organization=org_b)
    their_wallet = DexWalletFactory(connection=their_gateway)
    api = client_for(alice)
    for body, field in (
        ({"connection": their_gateway.pk}, "connection"),
        ({"connection": connection.pk, "wallet": their_wallet.pk}, "wallet"),
    ):
        response = api.post(ACCOUNTS, {"label": "sneaky", **body}, format="json")
        assert response.status_code == 400 and error_of(response)["field"] == field
        assert "does not exist" in error_of(response)["message"]
    assert nothing_written()


def test_patch_changes_the_pairs_and_the_slippage_only(client_for, alice, org_a, connection, wallet):
    dex = dex_account_create(organization=org_a, connection=connection, label="Jupiter paper", user=alice)
    api = client_for(alice)
    changed = api.patch(f"{ACCOUNTS}{dex.pk}/", {"pairs": ["SOL/USDC", "JUP/USDC"], "slippage_bps": 25}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["pairs"], changed.json()["slippage_bps"]) == (["SOL/USDC", "JUP/USDC"], 25)
    event = BotEvent.objects.get(kind="dex.account_updated")
    assert (event.source, event.actor, event.data["fields"]) == ("api", alice, ["pairs", "slippage_bps"])
    assert api.patch(f"{ACCOUNTS}{dex.pk}/", {"slippage_bps": 25}, format="json").status_code == 200
    assert BotEvent.objects.filter(kind="dex.account_updated").count() == 1  # nothing changed: nothing recorded

    for body, field in (
        ({"slippage_bps": 5001}, "slippage_bps"),
        ({"pairs": ["SOL/SOL"]}, "pairs"),
        ({"wallet": wallet.pk}, "wallet"),
        ({"label": "renamed", "slippage_bps": 10}, "label"),
    ):
        refused = api.patch(f"{ACCOUNTS}{dex.pk}/", body, format="json")
        assert refused.status_code == 400 and error_of(refused)["field"] == field, (body, refused.json())
    dex = DexAccount.objects.select_related("account").get(pk=dex.pk)
    assert (dex.pairs, dex.slippage_bps, dex.wallet, dex.account.label) == (
        ["SOL/USDC", "JUP/USDC"],
        25,
        None,
        "Jupiter paper",
    )
    assert api.put(f"{ACCOUNTS}{dex.pk}/", {"slippage_bps": 10}, format="json").status_code == 405


def test_members_read_and_only_admins_write(client_for, member, make_key, org_a, alice, connection):
    dex = dex_account_create(organization=org_a, connection=connection, label="Jupiter paper", user=alice)
    body = {"label": "Another", "connection": connection.pk}
    viewer = client_for(member(Role.VIEWER))
    assert viewer.get(ACCOUNTS).status_code == 200 and viewer.get(f"{ACCOUNTS}{dex.pk}/").status_code == 200
    trader = client_for(member(Role.TRADER))
    for client in (viewer, trader, client_for(key=make_key("read", "trade")[1])):
        assert client.post(ACCOUNTS, body, format="json").status_code == 403
        assert client.patch(f"{ACCOUNTS}{dex.pk}/", {"slippage_bps": 10}, format="json").status_code == 403
        assert client.post(f"{ACCOUNTS}{dex.pk}/verify/").status_code == 403
    assert DexAccount.objects.count() == 1 and DexAccount.objects.get().slippage_bps == 50
    assert ExchangeAccount.objects.get().status == "unverified"

    admin_key = client_for(key=make_key("read", "trade", "admin")[1])
    assert admin_key.post(ACCOUNTS, body, format="json").status_code == 201
    verified = admin_key.post(f"{ACCOUNTS}{dex.pk}/verify/")
    assert verified.json()["status"] == "active"
    event = BotEvent.objects.get(kind="exchange_account.verified")
    assert event.source == "api" and "api_key" in event.data
    admin = client_for(member(Role.ADMIN))
    assert admin.patch(f"{ACCOUNTS}{dex.pk}/", {"slippage_bps": 10}, format="json").status_code == 200


def test_the_list_costs_the_same_queries_however_many_rows(client_for, make_key, org_a, django_assert_num_queries):
    gateway = GatewayConnectionFactory(organization=org_a)
    for n in range(6):
        wallet = DexWalletFactory(connection=gateway) if n % 2 else None
        DexAccountFactory(connection=gateway, wallet=wallet)
    client = client_for(key=make_key("read")[1])
    client.get(ACCOUNTS)  # the key's first use also stamps its last_used_at
    with django_assert_num_queries(2):  # the key, the page
        response = client.get(ACCOUNTS)
    assert len(response.json()["results"]) == 6
    assert {row["paper"] for row in response.json()["results"]} == {True, False}
