"""The listing sniper (issue 18, item 5) against a loopback feed of new tokens and the loopback
Gateway: vetting (liquidity, blacklist, mint and freeze authority, holder concentration), a
risk-sized buy, take-profit and stop-loss, paper by default, live through swaps that are never
sent twice, and every decision in the event log."""

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from bots.models import BotEvent
from core.errors import ApplicationError, PermissionDeniedError
from dex.models import DexSwap, Sniper, SnipeToken
from dex.services import connection_create, connection_verify, dex_account_create, wallet_add
from dex.sniper import listing_parse, sniper_create, sniper_run, snipers_run_due
from dex.swaps import swaps_refresh_due
from exchanges.models import PaperBalance
from organizations.models import Role
from tests.dex.gateway_server import GatewayServer, new_keypair
from tests.dex.test_swaps import LATER

pytestmark = pytest.mark.django_db


class Feed:
    """A loopback source of new tokens: serves `listings` as JSON (or `status` when not 200)."""

    def __init__(self) -> None:
        self.listings: list = []
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"tokens": owner.listings}).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/new-tokens"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def mint() -> str:
    return new_keypair()[1]


def good(symbol: str, **kw) -> dict:
    return {
        "mint": mint(),
        "symbol": symbol,
        "liquidity_usd": 50000,
        "mint_authority": None,
        "freeze_authority": None,
        "top_holders_pct": 20,
        "creator": "Cre8or1111111111111111111111111111",
    } | kw


@pytest.fixture
def feed():
    source = Feed()
    yield source
    source.close()


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        yield server


@pytest.fixture
def connection(gateway, org_a, alice):
    made = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    return connection_verify(connection=made, user=alice)


@pytest.fixture
def paper(org_a, alice, connection, feed):
    account = dex_account_create(
        organization=org_a, connection=connection, label="sniper paper", paper_balances={"SOL": "10"}, user=alice
    )
    return sniper_create(
        organization=org_a,
        account=account,
        name="launches",
        source_url=feed.url,
        user=alice,
        risk_pct=Decimal("10"),
        max_top_holders_pct=Decimal("50"),
        blacklist=["RUG"],
    )


def events(kind: str) -> list[str]:
    return list(BotEvent.objects.filter(kind=kind).order_by("id").values_list("message", flat=True))


def sol(account) -> Decimal:
    return PaperBalance.objects.get(account=account.account, asset="SOL").free


def test_each_listing_is_vetted_and_the_one_that_passes_is_bought_risk_sized(paper, feed, gateway):
    wanted = good("GOOD")
    feed.listings = [
        wanted,
        good("RUG"),
        good("THIN", liquidity_usd=900),
        good("PRINT", mint_authority="M1ntAuth111111111111111111111111111"),
        good("ICE", freeze_authority="Fr33zeAuth11111111111111111111111111"),
        good("WHALE", top_holders_pct=80),
        good("NOLIQ", liquidity_usd=None),
        {"mint": "not-a-mint", "symbol": "BAD"},
    ]
    gateway.prices[(wanted["mint"], "SOL")] = Decimal("0.0001")
    report = sniper_run(sniper=paper)
    assert (report.seen, report.rejected, report.bought, report.skipped) == (7, 6, 1, 1)
    token = SnipeToken.objects.get(mint=wanted["mint"])
    # 10% of 10 SOL free is 1 SOL (the cap is 1): 10,000 tokens at 0.0001.
    assert (token.status, token.amount, token.cost_quote, token.entry_price) == (
        "open",
        Decimal(10000),
        Decimal(1),
        Decimal("0.0001"),
    )
    assert sol(paper.account) == Decimal(9)
    reasons = dict(SnipeToken.objects.filter(status="rejected").values_list("symbol", "reason"))
    assert reasons["RUG"] == "blacklisted symbol RUG"
    assert reasons["THIN"] == "liquidity $900 under the minimum $10,000"
    assert reasons["PRINT"].startswith("mint authority still set")
    assert reasons["ICE"].startswith("freeze authority still set")
    assert reasons["WHALE"] == "top 10 holders own 80%, over the limit of 50.00%"
    assert reasons["NOLIQ"] == "liquidity unknown"
    assert len(events("sniper.rejected")) == 6 and len(events("sniper.bought")) == 1
    assert "listing 7 skipped: mint must be a Solana address" in events("sniper.listing_invalid")[0]
    assert not any(path.endswith("/execute-quote") for _, path, _ in gateway.requests)  # paper
    # The same feed again: nothing is decided twice.
    again = sniper_run(sniper=paper)
    assert (again.seen, again.bought) == (0, 0) and SnipeToken.objects.count() == 7


def test_take_profit_and_stop_loss(paper, feed, gateway):
    up, down = good("UP"), good("DOWN")
    feed.listings = [up, down]
    gateway.prices[(up["mint"], "SOL")] = Decimal("0.0001")
    gateway.prices[(down["mint"], "SOL")] = Decimal("0.002")
    sniper_run(sniper=paper)
    assert sol(paper.account) == Decimal("8.1")  # 1 SOL (10% of 10 free), then 0.9 (10% of 9)
    gateway.prices[(up["mint"], "SOL")] = Decimal("0.00016")  # +60%: over the 50% take-profit
    gateway.prices[(down["mint"], "SOL")] = Decimal("0.0016")  # -20%: at the stop-loss
    report = sniper_run(sniper=paper)
    assert report.sold == 2
    won, lost = SnipeToken.objects.get(mint=up["mint"]), SnipeToken.objects.get(mint=down["mint"])
    assert (won.status, won.exit_reason, won.proceeds_quote, won.pnl_quote) == (
        "closed",
        "take_profit",
        Decimal("1.6"),
        Decimal("0.6"),
    )
    assert (lost.exit_reason, lost.exit_price, lost.pnl_quote) == ("stop_loss", Decimal("0.0016"), -lost.cost_quote / 5)
    assert lost.proceeds_quote == Decimal("0.72")  # 450 tokens at 0.0016
    assert sol(paper.account) == Decimal("8.1") + Decimal("1.6") + Decimal("0.72")
    assert [m.split(": ", 1)[1].split(" at ")[0] for m in events("sniper.sold")] == ["sold UP", "sold DOWN"]


def test_it_holds_at_most_max_open_and_survives_a_broken_source(paper, feed, gateway, org_a):
    Sniper.objects.filter(pk=paper.pk).update(max_open=1)
    first, second = good("ONE"), good("TWO")
    for listing in (first, second):
        gateway.prices[(listing["mint"], "SOL")] = Decimal("0.0001")
    feed.listings = [first, second]
    sniper_run(sniper=paper)
    assert SnipeToken.objects.get(mint=second["mint"]).reason == "already holding 1 token(s), the most at once"
    feed.status = 500
    gateway.prices[(first["mint"], "SOL")] = Decimal("0.0002")
    report = sniper_run(sniper=paper)
    assert report.errors == ["the source answered HTTP 500"] and report.sold == 1  # positions still managed
    assert "HTTP 500" in Sniper.objects.get(pk=paper.pk).last_error
    assert events("sniper.source_failed")


def test_a_run_holds_a_lease_and_the_beat_runs_every_sniper(paper, feed, settings):
    Sniper.objects.filter(pk=paper.pk).update(lease_until=timezone.now() + dt.timedelta(seconds=30))
    assert sniper_run(sniper=paper) is None
    assert snipers_run_due() == 0
    Sniper.objects.filter(pk=paper.pk).update(lease_until=None)
    assert snipers_run_due() == 1 and Sniper.objects.get(pk=paper.pk).last_polled_at is not None
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "dex.tasks.run_snipers")
    assert entry["schedule"] <= 10


def test_live_snipes_swap_once_and_retry_a_failed_sale_with_a_new_intent(
    org_a, alice, connection, gateway, feed, settings
):
    key, address = new_keypair()
    gateway.balances[address] = {"SOL": Decimal("5")}
    wallet = wallet_add(connection=connection, private_key=key, user=alice)
    account = dex_account_create(organization=org_a, connection=connection, wallet=wallet, label="hot", user=alice)
    sniper = sniper_create(
        organization=org_a, account=account, name="live one", source_url=feed.url, live=True, user=alice, risk_pct=10
    )
    listing = good("LIVE")
    feed.listings = [listing]
    gateway.prices[(listing["mint"], "SOL")] = Decimal("0.001")
    sniper_run(sniper=sniper)
    token = SnipeToken.objects.get(mint=listing["mint"])
    # 10% of 5 SOL: 0.5 SOL buys 500 tokens.
    assert (token.status, token.amount, token.cost_quote) == ("open", Decimal(500), Decimal("0.5"))
    assert token.buy_swap.intent_key == f"snipe:{token.pk}:buy" and token.buy_swap.signature
    # Take-profit, but the sale fails on chain: the token is held again and retried, new intent.
    gateway.prices[(listing["mint"], "SOL")] = Decimal("0.002")
    gateway.swap_outcome = {"status": "failed", "polls": 1}
    sniper_run(sniper=sniper)
    token.refresh_from_db()
    assert token.status == "selling"
    swaps_refresh_due()
    swaps_refresh_due()
    gateway.swap_outcome = {"status": "confirmed", "polls": 0}
    sniper_run(sniper=sniper)  # settles the failed sale (back to open), then sells again
    token.refresh_from_db()
    assert (token.status, token.exit_reason, token.proceeds_quote) == ("closed", "take_profit", Decimal(1))
    assert list(DexSwap.objects.filter(wallet=wallet).order_by("id").values_list("intent_key", "status")) == [
        (f"snipe:{token.pk}:buy", "confirmed"),
        (f"snipe:{token.pk}:sell:0", "failed"),
        (f"snipe:{token.pk}:sell:1", "confirmed"),
    ]
    assert events("sniper.sell_failed")
    # A buy whose answer is lost waits (never resent) and fails once its transaction has expired.
    settings.DEX_GATEWAY_TIMEOUT = 0.5
    gateway.swap_outcome = {"status": "confirmed", "execute": "timeout", "seconds": 1.5}
    lost = good("LOST")
    feed.listings = [lost]
    gateway.prices[(lost["mint"], "SOL")] = Decimal("0.001")
    sniper_run(sniper=sniper)
    waiting = SnipeToken.objects.get(mint=lost["mint"])
    assert waiting.status == "buying"
    sniper_run(sniper=sniper)
    assert DexSwap.objects.filter(intent_key=f"snipe:{waiting.pk}:buy").count() == 1
    swaps_refresh_due(now=timezone.now() + LATER)  # balances unchanged: it never landed
    sniper_run(sniper=sniper)
    waiting.refresh_from_db()
    assert waiting.status == "failed" and "expired" in waiting.reason


def test_settings_are_checked(org_a, alice, member, connection, feed, paper):
    live_key, _ = new_keypair()
    wallet = wallet_add(connection=connection, private_key=live_key, user=alice)
    live = dex_account_create(organization=org_a, connection=connection, wallet=wallet, label="w", user=alice)
    base = {"organization": org_a, "name": "x", "source_url": feed.url, "user": alice}
    with pytest.raises(ApplicationError, match="live DEX account"):
        sniper_create(account=paper.account, live=True, **base)
    with pytest.raises(ApplicationError, match="A paper sniper trades a paper DEX account"):
        sniper_create(account=live, **base)
    with pytest.raises(PermissionDeniedError):
        sniper_create(account=paper.account, **(base | {"user": member(Role.VIEWER)}))
    with pytest.raises(PermissionDeniedError):
        sniper_create(account=live, live=True, **(base | {"user": member(Role.TRADER)}))
    for bad, field in (
        ({"source_url": "ftp://x"}, "source_url"),
        ({"risk_pct": "0"}, "risk_pct"),
        ({"stop_loss_pct": "100"}, "stop_loss_pct"),
        ({"max_top_holders_pct": "150"}, "max_top_holders_pct"),
        ({"blacklist": "RUG"}, "blacklist"),
        ({"quote_token": "SO L"}, "quote_token"),
        ({"risk_pct": "lots"}, "risk_pct"),
        ({"leverage": 3}, "leverage"),
        ({"name": "launches"}, "name"),  # taken
    ):
        with pytest.raises(ApplicationError) as caught:
            sniper_create(account=paper.account, **(base | bad))
        assert caught.value.field == field, bad
    assert Sniper.objects.count() == 1
    for item, message in (
        ({"mint": mint(), "liquidity_usd": "NaN"}, "liquidity_usd"),
        ({"mint": mint(), "top_holders_pct": 120}, "percentage"),
        ({"mint": mint(), "liquidity_usd": True}, "not a number"),
        ([1, 2], "object"),
    ):
        with pytest.raises(ValueError, match=message):
            listing_parse(item)
