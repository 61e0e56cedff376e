"""The DEX pages: the organization's Gateways, wallets and swaps, read-only and scoped to the
selected organization, at a fixed query count; a swap's signature links to Solscan and a Gateway's
client key is never rendered. Real PostgreSQL."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dex.models import GatewayStatus, SwapStatus
from exchanges.secrets import mask
from organizations.models import Role
from tests.factories import DexSwapFactory, DexWalletFactory, GatewayConnectionFactory

pytestmark = pytest.mark.django_db

OUR_ADDRESS = "zJxonfpjCf7g22p8PZb9ayEPQPPjkQNPk9A6njS8UZuA"
THEIR_ADDRESS = "rvdJQchYgPL1bMhAhz5jUNQU8Qp48A1WbynSCwSYm7wr"
OUR_SIGNATURE = "7MMEc6SK4XRvSXfQKDzwRFZ7AsQLVyNAodXjQuszxYktNWFFkfjDivT2vyie1GihjeRZzWYMk3Gxa9vWs6eq3LE6"
THEIR_SIGNATURE = "dpLQuSviD4ctMaiDNJKdhzBMao97ZzvPLvNu36BpdEB1ivXTqWYwXjK78tGuNZkQkviwHpUbHGotd2o2XdpgJeE5"
CLIENT_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIClientKeyMaterialNeverShownQx7Z\n-----END PRIVATE KEY-----"
)


def pages(swap) -> list[str]:
    return [reverse("dashboard:dex"), reverse("dashboard:dex_swaps"), reverse("dashboard:dex_swap", args=[swap.pk])]


@pytest.fixture
def ours(org_a):
    """Org A's Gateway (with a client certificate key), a wallet and a confirmed swap."""
    gateway = GatewayConnectionFactory(
        organization=org_a,
        name="alpha-gateway",
        url="https://gateway.alpha.example:15888",
        network="mainnet-beta",
        client_cert="-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----",
        client_key=CLIENT_KEY,
        status=GatewayStatus.ERROR,
        status_reason="TLS handshake refused",
        last_verified_at=timezone.now(),
        block_number=312_456_789,
    )
    wallet = DexWalletFactory(connection=gateway, address=OUR_ADDRESS, label="treasury")
    now = timezone.now()
    swap = DexSwapFactory(
        wallet=wallet,
        side="buy",
        amount=Decimal("2.5"),
        base="SOL",
        quote="USDC",
        slippage_bps=75,
        status=SwapStatus.CONFIRMED,
        quoted_price=Decimal("151.25"),
        amount_in=Decimal("378.125"),
        amount_out=Decimal("2.5"),
        fee=Decimal("0.000105"),
        signature=OUR_SIGNATURE,
        submitted_at=now - dt.timedelta(seconds=20),
        finished_at=now,
    )
    return gateway, wallet, swap


@pytest.fixture
def theirs(org_b):
    """Org B's Gateway, wallet and swap: never visible to org A."""
    wallet = DexWalletFactory(
        connection=GatewayConnectionFactory(organization=org_b, name="beta-gateway"),
        address=THEIR_ADDRESS,
        label="beta-wallet",
    )
    return DexSwapFactory(wallet=wallet, signature=THEIR_SIGNATURE, error="beta refusal")


def test_the_dex_page_shows_our_gateways_wallets_and_latest_swaps(client, member, ours):
    gateway, wallet, swap = ours
    DexSwapFactory(wallet=wallet, status=SwapStatus.FAILED, error="slippage exceeded")
    client.force_login(member(Role.VIEWER))

    response = client.get(reverse("dashboard:dex"))
    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-gateway-id="{gateway.pk}"' in page
    for text in ("alpha-gateway", "https://gateway.alpha.example:15888", "mainnet-beta", "TLS handshake refused"):
        assert text in page
    assert '<span class="badge g-error"' in page and "312456789" in page
    assert f"<code>{OUR_ADDRESS}</code>" in page and "treasury" in page
    assert f'<a href="{reverse("dashboard:dex_swaps")}?wallet={wallet.pk}">2</a>' in page
    assert f'data-swap-id="{swap.pk}"' in page and "slippage exceeded" in page


def test_the_swaps_list_shows_every_column_of_a_swap(client, alice, ours):
    _, _, swap = ours
    client.force_login(alice)
    page = client.get(reverse("dashboard:dex_swaps")).content.decode()
    row = page[page.index(f'data-swap-id="{swap.pk}"') :].split("</tr>")[0]
    assert reverse("dashboard:dex_swap", args=[swap.pk]) in row
    assert "treasury" in row and '<span class="badge side-buy">Buy</span>' in row
    assert '<span class="badge sw-confirmed">Confirmed</span>' in row
    for text in ("2.5", "SOL/USDC", ">75<", "151.25", "378.125", "0.000105"):
        assert text in row
    assert swap.submitted_at.strftime("%Y-%m-%d %H:%M:%S") in row
    assert swap.finished_at.strftime("%Y-%m-%d %H:%M:%S") in row


def test_the_signature_is_shown_in_full_with_its_solscan_link(client, alice, ours):
    _, _, swap = ours
    client.force_login(alice)
    link = f'<a href="https://solscan.io/tx/{OUR_SIGNATURE}" rel="noopener noreferrer" target="_blank">'
    for url in pages(swap):
        page = client.get(url).content.decode()
        assert f"{link}<code>{OUR_SIGNATURE}</code></a>" in page, url


def test_the_swap_page_shows_the_swap(client, member, ours):
    _, _, swap = ours
    swap.intent_key = "bot:7:entry"
    swap.limit_amount = Decimal("380")
    swap.balances_before = {"SOL": "1.5", "USDC": "500"}
    swap.save()
    client.force_login(member(Role.VIEWER))

    response = client.get(reverse("dashboard:dex_swap", args=[swap.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<span class="badge sw-confirmed" data-field="status">Confirmed</span>' in page
    assert f"<code>{OUR_ADDRESS}</code>" in page and "alpha-gateway (mainnet-beta)" in page
    assert "bot:7:entry" in page and "<dt>Max in</dt><dd>380</dd>" in page
    assert '<td>USDC</td><td class="num">500</td>' in page


def test_it_rejects_other_orgs_wallets_and_swaps(client, alice, ours, theirs):
    client.force_login(alice)
    _, _, swap = ours
    for url in [*pages(swap), f"{reverse('dashboard:dex_swaps')}?wallet={theirs.wallet_id}"]:
        page = client.get(url).content.decode()
        for text in (THEIR_ADDRESS, THEIR_SIGNATURE, "beta-gateway", "beta-wallet", "beta refusal"):
            assert text not in page, (url, text)
    filtered = client.get(reverse("dashboard:dex_swaps"), {"wallet": theirs.wallet_id}).content.decode()
    assert "No swaps." in filtered and OUR_SIGNATURE not in filtered


def test_another_orgs_swap_is_404(client, alice, theirs):
    client.force_login(alice)
    assert client.get(reverse("dashboard:dex_swap", args=[theirs.pk])).status_code == 404


def test_the_swaps_list_filters_by_status_side_and_wallet(client, alice, org_a, ours):
    _, wallet, confirmed_buy = ours
    other_wallet = DexWalletFactory(connection=wallet.connection, label="hot")
    failed_sell = DexSwapFactory(wallet=wallet, side="sell", status=SwapStatus.FAILED)
    submitted_sell = DexSwapFactory(wallet=other_wallet, side="sell", status=SwapStatus.SUBMITTED)
    client.force_login(alice)
    url = reverse("dashboard:dex_swaps")

    def shown(**filters) -> set[int]:
        page = client.get(url, filters).content.decode()
        swaps = (confirmed_buy, failed_sell, submitted_sell)
        return {s.pk for s in swaps if f'data-swap-id="{s.pk}"' in page}

    assert shown() == {confirmed_buy.pk, failed_sell.pk, submitted_sell.pk}
    assert shown(status="failed") == {failed_sell.pk}
    assert shown(side="sell") == {failed_sell.pk, submitted_sell.pk}
    assert shown(wallet=other_wallet.pk) == {submitted_sell.pk}
    assert shown(side="sell", wallet=wallet.pk) == {failed_sell.pk}
    assert shown(status="nonsense", side="nonsense", wallet="x") == {
        confirmed_buy.pk,
        failed_sell.pk,
        submitted_sell.pk,
    }
    page = client.get(url, {"status": "failed"}).content.decode()
    assert '<option value="failed" selected>Failed</option>' in page


def test_the_swaps_list_pages_and_keeps_its_filters(client, alice, org_a):
    wallet = DexWalletFactory(connection=GatewayConnectionFactory(organization=org_a))
    for _ in range(51):
        DexSwapFactory(wallet=wallet, status=SwapStatus.EXPIRED)
    client.force_login(alice)

    first = client.get(reverse("dashboard:dex_swaps"), {"status": "expired"}).content.decode()
    assert first.count("data-swap-id=") == 50 and "Page 1 of 2" in first
    assert 'href="?status=expired&page=2"' in first
    second = client.get(reverse("dashboard:dex_swaps"), {"status": "expired", "page": 2}).content.decode()
    assert second.count("data-swap-id=") == 1


def test_anonymous_users_are_sent_to_login(client, ours):
    _, _, swap = ours
    for url in pages(swap):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url


def test_the_client_key_never_appears(client, alice, ours):
    gateway, _, swap = ours
    gateway.refresh_from_db()
    assert gateway.client_key == CLIENT_KEY  # stored, and decrypted on read
    client.force_login(alice)
    for url in [*pages(swap), f"{reverse('dashboard:dex_swaps')}?wallet={swap.wallet_id}&status=confirmed"]:
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(url).content.decode()
        assert "ClientKeyMaterial" not in page and "PRIVATE KEY" not in page, url
        assert mask(CLIENT_KEY) not in page, url
        assert not any("client_key" in q["sql"] for q in ctx.captured_queries), url  # not even read


def test_viewers_read_the_pages_and_nothing_on_them_writes(client, member, ours):
    _, _, swap = ours
    client.force_login(member(Role.VIEWER))
    for url in pages(swap):
        response = client.get(url)
        assert response.status_code == 200, url
        # The only forms that post are the header's organization switcher and log out.
        assert response.content.decode().count('method="post"') == 2, url
        assert client.post(url).status_code == 405, url


@pytest.mark.parametrize(("name", "queries"), [("dashboard:dex", 8), ("dashboard:dex_swaps", 6)])
def test_the_pages_cost_the_same_queries_for_many_rows(client, alice, org_a, name, queries):
    wallet = DexWalletFactory(connection=GatewayConnectionFactory(organization=org_a))
    DexSwapFactory(wallet=wallet)
    client.force_login(alice)
    url = reverse(name)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    count()  # the first request also stores the selected organization in the session
    few = count()
    # Session, user, memberships, then gateways, DEX accounts, snipers with their counts, wallets
    # with their swap counts and the latest swaps (DEX page) or wallets, the page count and the
    # page of swaps with their wallets (list).
    assert few == queries
    for _ in range(5):
        gateway = GatewayConnectionFactory(organization=org_a)
        for _ in range(3):
            DexSwapFactory(wallet=DexWalletFactory(connection=gateway))
    assert count() == few


def test_dex_accounts_and_snipers_show_with_every_decision(client, alice, org_a, org_b):
    from tests.factories import DexAccountFactory, SniperFactory, SnipeTokenFactory

    sniper = SniperFactory(account=DexAccountFactory(connection=GatewayConnectionFactory(organization=org_a)))
    SnipeTokenFactory(sniper=sniper, symbol="RUGGY", status="rejected", reason="freeze authority still set (F1)")
    SnipeTokenFactory(
        sniper=sniper,
        symbol="WINNER",
        status="closed",
        cost_quote=Decimal("1"),
        proceeds_quote=Decimal("1.6"),
        amount=Decimal("10000"),
        exit_reason="take_profit",
    )
    SnipeTokenFactory(
        sniper=sniper, symbol="LOSER", status="closed", cost_quote=Decimal("2"), proceeds_quote=Decimal("1.5")
    )
    theirs = SniperFactory(account=DexAccountFactory(connection=GatewayConnectionFactory(organization=org_b)))
    SnipeTokenFactory(sniper=theirs, symbol="THEIRS")
    client.force_login(alice)
    page = client.get(reverse("dashboard:dex")).content.decode()
    assert sniper.name in page and theirs.name not in page and sniper.account.account.label in page
    detail = client.get(reverse("dashboard:dex_sniper", args=[sniper.pk])).content.decode()
    assert "freeze authority still set (F1)" in detail and "WINNER" in detail and "THEIRS" not in detail
    assert "0.1 SOL over 2 sale(s)" in detail  # +0.6 and -0.5
    only_closed = client.get(reverse("dashboard:dex_sniper", args=[sniper.pk]) + "?status=closed").content.decode()
    assert "WINNER" in only_closed and "RUGGY" not in only_closed
    assert client.get(reverse("dashboard:dex_sniper", args=[theirs.pk])).status_code == 404
