"""Gateway connections and wallets (issue 18, item 1) against a loopback Gateway: a local one over
plain HTTP and a remote-style one over mutual TLS, verified by its status routes; Solana wallets
registered through its wallet routes, of which only the address is kept."""

import pytest

from bots.models import BotEvent
from core.errors import ApplicationError, PermissionDeniedError
from dex.models import DexWallet, GatewayConnection
from dex.services import (
    connection_create,
    connection_update,
    connection_verify,
    wallet_add,
    wallet_remove,
    wallets_sync,
)
from organizations.models import Role
from tests.dex.gateway_server import GatewayServer, b58encode, new_keypair
from tests.dex.tls import make_certificates

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        yield server


@pytest.fixture(scope="module")
def certificates():
    return make_certificates()


def local(org, user, server, **values):
    return connection_create(organization=org, user=user, name=values.pop("name", "local"), url=server.url, **values)


def test_a_local_gateway_is_verified_by_its_status_routes(gateway, org_a, alice):
    connection = local(org_a, alice, gateway)
    assert connection.status == "unverified"
    connection = connection_verify(connection=connection, user=alice)
    stored = GatewayConnection.objects.get(pk=connection.pk)
    assert (stored.status, stored.rpc_provider, stored.swap_provider) == ("active", "url", "jupiter/router")
    assert stored.block_number >= 250_000_000 and stored.last_verified_at is not None
    assert [(m, p) for m, p, _ in gateway.requests] == [("GET", "/"), ("GET", "/chains/solana/status")]
    event = BotEvent.objects.get(kind="dex.gateway_verified")
    assert event.actor == alice and f"slot {stored.block_number}" in event.message


def test_an_unreachable_gateway_or_an_unknown_network_marks_the_connection_in_error(gateway, org_a, alice):
    connection = local(org_a, alice, gateway, network="devnet")
    connection = connection_verify(connection=connection, user=alice)
    assert connection.status == "error" and "network devnet is not configured" in connection.status_reason
    gone = connection_create(organization=org_a, user=alice, name="gone", url="http://127.0.0.1:9")
    gone = connection_verify(connection=gone, user=alice)
    assert gone.status == "error" and "unreachable" in gone.status_reason
    assert BotEvent.objects.filter(kind="dex.gateway_unreachable").count() == 2


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"url": "http://gateway.example.com:15888"}, "url", "Plain HTTP is for a local Gateway only"),
        ({"url": "ftp://127.0.0.1"}, "url", "Give Gateway's address"),
        ({"url": "https://gw.example.com"}, "client_cert", "asks for a client certificate"),
        ({"url": "https://gw.example.com", "client_cert": "nope", "client_key": "nope"}, "client_cert", "must be PEM"),
        ({"url": "http://127.0.0.1:15888", "network": "Main Net!"}, "network", "Solana network name"),
        ({"url": "http://127.0.0.1:15888", "password": "x"}, "password", "Unknown field"),
    ],
)
def test_unsafe_or_malformed_connections_are_refused_and_nothing_is_stored(org_a, alice, values, field, message):
    with pytest.raises(ApplicationError, match=message) as refused:
        connection_create(organization=org_a, user=alice, name="gw", **values)
    assert refused.value.field == field
    assert not GatewayConnection.objects.exists()


def test_roles_names_and_updates(gateway, org_a, alice, member):
    with pytest.raises(PermissionDeniedError):
        local(org_a, member(Role.TRADER), gateway)
    connection = local(org_a, alice, gateway)
    with pytest.raises(ApplicationError, match="exists already"):
        local(org_a, alice, gateway)
    connection_verify(connection=connection, user=alice)
    with pytest.raises(PermissionDeniedError):
        connection_verify(connection=connection, user=member(Role.VIEWER))
    changed = connection_update(connection=connection, user=alice, network="devnet")
    assert changed.status == "unverified" and changed.network == "devnet"
    assert BotEvent.objects.get(kind="dex.gateway_changed").data["fields"] == ["network"]


def test_mutual_tls_with_the_right_client_certificate_and_without(certificates, org_a, alice):
    with GatewayServer(tls=certificates.server_context()) as server:
        good = connection_create(
            organization=org_a,
            user=alice,
            name="remote",
            url=server.url,
            client_cert=certificates.client.cert,
            client_key=certificates.client.key,
            ca_cert=certificates.ca.cert,
        )
        assert connection_verify(connection=good, user=alice).status == "active"
        stranger = connection_create(
            organization=org_a,
            user=alice,
            name="stranger",
            url=server.url,
            client_cert=certificates.stranger.cert,
            client_key=certificates.stranger.key,
            ca_cert=certificates.ca.cert,
        )
        refused = connection_verify(connection=stranger, user=alice)
        assert refused.status == "error" and "TLS" in refused.status_reason
        assert certificates.stranger.key not in refused.status_reason
    # The client key is encrypted at rest.
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT client_key FROM dex_gatewayconnection WHERE id = %s", [good.pk])
        assert "PRIVATE KEY" not in cursor.fetchone()[0]


def test_a_wallet_is_registered_through_gateway_and_only_its_address_is_kept(gateway, org_a, alice):
    connection = connection_verify(connection=local(org_a, alice, gateway), user=alice)
    key, address = new_keypair()
    wallet = wallet_add(connection=connection, private_key=key, label="hot", user=alice)
    assert (wallet.address, wallet.label, wallet.organization_id) == (address, "hot", org_a.pk)
    assert gateway.wallets == [address]
    [(_, _, body)] = [r for r in gateway.requests if r[1] == "/wallet/add"]
    assert body == {"chain": "solana", "privateKey": key, "setDefault": False}
    event = BotEvent.objects.get(kind="dex.wallet_added")
    assert event.data["address"] == address
    everything = str(list(BotEvent.objects.values())) + str(list(DexWallet.objects.values()))
    assert key not in everything

    # Gateway's own refusal is reported without the key; a key of the wrong shape never leaves.
    short = b58encode(bytes(range(1, 33)) * 2)[:60]
    with pytest.raises(ApplicationError, match="Unable to retrieve wallet address") as refused:
        wallet_add(connection=connection, private_key=short, user=alice)
    assert short not in refused.value.message
    calls = len(gateway.requests)
    with pytest.raises(ApplicationError, match="base58") as bad:
        wallet_add(connection=connection, private_key="0xnot-a-solana-key", user=alice)
    assert bad.value.field == "private_key" and len(gateway.requests) == calls
    assert DexWallet.objects.count() == 1


def test_wallets_need_an_active_gateway_and_the_admin_role(gateway, org_a, alice, member):
    connection = local(org_a, alice, gateway)
    key, _ = new_keypair()
    with pytest.raises(ApplicationError, match="Check Gateway local first"):
        wallet_add(connection=connection, private_key=key, user=alice)
    connection = connection_verify(connection=connection, user=alice)
    with pytest.raises(PermissionDeniedError):
        wallet_add(connection=connection, private_key=key, user=member(Role.TRADER))
    assert not gateway.wallets


def test_sync_takes_in_gateways_wallets_and_remove_forgets_one(gateway, org_a, alice):
    connection = connection_verify(connection=local(org_a, alice, gateway), user=alice)
    ours = wallet_add(connection=connection, private_key=new_keypair()[0], user=alice)
    outside = new_keypair()[1]
    gateway.wallets.append(outside)  # added to Gateway with its own CLI
    [taken] = wallets_sync(connection=connection, user=alice)
    assert taken.address == outside and DexWallet.objects.count() == 2
    assert wallets_sync(connection=connection, user=alice) == []
    wallet_remove(wallet=ours, user=alice)
    assert gateway.wallets == [outside]
    assert list(DexWallet.objects.values_list("address", flat=True)) == [outside]
    assert BotEvent.objects.get(kind="dex.wallet_removed").data["address"] == ours.address
    gateway.wallets.clear()
    assert wallets_sync(connection=connection, user=alice) == []
    assert outside in BotEvent.objects.filter(kind="dex.wallets_synced").latest("id").message


def test_the_admin_adds_a_gateway_and_a_wallet_and_never_renders_a_secret(client, scoped_staff, org_a, gateway):
    client.force_login(scoped_staff)
    response = client.post(
        "/admin/dex/gatewayconnection/add/",
        {"organization": org_a.pk, "name": "desk", "url": gateway.url, "network": "mainnet-beta"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = GatewayConnection.objects.get(name="desk")
    refused = client.post(
        "/admin/dex/gatewayconnection/add/",
        {"organization": org_a.pk, "name": "far", "url": "http://gw.example.com:15888", "network": "mainnet-beta"},
    )
    assert "Plain HTTP is for a local Gateway only" in refused.content.decode()
    client.post("/admin/dex/gatewayconnection/", {"action": "verify", "_selected_action": [connection.pk]})
    assert GatewayConnection.objects.get(pk=connection.pk).status == "active"

    key, address = new_keypair()
    response = client.post(
        "/admin/dex/dexwallet/add/", {"connection": connection.pk, "label": "ops", "private_key": key}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert DexWallet.objects.get().address == address
    bad = client.post("/admin/dex/dexwallet/add/", {"connection": connection.pk, "private_key": "0xdeadbeef"})
    assert bad.status_code == 200 and "base58" in bad.content.decode() and "0xdeadbeef" not in bad.content.decode()
    pages = [
        client.get(u).content.decode()
        for u in ("/admin/dex/dexwallet/", f"/admin/dex/dexwallet/{DexWallet.objects.get().pk}/change/")
    ]
    assert address in pages[0] and all(key not in page for page in pages)
