"""The DEX routes of the API against the loopback Gateway: connections and their check, wallets
added (the key never returned) and removed, swaps listed with their signatures and states and
filtered; roles and API key scopes."""

from decimal import Decimal

import pytest

from dex.models import DexWallet
from dex.services import connection_create
from dex.swaps import swap_execute
from organizations.models import Role
from tests.api.conftest import error_of
from tests.dex.gateway_server import GatewayServer, new_keypair

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        server.prices[("SOL", "USDC")] = Decimal("150")
        yield server


def test_a_gateway_is_checked_a_wallet_added_and_its_swaps_listed(client_for, alice, org_a, gateway):
    connection = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    api = client_for(alice)
    listed = api.get("/api/v1/dex/gateways/").json()["results"]
    assert [g["name"] for g in listed] == ["local"] and listed[0]["client_certificate"] is False
    checked = api.post(f"/api/v1/dex/gateways/{connection.pk}/verify/").json()
    assert checked["status"] == "active" and checked["block_number"] >= 250_000_000

    key, address = new_keypair()
    response = api.post(
        "/api/v1/dex/wallets/", {"connection": connection.pk, "private_key": key, "label": "hot"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["address"] == address and key not in response.content.decode()
    bad = api.post("/api/v1/dex/wallets/", {"connection": connection.pk, "private_key": "nope"}, format="json")
    assert bad.status_code == 400 and error_of(bad)["field"] == "private_key"

    wallet = DexWallet.objects.get()
    gateway.balances[address] = {"SOL": Decimal("5"), "USDC": Decimal("0")}
    done = swap_execute(
        wallet=wallet, intent_key="a", base="SOL", quote="USDC", side="sell", amount=Decimal("1"), slippage_bps=30
    )
    swap_execute(
        wallet=wallet, intent_key="b", base="SOL", quote="JUP", side="sell", amount=Decimal("1"), slippage_bps=30
    )
    swaps = api.get("/api/v1/dex/swaps/").json()["results"]
    assert [(s["intent_key"], s["status"]) for s in swaps] == [("b", "failed"), ("a", "confirmed")]
    assert swaps[1]["signature"] == done.signature and swaps[1]["wallet_address"] == address
    assert swaps[1]["amount_out"] == "150.000000000000000000"
    confirmed = api.get("/api/v1/dex/swaps/", {"status": "confirmed"}).json()["results"]
    assert [s["id"] for s in confirmed] == [done.pk]
    assert api.get("/api/v1/dex/swaps/", {"status": "lost"}).status_code == 400

    kept = api.delete(f"/api/v1/dex/wallets/{wallet.pk}/")
    assert kept.status_code == 400 and "has swaps on record" in error_of(kept)["message"]
    assert gateway.wallets == [address]  # Gateway still holds its key
    spare_key, spare = new_keypair()
    spare_id = api.post(
        "/api/v1/dex/wallets/", {"connection": connection.pk, "private_key": spare_key}, format="json"
    ).json()["id"]
    assert api.delete(f"/api/v1/dex/wallets/{spare_id}/").status_code == 204
    assert list(DexWallet.objects.values_list("address", flat=True)) == [address] and spare not in gateway.wallets


def test_roles_and_key_scopes(client_for, member, make_key, org_a, alice, gateway):
    connection = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    viewer = client_for(member(Role.VIEWER))
    assert viewer.get("/api/v1/dex/gateways/").status_code == 200
    assert viewer.post(f"/api/v1/dex/gateways/{connection.pk}/verify/").status_code == 403
    trader = client_for(member(Role.TRADER))
    assert trader.post(f"/api/v1/dex/gateways/{connection.pk}/verify/").status_code == 200
    key = new_keypair()[0]
    body = {"connection": connection.pk, "private_key": key}
    assert trader.post("/api/v1/dex/wallets/", body, format="json").status_code == 403
    read_key = make_key("read")[1]
    assert client_for(key=read_key).post("/api/v1/dex/wallets/", body, format="json").status_code == 403
    assert gateway.wallets == []
