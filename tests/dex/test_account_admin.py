"""The DEX account admin against the loopback Gateway: the add form creates paper and live accounts
through dex_account_create (refusals on the field they name, nothing written), the change form
edits only the pairs and the slippage limit, "Verify" reports each outcome, and a staff member
sees and picks only their organizations' rows."""

from decimal import Decimal

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bots.models import BotEvent
from dex.models import DexAccount
from dex.services import connection_create, connection_verify, dex_account_create, wallet_add
from exchanges.models import ExchangeAccount, PaperBalance
from organizations.models import Role
from tests.dex.gateway_server import GatewayServer, new_keypair
from tests.factories import DexAccountFactory, DexWalletFactory, GatewayConnectionFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/dex/dexaccount/"
ADD = "/admin/dex/dexaccount/add/"


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        server.prices[("SOL", "USDC")] = Decimal("150")
        yield server


@pytest.fixture
def connection(gateway, org_a, alice):
    made = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    return connection_verify(connection=made, user=alice)


@pytest.fixture
def wallet(gateway, connection, alice):
    key, _address = new_keypair()
    return wallet_add(connection=connection, private_key=key, user=alice)


def form(connection, **values) -> dict:
    return {
        "connection": connection.pk,
        "wallet": "",
        "label": "Jupiter paper",
        "pairs": "SOL/USDC",
        "slippage_bps": 50,
        "quote_amount": "1",
        "paper_balances": "",
    } | values


def errors_of(response) -> dict:
    """The add or change form's errors by field (None: over the form)."""
    assert response.status_code == 200, response.status_code
    found = response.context["adminform"].form.errors
    return {None if name == "__all__" else name: list(messages) for name, messages in found.items()}


def test_the_add_form_creates_a_paper_account_with_its_balances(client, scoped_staff, connection):
    client.force_login(scoped_staff)
    response = client.post(
        ADD, form(connection, pairs="SOL/USDC, JUP/USDC", slippage_bps=30, paper_balances="USDC=1000, SOL=2")
    )
    assert response.status_code == 302, errors_of(response)
    dex = DexAccount.objects.select_related("account").get()
    assert (dex.account.exchange, dex.account.label, dex.is_paper) == ("jupiter_paper", "Jupiter paper", True)
    assert (dex.pairs, dex.slippage_bps, dex.organization_id) == (
        ["SOL/USDC", "JUP/USDC"],
        30,
        connection.organization_id,
    )
    balances = {b.asset: b.free for b in PaperBalance.objects.filter(account=dex.account)}
    assert balances == {"USDC": Decimal(1000), "SOL": Decimal(2)}
    event = BotEvent.objects.get(kind="dex.account_created")
    assert (event.source, event.actor, event.data["account"]) == ("admin", scoped_staff, dex.account_id)

    listed = client.get(CHANGELIST).content.decode()
    assert '<td class="field-venue">paper</td>' in listed and "SOL/USDC, JUP/USDC" in listed


def test_a_wallet_of_another_gateway_is_refused_and_nothing_is_written(
    client, scoped_staff, org_a, alice, gateway, connection
):
    other = connection_create(organization=org_a, user=alice, name="other", url=gateway.url)
    foreign_wallet = DexWalletFactory(connection=other)
    client.force_login(scoped_staff)
    refused = client.post(ADD, form(connection, wallet=foreign_wallet.pk, label="Jupiter live"))
    assert errors_of(refused) == {"wallet": ["The wallet is registered in another Gateway."]}
    for values, field, says in (
        ({"pairs": "SOLUSDC"}, "pairs", "BASE/QUOTE"),
        ({"slippage_bps": 0}, "slippage_bps", "from 1 to 5000"),
        ({"quote_amount": "0"}, "quote_amount", "positive"),
        ({"paper_balances": "USDC 1000"}, "paper_balances", "TOKEN=amount"),
        ({"paper_balances": "USDC=-5"}, "paper_balances", "cannot be negative"),
        ({"label": " "}, "label", "required"),
    ):
        found = errors_of(client.post(ADD, form(connection, **values)))
        assert list(found) == [field] and says in found[field][0], (values, found)
    assert not DexAccount.objects.exists() and not ExchangeAccount.objects.exists()
    assert not BotEvent.objects.filter(kind="dex.account_created").exists()


def test_a_live_account_is_added_refuses_paper_balances_and_is_verified(client, scoped_staff, gateway, wallet):
    client.force_login(scoped_staff)
    connection = wallet.connection
    live = form(connection, wallet=wallet.pk, label="Jupiter live")
    refused = errors_of(client.post(ADD, live | {"paper_balances": "USDC=1000"}))
    assert "give no paper balances" in str(refused) and not DexAccount.objects.exists()
    assert client.post(ADD, live).status_code == 302
    dex = DexAccount.objects.select_related("account").get()
    assert (dex.account.exchange, dex.wallet, dex.account.status) == ("jupiter", wallet, "unverified")
    listed = client.get(CHANGELIST).content.decode()
    assert '<td class="field-venue">live</td>' in listed and wallet.address in listed

    checked = client.post(CHANGELIST, {"action": "verify", "_selected_action": [dex.pk]}, follow=True)
    assert "Jupiter live verified: active." in checked.content.decode()
    assert ExchangeAccount.objects.get(pk=dex.account_id).status == "active"
    gateway.wallets.clear()  # Gateway lost the wallet's key
    checked = client.post(CHANGELIST, {"action": "verify", "_selected_action": [dex.pk]}, follow=True)
    said = [str(m) for m in checked.context["messages"]]
    assert len(said) == 1 and said[0].startswith("Jupiter live failed verification:")
    assert f"Gateway holds no key for wallet {wallet.address}" in said[0]
    assert ExchangeAccount.objects.get(pk=dex.account_id).status == "error"


def test_the_change_form_edits_only_the_pairs_and_the_slippage(client, scoped_staff, org_a, alice, connection, wallet):
    dex = dex_account_create(organization=org_a, connection=connection, label="Jupiter paper", user=alice)
    client.force_login(scoped_staff)
    change = f"{CHANGELIST}{dex.pk}/change/"
    page = client.get(change)
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == ["pairs", "slippage_bps"]
    assert 'value="SOL/USDC"' in page.content.decode()

    bad = client.post(change, {"pairs": "SOL/USDC", "slippage_bps": 9000})
    assert errors_of(bad) == {"slippage_bps": ["slippage_bps is a whole number from 1 to 5000."]}
    response = client.post(
        change,
        {"pairs": "SOL/USDC, JUP/USDC", "slippage_bps": 30, "wallet": wallet.pk, "label": "renamed"},
    )
    assert response.status_code == 302, errors_of(response)
    dex = DexAccount.objects.select_related("account").get(pk=dex.pk)
    assert (dex.pairs, dex.slippage_bps) == (["SOL/USDC", "JUP/USDC"], 30)
    assert (dex.wallet, dex.account.label, dex.account.exchange) == (None, "Jupiter paper", "jupiter_paper")
    event = BotEvent.objects.get(kind="dex.account_updated")
    assert (event.source, event.data["fields"]) == ("admin", ["pairs", "slippage_bps"])
    assert "slippage 30 bps (was 50)" in event.message
    assert page.context["has_delete_permission"] is False


def test_a_staff_member_without_the_admin_role_cannot_add_one(client, member, connection):
    from django.contrib.auth.models import Permission

    trader = member(Role.TRADER, staff=True)
    trader.user_permissions.set(Permission.objects.filter(content_type__app_label="dex"))
    client.force_login(trader)
    refused = errors_of(client.post(ADD, form(connection)))
    assert "needs the admin role" in str(refused) and not DexAccount.objects.exists()


def test_another_organizations_rows_are_invisible_to_a_staff_member(client, scoped_staff, org_a, org_b):
    ours = DexAccountFactory(connection__organization=org_a, account__label="alpha-dex")
    their_gateway = GatewayConnectionFactory(organization=org_b)
    theirs = DexAccountFactory(
        connection=their_gateway, account__label="beta-dex", wallet=DexWalletFactory(connection=their_gateway)
    )
    client.force_login(scoped_staff)
    listed = client.get(CHANGELIST)
    assert [row.pk for row in listed.context["cl"].result_list] == [ours.pk]
    assert "beta-dex" not in listed.content.decode() and "Beta Funds" not in listed.content.decode()
    assert client.get(f"{CHANGELIST}{ours.pk}/change/").status_code == 200
    hidden = client.get(f"{CHANGELIST}{theirs.pk}/change/")
    assert hidden.status_code == 302 and hidden.url == reverse("admin:index")
    assert client.post(f"{CHANGELIST}{theirs.pk}/change/", {"pairs": "JUP/USDC", "slippage_bps": 1}).status_code == 302
    assert DexAccount.objects.get(pk=theirs.pk).pairs == ["SOL/USDC"]
    # The add form offers only their organizations' Gateways and wallets.
    fields = client.get(ADD).context["adminform"].form.fields
    assert list(fields["connection"].queryset) == [ours.connection]
    assert theirs.wallet not in fields["wallet"].queryset
    # ...and one picked anyway is refused.
    refused = errors_of(client.post(ADD, form(theirs.connection, label="sneaky")))
    assert "connection" in refused and not DexAccount.objects.filter(account__label="sneaky").exists()


def test_the_changelist_costs_the_same_queries_however_many_rows_and_every_page_renders(client, superuser, org_a):
    client.force_login(superuser)
    DexAccountFactory(connection__organization=org_a)

    def count() -> int:
        with CaptureQueriesContext(db) as ctx:
            assert client.get(CHANGELIST).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for _ in range(4):
        gateway = GatewayConnectionFactory(organization=OrganizationFactory())
        DexAccountFactory(connection=gateway)
        DexAccountFactory(connection=gateway, wallet=DexWalletFactory(connection=gateway))
    assert count() == small
    for dex in DexAccount.objects.all():
        assert client.get(f"{CHANGELIST}{dex.pk}/change/").status_code == 200
    assert client.get(ADD).status_code == 200
