"""Live-mode ticks against the loopback Binance server with the real ccxt client: candles paged
beyond one request for a long warm-up, then fetched incrementally, and a strategy's order placed
on the exchange."""

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from bots import runtime
from bots.models import Bot, Order, OrderStatus
from bots.runtime import bot_tick
from bots.services import bot_start
from organizations.models import Role
from strategies.registry import get as get_strategy
from strategies.registry import validate_params
from tests.bots import scripted
from tests.exchanges.binance_server import BinanceServer
from tests.factories import BotFactory, ExchangeAccountFactory

pytestmark = pytest.mark.django_db
STEP = 300_000


@pytest.fixture
def binance(settings, btc_candles):
    # The real BTC/USDT 5m candles, moved in time so the newest one is forming now.
    now = int(time.time() * 1000)
    shift = (now - now % STEP) - btc_candles[-1].ts
    rows = [(c.ts + shift, c.open, c.high, c.low, c.close, c.volume) for c in btc_candles]
    with BinanceServer(balances={"USDT": "100000", "BTC": "1"}, prices={"BTC/USDT": str(btc_candles[-1].close)}) as srv:
        srv.set_candles("BTC/USDT", "5m", rows)
        settings.EXCHANGE_URL_OVERRIDES = {"binance": srv.base_url}
        settings.EXCHANGE_TIMEOUT_MS = 2000
        runtime._live_candles.clear()
        scripted.install()
        yield srv
        scripted.uninstall()
        runtime._live_candles.clear()


def live_bot(org, member, server, *, strategy, params):
    account = ExchangeAccountFactory(
        organization=org,
        exchange="binance",
        api_key=server.api_key,
        api_secret=server.api_secret,
        status="active",
        last_verified_at=timezone.now(),
    )
    bot = BotFactory(
        organization=org, exchange_account=account, mode="live", strategy=strategy, params=params, tick_interval=60
    )
    bot_start(bot=bot, user=member(Role.ADMIN))
    return bot


def klines_requests(server) -> int:
    return sum(1 for _, path in server.requests if path.startswith("/api/v3/klines"))


def test_long_warmup_is_paged_then_fetched_incrementally(org_a, member, binance):
    params = {"trend_ema_period": 100}
    need = get_strategy("macd_trend").warmup_bars(validate_params("macd_trend", params))
    assert need > runtime.OHLCV_PAGE  # more than one request can return
    bot = live_bot(org_a, member, binance, strategy="macd_trend", params=params)
    assert bot_tick(bot_id=bot.pk).outcome == "ticked"
    assert klines_requests(binance) == 2
    _, bars = next(iter(runtime._live_candles.values()))
    assert len(bars) >= need
    # Contiguous real candles, the forming one excluded from what the strategy saw.
    closed = bars.upto(int(time.time() * 1000), STEP, need)
    assert len(closed) == need
    assert set((closed.ts[1:] - closed.ts[:-1]).tolist()) <= {STEP, 2 * STEP, 3 * STEP, 4 * STEP, 5 * STEP}
    assert closed.ts[-1] + STEP <= int(time.time() * 1000)
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now())
    assert bot_tick(bot_id=bot.pk).outcome == "ticked"
    assert klines_requests(binance) == 3  # only what is new


def test_a_live_tick_places_its_order_on_the_exchange(org_a, member, binance):
    bot = live_bot(org_a, member, binance, strategy=scripted.KEY, params={"action": "buy", "amount": "0.001"})
    result = bot_tick(bot_id=bot.pk)
    assert (result.outcome, result.placed) == ("ticked", 1)
    order = Order.objects.get(bot=bot)
    assert order.status == OrderStatus.FILLED and order.exchange_order_id
    on_exchange = [o for o in binance.orders.values() if o["clientOrderId"] == order.client_order_id]
    assert len(on_exchange) == 1 and Decimal(on_exchange[0]["executedQty"]) == Decimal("0.001")
    assert bot.positions.get().quantity == Decimal("0.001")
