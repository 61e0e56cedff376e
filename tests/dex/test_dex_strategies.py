"""Strategies on DEX accounts, end to end through the bot runtime (`bot_tick`).

- CEX-DEX arbitrage live: the loopback Binance through the real ccxt client against a live
  Jupiter account swapping from a wallet on the loopback Gateway; and a swap that fails on chain
  while its CEX leg filled, which the bot trades back on the CEX.
- CEX-DEX arbitrage on paper: the replayed paper exchange against a paper Jupiter account. The
  paper exchange replays Binance */USDT pairs only (data/market), and the loopback Gateway quotes
  any pair it is given a price for, so the pair is SOL/USDT on both sides.
- Momentum with re-entry on a paper Jupiter account, over the candles built from the prices
  Gateway showed (one-minute rows, exchange `jupiter`), seeded with real SOL candles.
"""

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from bots import runtime
from bots.models import Bot, Fill, Order, Position
from bots.runtime import bot_tick
from bots.services import bot_start
from dex.models import DexSwap
from dex.services import connection_create, connection_verify
from dex.swaps import swaps_refresh_due
from exchanges.gateway import paper_source
from exchanges.market_data import FixedClock, candles_upsert, read_candle_file
from exchanges.models import Candle, PaperBalance, PaperOrder
from strategies.base import quantize_amount
from tests.dex.gateway_server import GatewayServer
from tests.dex.test_exchange import executes, live_account, paper_account
from tests.exchanges.binance_server import BinanceServer, MarketSpec
from tests.factories import BotFactory, ExchangeAccountFactory
from tests.paper_fixtures import DATA

pytestmark = pytest.mark.django_db
PAIR = "SOL/USDC"
FIVE = 300_000


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        server.prices[("SOL", "USDC")] = Decimal("152")
        server.spread = Decimal("0.001")  # bid 151.848, ask 152.152
        yield server


@pytest.fixture
def connection(gateway, org_a, alice):
    made = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    return connection_verify(connection=made, user=alice)


@pytest.fixture
def binance(settings):
    # Last price 150: bid 149.99, ask 150.01 (one tick each side); market orders fill at 150.
    markets = (MarketSpec("SOL", "USDC"),)
    with BinanceServer(markets=markets, balances={"USDC": "100000"}, prices={PAIR: "150"}) as server:
        settings.EXCHANGE_URL_OVERRIDES = {"binance": server.base_url}
        settings.EXCHANGE_TIMEOUT_MS = 2000
        yield server


@pytest.fixture(autouse=True)
def fresh_candle_caches():
    runtime._live_candles.clear()
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()
    yield
    runtime._live_candles.clear()
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()


def binance_account(org, server):
    return ExchangeAccountFactory(
        organization=org,
        exchange="binance",
        api_key=server.api_key,
        api_secret=server.api_secret,
        status="active",
        last_verified_at=timezone.now(),
    )


def orders_sent(server) -> int:
    return sum(1 for method, path in server.requests if (method, path) == ("POST", "/api/v3/order"))


def arb_bot(org, primary, secondary, *, mode, symbol=PAIR):
    bot = BotFactory(
        organization=org,
        exchange_account=primary,
        secondary_exchange_account=secondary,
        strategy="cex_dex_arbitrage",
        params={"order_amount": "1"},
        symbol=symbol,
        mode=mode,
        tick_interval=5,
    )
    bot_start(bot=bot)
    return bot


def due(bot):
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=None)


def open_position(bot):
    return Position.objects.filter(bot=bot, closed_at__isnull=True).first()


# -- CEX-DEX arbitrage, live ---------------------------------------------------------------------------
def test_a_live_arbitrage_buys_on_binance_and_swaps_the_sale_on_jupiter(org_a, alice, connection, gateway, binance):
    dex = live_account(org_a, connection, gateway, alice)
    bot = arb_bot(org_a, binance_account(org_a, binance), dex, mode="live")
    # The DEX bid 151.848 beats the CEX ask 150.01 x (1.004 + 0.01 / 150.01).
    result = bot_tick(bot_id=bot.pk)
    assert (result.outcome, result.placed, result.rejected) == ("ticked", 2, 0), result.note
    assert "buy CEX, sell DEX" in result.note

    buy = Order.objects.get(bot=bot, tag="arb-buy-cex")
    assert (buy.exchange_account_id, buy.side, buy.status) == (bot.exchange_account_id, "buy", "filled")
    assert (buy.amount, buy.filled, buy.average) == (Decimal(1), Decimal(1), Decimal(150))
    [on_binance] = [o for o in binance.orders.values() if o["clientOrderId"] == buy.client_order_id]
    assert (on_binance["side"], on_binance["type"], Decimal(on_binance["executedQty"])) == ("BUY", "MARKET", 1)
    buy_fill = Fill.objects.get(order=buy)
    assert (buy_fill.price, buy_fill.fee, buy_fill.fee_currency) == (Decimal(150), Decimal("0.15"), "USDC")

    sell = Order.objects.get(bot=bot, tag="arb-sell-dex")
    assert (sell.exchange_account_id, sell.side, sell.type, sell.status) == (dex.pk, "sell", "market", "filled")
    assert (sell.amount, sell.filled, sell.average) == (Decimal(1), Decimal(1), Decimal("151.848"))
    swap = DexSwap.objects.get(intent_key=sell.client_order_id)
    assert (swap.status, swap.side, swap.base, swap.quote) == ("confirmed", "sell", "SOL", "USDC")
    assert (swap.amount, swap.slippage_bps, swap.quoted_price) == (Decimal(1), 50, Decimal("151.848"))
    assert (swap.amount_in, swap.amount_out) == (Decimal(1), Decimal("151.848"))
    assert swap.limit_amount == Decimal("151.08876")  # the least it may return: 0.5% under the quote
    sell_fill = Fill.objects.get(order=sell)
    assert sell_fill.trade_id == swap.signature and sell.raw["signature"] == swap.signature
    assert (sell_fill.price, sell_fill.fee, sell_fill.fee_currency) == (Decimal("151.848"), Decimal("0.000005"), "SOL")
    # Both legs are the bot's one position: bought and sold, it is flat with the spread realized.
    position = Position.objects.get(bot=bot)
    assert position.closed_at is not None and position.quantity == 0
    assert position.realized_pnl == Decimal("1.848")
    assert position.fees_paid == Decimal("0.15") + Decimal("0.000005") * Decimal("151.848")
    quotes = [q for _, path, q in gateway.requests if path.endswith("/quote-swap")]
    assert {q["slippagePct"] for q in quotes} == {"0.5"}
    assert (executes(gateway), orders_sent(binance)) == (1, 1)


def test_a_swap_that_fails_on_chain_is_traded_back_on_the_cex_and_nothing_is_sent_twice(
    org_a, alice, connection, gateway, binance
):
    dex = live_account(org_a, connection, gateway, alice)
    bot = arb_bot(org_a, binance_account(org_a, binance), dex, mode="live")
    gateway.swap_outcome = {"status": "failed", "polls": 1}
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 2, result.note
    buy = Order.objects.get(bot=bot, tag="arb-buy-cex")
    sell = Order.objects.get(bot=bot, tag="arb-sell-dex")
    assert (buy.status, sell.status) == ("filled", "open")  # the swap was sent: its outcome is not known yet
    assert open_position(bot).quantity == Decimal(1)

    # While the swap is pending the bot waits: nothing new, nothing sent again.
    due(bot)
    assert bot_tick(bot_id=bot.pk).placed == 0
    assert swaps_refresh_due() == 1  # first poll: not seen yet
    assert swaps_refresh_due() == 0  # second: failed on chain
    assert DexSwap.objects.get(intent_key=sell.client_order_id).status == "failed"

    # The next tick learns the swap failed and sells on the CEX what the DEX leg did not.
    due(bot)
    result = bot_tick(bot_id=bot.pk)
    sell.refresh_from_db()
    assert sell.status == "rejected" and sell.filled == 0 and not Fill.objects.filter(order=sell).exists()
    assert "failed on chain" in sell.raw["error"]
    assert result.placed == 1 and "did not fill" in result.note, result.note
    rebalance = Order.objects.get(bot=bot, tag="rebalance")
    assert (rebalance.exchange_account_id, rebalance.side, rebalance.amount) == (bot.exchange_account_id, "sell", 1)
    assert (rebalance.status, rebalance.average) == ("filled", Decimal(150))
    assert open_position(bot) is None  # back where it was: flat
    assert Bot.objects.get(pk=bot.pk).state["strategy"]["net"] == "0"

    # Books in line again: later ticks place nothing, and the failed swap is never sent again.
    gateway.prices[("SOL", "USDC")] = Decimal("150")
    due(bot)
    assert bot_tick(bot_id=bot.pk).placed == 0
    assert (executes(gateway), orders_sent(binance)) == (1, 2)
    assert Order.objects.filter(bot=bot).count() == 3


# -- CEX-DEX arbitrage, paper ----------------------------------------------------------------------------
@pytest.fixture
def sol_market(monkeypatch):
    """Real SOL/USDT 5m candles on the paper exchange, its clock one minute into the 41st."""
    candles = read_candle_file(DATA / "SOL_USDT-5m.json.gz")[2][:60]
    candles_upsert(exchange="binance", symbol="SOL/USDT", timeframe="5m", candles=candles)
    clock = FixedClock(candles[40].ts + 60_000)
    monkeypatch.setattr("exchanges.gateway.paper_clock", lambda source, symbol="BTC/USDT": clock)
    return candles


def test_a_paper_arbitrage_trades_the_paper_exchange_against_gateways_quotes_and_sends_no_swap(
    org_a, alice, connection, gateway, sol_market
):
    # At the clock the last closed candle is the 40th; an order fills at the next price, the open
    # of the candle after the one forming (no look-ahead into the forming one's range).
    last, next_open = sol_market[39].close, sol_market[41].open
    gateway.prices[("SOL", "USDT")] = (last * Decimal("1.02")).quantize(Decimal("0.0001"))
    cex = ExchangeAccountFactory(organization=org_a, exchange="paper", paper_slippage=Decimal("0.0005"))
    PaperBalance.objects.create(account=cex, asset="USDT", free=Decimal("1000"))
    dex = paper_account(org_a, connection, alice, pairs=["SOL/USDT"], paper_balances={"SOL": "3"})
    bot = arb_bot(org_a, cex, dex, mode="paper", symbol="SOL/USDT")

    result = bot_tick(bot_id=bot.pk)
    assert (result.placed, result.rejected) == (2, 0), result.note
    buy = Order.objects.get(bot=bot, tag="arb-buy-cex")
    sell = Order.objects.get(bot=bot, tag="arb-sell-dex")
    assert (buy.exchange_account_id, sell.exchange_account_id) == (cex.pk, dex.pk)
    # The paper exchange fills at the next price worsened by its slippage; the paper DEX at
    # Gateway's quote to sell, its taker fee charged apart.
    assert (buy.status, buy.filled, buy.average) == ("filled", Decimal(1), next_open * Decimal("1.0005"))
    dex_bid = Decimal(str(float(gateway.prices[("SOL", "USDT")] * Decimal("0.999"))))
    assert (sell.status, sell.filled, sell.average) == ("filled", Decimal(1), dex_bid)
    assert Fill.objects.get(order=sell).price == dex_bid
    assert PaperOrder.objects.get(account=cex, client_order_id=buy.client_order_id).status == "filled"
    assert PaperOrder.objects.get(account=dex, client_order_id=sell.client_order_id).status == "filled"
    dex_balances = {b.asset: b.free for b in PaperBalance.objects.filter(account=dex)}
    assert dex_balances == {"SOL": Decimal(2), "USDT": dex_bid - (dex_bid * Decimal("0.001")).quantize(Decimal("1e-8"))}
    assert open_position(bot) is None  # bought and sold: flat
    # Paper: Gateway quoted, nothing was executed and no wallet was read.
    assert executes(gateway) == 0
    assert not [path for _, path, _ in gateway.requests if path.endswith(("/execute-quote", "/balances", "/poll"))]


# -- momentum with re-entry on a DEX pair ----------------------------------------------------------------
# Real SOL/USDT 5m candles (data/market/SOL_USDT-5m.json.gz, from shared/data/market; see the
# README there), standing in for SOL/USDC: candles [60, 90) of the file, 2021-04-15 05:00 to 07:25
# UTC. The last one closes at 26.7 over the highest high of the 20 before it (26.5): a breakout.
SOL_SLICE = slice(60, 90)


def seed_dex_candles(symbol: str) -> Decimal:
    """Store the slice as the one-minute candles the DEX price feed keeps, shifted so that its last
    candle is the newest closed 5m bar. Each 5m candle is one row at the first minute of its
    bucket: built into 5m bars, a lone row is that candle unchanged. Returns the last close."""
    candles = read_candle_file(DATA / "SOL_USDT-5m.json.gz")[2][SOL_SLICE]
    now = int(time.time() * 1000)
    shift = (now - now % FIVE - FIVE) - candles[-1].ts
    Candle.objects.bulk_create(
        Candle(
            exchange="jupiter",
            symbol=symbol,
            timeframe="1m",
            ts=dt.datetime.fromtimestamp((c.ts + shift) / 1000, tz=dt.UTC),
            open=c.open,
            high=c.high,
            low=c.low,
            close=c.close,
            volume=0,
        )
        for c in candles
    )
    return candles[-1].close


def test_momentum_reentry_enters_a_dex_breakout_at_the_ask_and_trails_out_at_the_bid(org_a, alice, connection, gateway):
    account = paper_account(org_a, connection, alice)
    last_close = seed_dex_candles(PAIR)
    assert last_close == Decimal("26.7")
    gateway.prices[("SOL", "USDC")] = last_close
    bot = BotFactory(
        organization=org_a,
        exchange_account=account,
        strategy="momentum_reentry",
        params={"volume_spike": "0", "breakout_period": 20, "volume_period": 20, "order_quote": "100"},
        symbol=PAIR,
        mode="paper",
        tick_interval=5,
    )
    bot_start(bot=bot)

    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 1 and "breakout above 26.5" in result.note, result.note
    entry = Order.objects.get(bot=bot, tag="entry")
    amount = quantize_amount(Decimal(100) / last_close)
    ask = Decimal("26.7267")  # 26.7 x (1 + 0.1%)
    assert (entry.side, entry.status, entry.amount, entry.filled) == ("buy", "filled", amount, amount)
    assert Fill.objects.get(order=entry).price == ask
    assert abs(entry.average - ask) < Decimal("1e-8")  # its cost is kept to 8 decimals
    assert open_position(bot).quantity == amount
    assert Decimal(Bot.objects.get(pk=bot.pk).state["strategy"]["peak"]) == last_close  # the mid, at entry

    # 2.6% under the peak, past the 2% trailing stop (26.166; a little higher should a 5m bar
    # holding the entry's prices close between the two ticks).
    gateway.prices[("SOL", "USDC")] = Decimal("26")
    due(bot)
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 1 and "trailing stop 26.1" in result.note, result.note
    stop = Order.objects.get(bot=bot, tag="trailing-stop")
    bid = Decimal("25.974")  # 26 x (1 - 0.1%)
    assert (stop.side, stop.status, stop.amount) == ("sell", "filled", amount)
    assert Fill.objects.get(order=stop).price == bid
    assert open_position(bot) is None
    assert executes(gateway) == 0
