"""DEX accounts behind our exchange interface (issue 18, items 2 and 3): bots trade Jupiter
through the loopback Gateway like any exchange. Paper accounts take Gateway's quotes and simulate
the fills; live ones swap from their wallet, and an order whose swap has no known outcome stays
open, is never sent again, and settles from the chain."""

from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import Bot, Fill, Order, Position
from bots.runtime import bot_tick
from bots.services import bot_start
from bots.validation import bot_validate
from core.errors import ApplicationError
from dex.exchange import JupiterPaperClient, candles_read
from dex.models import DexSwap
from dex.services import connection_create, connection_verify, dex_account_create, wallet_add
from dex.swaps import swaps_refresh_due
from exchanges.gateway import client_for_account
from exchanges.models import Candle, ExchangeAccount, PaperBalance
from exchanges.services import exchange_account_verify
from tests.bots import scripted
from tests.dex.gateway_server import GatewayServer, new_keypair
from tests.dex.test_swaps import LATER
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db
PAIR = "SOL/USDC"


@pytest.fixture
def gateway():
    scripted.install()
    with GatewayServer() as server:
        server.prices[("SOL", "USDC")] = Decimal("150")
        server.spread = Decimal("0.001")  # bid 149.85, ask 150.15
        yield server
    scripted.uninstall()


@pytest.fixture
def connection(gateway, org_a, alice):
    made = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    return connection_verify(connection=made, user=alice)


def executes(gateway) -> int:
    return sum(1 for _, path, _ in gateway.requests if path.endswith("/execute-quote"))


def paper_account(org, connection, alice, **kw):
    values = {"label": "Jupiter paper", "paper_balances": {"USDC": "1000"}} | kw
    dex = dex_account_create(organization=org, connection=connection, user=alice, **values)
    return exchange_account_verify(account=dex.account, user=alice)


def live_account(org, connection, gateway, alice):
    key, address = new_keypair()
    gateway.balances[address] = {"SOL": Decimal("10"), "USDC": Decimal("1000")}
    wallet = wallet_add(connection=connection, private_key=key, user=alice)
    dex = dex_account_create(organization=org, connection=connection, wallet=wallet, label="Jupiter live", user=alice)
    return exchange_account_verify(account=dex.account, user=alice)


def scripted_bot(org, account, action, *, amount="2", mode="paper"):
    bot = BotFactory(
        organization=org,
        exchange_account=account,
        strategy="scripted",
        params={"action": action, "amount": amount},
        symbol=PAIR,
        mode=mode,
        tick_interval=5,
    )
    bot_start(bot=bot)
    return bot


def act(bot, action):
    Bot.objects.filter(pk=bot.pk).update(params={"action": action, "amount": "2"}, next_tick_at=None)


def test_a_paper_dex_bot_trades_at_gateways_quotes_and_sends_no_swap(org_a, alice, connection, gateway):
    account = paper_account(org_a, connection, alice)
    assert (account.exchange, account.status, account.is_simulated) == ("jupiter_paper", "active", True)
    bot = scripted_bot(org_a, account, "buy")
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 1, result.note
    entry = Order.objects.get(bot=bot, tag="entry")
    assert (entry.status, entry.filled, entry.average) == ("filled", Decimal(2), Decimal("150.15"))
    fill = Fill.objects.get(order=entry)
    assert (fill.price, fill.fee, fill.fee_currency) == (Decimal("150.15"), Decimal("0.3003"), "USDC")
    balances = {b.asset: b.free for b in PaperBalance.objects.filter(account=account)}
    assert balances == {"SOL": Decimal(2), "USDC": Decimal("1000") - Decimal("300.3") - Decimal("0.3003")}
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal(2)

    act(bot, "exit")
    bot_tick(bot_id=bot.pk)
    exit_ = Order.objects.get(bot=bot, tag="exit")
    assert (exit_.status, exit_.average) == ("filled", Decimal("149.85"))
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()
    assert executes(gateway) == 0  # paper: quotes only
    quotes = [q for _, path, q in gateway.requests if path.endswith("/quote-swap")]
    assert {q["slippagePct"] for q in quotes} == {"0.5"} and {q["side"] for q in quotes} == {"BUY", "SELL"}
    # Every price seen went into the pair's one-minute candle.
    candle = Candle.objects.get(exchange="jupiter", symbol=PAIR, timeframe="1m")
    assert candle.high >= candle.close >= candle.low >= Decimal("149.85")


def test_a_paper_order_it_cannot_pay_for_or_a_limit_order_is_refused_clearly(org_a, alice, connection, gateway):
    account = paper_account(org_a, connection, alice, paper_balances={"USDC": "100"})
    client = client_for_account(account)
    assert isinstance(client, JupiterPaperClient)
    bot = scripted_bot(org_a, account, "buy")
    bot_tick(bot_id=bot.pk)
    entry = Order.objects.get(bot=bot, tag="entry")
    assert entry.status == "rejected" and "Paper balance too low: 300.6003 USDC needed, 100 free" in entry.reason
    assert PaperBalance.objects.get(account=account, asset="USDC").free == Decimal(100)
    act(bot, "buy_limit")
    bot_tick(bot_id=bot.pk)
    bid = Order.objects.get(bot=bot, tag="bid")
    assert bid.status == "rejected" and "limit orders are not taken" in bid.reason


def test_a_live_dex_bot_swaps_from_its_wallet_and_records_the_signature(org_a, alice, connection, gateway):
    account = live_account(org_a, connection, gateway, alice)
    assert (account.exchange, account.status, account.is_simulated) == ("jupiter", "active", False)
    bot = scripted_bot(org_a, account, "buy", mode="live")
    bot_tick(bot_id=bot.pk)
    entry = Order.objects.get(bot=bot, tag="entry")
    swap = DexSwap.objects.get(intent_key=entry.client_order_id)
    assert (swap.status, swap.side, swap.amount, swap.slippage_bps) == ("confirmed", "buy", Decimal(2), 50)
    assert (entry.status, entry.filled, entry.average) == ("filled", Decimal(2), Decimal("150.15"))
    fill = Fill.objects.get(order=entry)
    assert fill.trade_id == swap.signature and (fill.fee, fill.fee_currency) == (Decimal("0.000005"), "SOL")
    assert executes(gateway) == 1
    assert entry.raw["signature"] == swap.signature


def test_a_live_order_whose_answer_was_lost_stays_open_is_never_resent_and_settles(
    org_a, alice, connection, gateway, settings
):
    account = live_account(org_a, connection, gateway, alice)
    bot = scripted_bot(org_a, account, "buy", mode="live")
    settings.DEX_GATEWAY_TIMEOUT = 0.5
    gateway.swap_outcome = {"status": "confirmed", "execute": "timeout", "seconds": 1.5}
    bot_tick(bot_id=bot.pk)
    entry = Order.objects.get(bot=bot, tag="entry")
    assert entry.status == "open" and entry.submitted_at is not None  # unknown: neither filled nor rejected
    gateway.swap_outcome = {"status": "confirmed", "polls": 0}
    act(bot, "none")
    bot_tick(bot_id=bot.pk)  # the order is synced (looked up, still open); its swap is not sent again
    entry.refresh_from_db()
    assert entry.status == "open" and executes(gateway) == 1 and Order.objects.filter(bot=bot).count() == 1
    # It never landed: once its blockhash expired, the unchanged balances say so.
    assert swaps_refresh_due(now=timezone.now() + LATER) == 0
    assert DexSwap.objects.get(intent_key=entry.client_order_id).status == "expired"
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=None)
    bot_tick(bot_id=bot.pk)
    entry.refresh_from_db()
    assert entry.status == "expired" and entry.filled == 0
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()


def test_a_swap_that_fails_on_chain_after_polls_rejects_the_order(org_a, alice, connection, gateway):
    account = live_account(org_a, connection, gateway, alice)
    bot = scripted_bot(org_a, account, "buy", mode="live")
    gateway.swap_outcome = {"status": "failed", "polls": 1}
    bot_tick(bot_id=bot.pk)
    entry = Order.objects.get(bot=bot, tag="entry")
    assert entry.status == "open"
    swaps_refresh_due()  # first poll: not seen yet
    swaps_refresh_due()  # second: failed on chain
    act(bot, "none")
    bot_tick(bot_id=bot.pk)
    entry.refresh_from_db()
    assert entry.status == "rejected" and not Fill.objects.filter(order=entry).exists()
    assert executes(gateway) == 1


def test_accounts_are_checked_and_bad_settings_refused(org_a, org_b, alice, connection, gateway):
    paper = paper_account(org_a, connection, alice)
    with pytest.raises(ApplicationError, match="live bot needs real exchange accounts"):
        scripted_bot(org_a, paper, "buy", mode="live")
    with pytest.raises(ApplicationError, match="no traded volume"):
        bot_validate(
            bot=BotFactory.build(
                organization=org_a,
                exchange_account=paper,
                strategy="momentum_reentry",
                params={"volume_spike": "2"},
                symbol=PAIR,
            )
        )
    for bad, field in (
        ({"pairs": ["SOLUSDC"]}, "pairs"),
        ({"pairs": ["SOL/SOL"]}, "pairs"),
        ({"slippage_bps": 0}, "slippage_bps"),
        ({"quote_amount": "-1"}, "quote_amount"),
        ({"paper_balances": {"USDC": "-5"}}, "paper_balances"),
        ({"label": "Jupiter paper"}, "label"),  # taken
    ):
        with pytest.raises(ApplicationError) as caught:
            dex_account_create(organization=org_a, connection=connection, user=alice, **({"label": "x"} | bad))
        assert caught.value.field == field
    with pytest.raises(ApplicationError, match="another organization"):
        dex_account_create(organization=org_b, connection=connection, label="theirs")
    # A pair Gateway has no route for fails verification, with Gateway's reason.
    odd = dex_account_create(organization=org_a, connection=connection, label="odd", pairs=["JUP/USDC"], user=alice)
    odd = exchange_account_verify(account=odd.account, user=alice)
    assert odd.status == "error" and "No route found for JUP -> USDC" in odd.status_reason
    # A live account whose wallet Gateway no longer holds fails verification.
    live = live_account(org_a, connection, gateway, alice)
    gateway.wallets.clear()
    live = exchange_account_verify(account=live, user=alice)
    assert live.status == "error" and "holds no key for wallet" in live.status_reason


def test_longer_candles_are_built_from_the_minutes_seen(org_a, alice, connection, gateway):
    import datetime as dt

    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for minute, (o, h, low, c) in enumerate([(10, 12, 9, 11), (11, 15, 11, 14), (14, 14, 8, 9), (9, 10, 9, 10)]):
        Candle.objects.create(
            exchange="jupiter",
            symbol=PAIR,
            timeframe="1m",
            ts=base + dt.timedelta(minutes=minute * 2),
            open=o,
            high=h,
            low=low,
            close=c,
            volume=0,
        )
    start = int(base.timestamp() * 1000)
    five = candles_read(PAIR, "5m", start, 10, start + 3_600_000)
    assert [(c.open, c.high, c.low, c.close) for c in five] == [(10, 15, 8, 9), (9, 10, 9, 10)]
    with pytest.raises(Exception, match="Unsupported timeframe"):
        candles_read(PAIR, "30s", start, 10, start)


def test_a_dex_venue_is_not_added_as_a_bare_exchange_account(org_a, alice, connection):
    from exchanges.services import exchange_account_create, exchange_account_update

    with pytest.raises(ApplicationError, match="added as DEX accounts") as caught:
        exchange_account_create(organization=org_a, data={"exchange": "jupiter", "label": "bare"}, user=alice)
    assert caught.value.field == "exchange"
    paper = paper_account(org_a, connection, alice)
    with pytest.raises(ApplicationError, match="added as DEX accounts"):
        exchange_account_update(account=paper, data={"exchange": "binance"}, user=alice)
    assert not ExchangeAccount.objects.filter(label="bare").exists()
