"""Our exchange layer over the real ccxt client, against a loopback server speaking Binance's REST
API: error policy, retries, circuit breaker, safe placement, reconciliation."""

from decimal import Decimal

import pytest

from bots.models import Fill, Order, OrderStatus, Position
from bots.orders import order_place
from bots.reconciliation import reconcile_account
from exchanges.ccxt_client import CcxtClient
from exchanges.errors import (
    AuthError,
    CircuitOpenError,
    DDoSProtectionError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
)
from exchanges.gateway import Gateway
from exchanges.models import CircuitState, ExchangeAccount
from exchanges.types import OrderRequest
from tests.exchanges.binance_server import BinanceServer
from tests.factories import BotFactory

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, budget_seconds=1)


@pytest.fixture(scope="module")
def server():
    with BinanceServer() as srv:
        yield srv


@pytest.fixture
def binance(server, settings):
    server.reset()
    settings.EXCHANGE_URL_OVERRIDES = {"binance": server.base_url}
    settings.EXCHANGE_TIMEOUT_MS = 400
    return server


@pytest.fixture
def account(binance, db):
    from tests.factories import ExchangeAccountFactory

    return ExchangeAccountFactory(exchange="binance", api_key=binance.api_key, api_secret=binance.api_secret)


@pytest.fixture
def bot(account):
    return BotFactory(organization=account.organization, exchange_account=account, mode="live")


@pytest.fixture
def gw(account):
    return Gateway(account, policy=FAST)


def place(bot, gw, **kw):
    """A bot's order through `order_place`: a 0.01 BTC market buy unless told otherwise."""
    args = {
        "account": bot.exchange_account,
        "bot": bot,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": Decimal("0.01"),
        "gateway": gw,
    }
    return order_place(**(args | kw))


def req(cid, **kw):
    args = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": Decimal("0.01"), "client_order_id": cid}
    return OrderRequest(**(args | kw))


def test_reads_and_writes_speak_binance(account, binance):
    client = CcxtClient.from_account(account)
    markets = client.markets()
    assert markets["BTC/USDT"].base == "BTC" and markets["BTC/USDT"].amount_step is not None
    assert client.ticker("BTC/USDT").last == Decimal("30000")
    assert client.balances()["USDT"].free == Decimal("100000")
    placed = client.create_order(req("cid-1"))
    assert placed.status == "filled" and placed.client_order_id == "cid-1"
    assert client.fetch_order(symbol="BTC/USDT", client_order_id="cid-1").id == placed.id
    resting = client.create_order(req("cid-2", type="limit", price=Decimal("20000")))
    assert [o.id for o in client.open_orders()] == [resting.id]
    assert client.cancel_order(symbol="BTC/USDT", client_order_id="cid-2").status == "canceled"
    [trade] = client.my_trades("BTC/USDT")
    assert trade.order_id == placed.id and trade.amount == Decimal("0.01")
    assert isinstance(trade.price, Decimal)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("429", RateLimitError),
        ("418", DDoSProtectionError),
        ("503", ExchangeUnavailableError),
        ("500", ExchangeUnavailableError),
        ("timeout", RequestTimeoutError),
    ],
)
def test_transport_faults_are_retryable(account, binance, fault, error):
    binance.inject("GET /api/v3/ticker/24hr", fault, seconds=1)
    client = CcxtClient.from_account(account)
    client.markets()
    with pytest.raises(error) as caught:
        client.ticker("BTC/USDT")
    assert not caught.value.permanent


def test_exchange_refusals_are_permanent(account, binance):
    client = CcxtClient.from_account(account)
    with pytest.raises(InsufficientFundsError):
        client.create_order(req("big", amount=Decimal("10")))
    with pytest.raises(InvalidOrderError):
        client.create_order(req("tiny", amount=Decimal("0.0000001")))
    with pytest.raises(OrderNotFoundError):
        client.fetch_order(symbol="BTC/USDT", client_order_id="never")
    account.api_secret = "wrong-secret"
    with pytest.raises(AuthError) as caught:
        CcxtClient.from_account(account).balances()
    assert caught.value.permanent
    assert "wrong-secret" not in caught.value.message


def test_reads_retry_through_rate_limits_and_5xx(gw, binance):
    binance.inject("GET /api/v3/ticker/24hr", "429")
    binance.inject("GET /api/v3/ticker/24hr", "502")
    assert gw.ticker("BTC/USDT").last == Decimal("30000")
    assert binance.requests.count(("GET", "/api/v3/ticker/24hr")) == 3


def test_the_circuit_opens_after_repeated_failures_and_recovers(gw, account, binance, settings):
    settings.EXCHANGE_CIRCUIT_THRESHOLD = 3
    settings.EXCHANGE_CIRCUIT_COOLDOWN_SECONDS = 0
    gw.markets()
    binance.inject("GET /api/v3/ticker/24hr", "503", times=10)
    with pytest.raises(ExchangeUnavailableError):
        gw.ticker("BTC/USDT")
    account.refresh_from_db()
    assert account.circuit_state == CircuitState.OPEN
    settings.EXCHANGE_CIRCUIT_COOLDOWN_SECONDS = 60
    with pytest.raises(CircuitOpenError):
        gw.ticker("BTC/USDT")  # refused without calling the exchange
    settings.EXCHANGE_CIRCUIT_COOLDOWN_SECONDS = 0
    binance.reset()
    assert gw.ticker("BTC/USDT").last == Decimal("30000")  # half-open probe succeeds
    assert ExchangeAccount.objects.get(pk=account.pk).circuit_state == CircuitState.CLOSED


def test_creation_is_never_retried_blindly_and_a_timeout_is_adopted(bot, gw, binance):
    binance.inject("POST /api/v3/order", "timeout_after", seconds=1)
    order = place(bot, gw)
    assert binance.requests.count(("POST", "/api/v3/order")) == 1
    assert len(binance.orders) == 1
    assert order.status == OrderStatus.FILLED and order.exchange_order_id
    assert Fill.objects.filter(order=order).count() == 1


def test_a_timeout_before_the_exchange_saw_it_is_settled_by_reconciliation(bot, gw, binance):
    binance.inject("POST /api/v3/order", "timeout", seconds=1)
    order = place(bot, gw)
    assert order.status == OrderStatus.NEW and order.submitted_at is not None
    assert binance.orders == {}
    reconcile_account(account=bot.exchange_account, gateway=gw, grace_seconds=0)
    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED  # never placed, and never re-sent
    assert binance.orders == {}


def test_a_duplicate_client_id_answer_means_already_placed(bot, gw, binance):
    first = place(bot, gw, type="limit", price=Decimal("20000"), intent_key="k1")
    # Lose our row's knowledge of the placement, as if the process died after sending.
    Order.objects.filter(pk=first.pk).update(exchange_order_id="", status=OrderStatus.NEW)
    again = place(bot, gw, type="limit", price=Decimal("20000"), intent_key="k1")
    assert again.pk == first.pk and again.exchange_order_id == first.exchange_order_id
    assert len(binance.orders) == 1


def test_the_exchanges_duplicate_answer_is_adopted_not_rejected(bot, gw, binance):
    from bots.orders import client_order_id_for

    cid = client_order_id_for(account_id=bot.exchange_account_id, bot_id=bot.pk, intent_key="k2")
    # The exchange already holds this intent's order (sent by a worker that died before saving the answer
    # and before marking it submitted); our row does not know.
    placed = CcxtClient.from_account(bot.exchange_account).create_order(req(cid, type="limit", price=Decimal("20000")))
    order = place(bot, gw, type="limit", price=Decimal("20000"), intent_key="k2")
    assert binance.requests.count(("POST", "/api/v3/order")) == 2  # ours got "Duplicate order sent."
    assert order.status == OrderStatus.OPEN and order.exchange_order_id == placed.id
    assert len(binance.orders) == 1


def test_order_not_found_lag_is_tolerated_then_reconciled(bot, gw, binance):
    # The answer to the creation is lost and the exchange claims not to know the fresh order yet.
    binance.inject("POST /api/v3/order", "timeout_after", seconds=1)
    binance.inject("GET /api/v3/order", "not_found", times=10)
    order = place(bot, gw, type="limit", price=Decimal("20000"))
    assert order.status == OrderStatus.NEW and order.submitted_at is not None  # unknown, not rejected
    assert binance.requests.count(("POST", "/api/v3/order")) == 1  # and not re-sent
    # The exchange lists it among the open orders: reconciliation adopts the placement.
    report = reconcile_account(account=bot.exchange_account, gateway=gw, grace_seconds=120)
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN and order.exchange_order_id
    assert report.orders_missing == 0 and len(binance.orders) == 1


def test_partial_fills_reported_twice_and_out_of_order_are_counted_once(bot, gw, binance):
    order = place(bot, gw, type="limit", price=Decimal("20000"), amount=Decimal("0.03"))
    for _ in range(3):
        binance.fill(order.exchange_order_id, "0.01")
    binance.inject("GET /api/v3/myTrades", "duplicate_trades", times=3)
    binance.inject("GET /api/v3/myTrades", "shuffle_trades", times=3)
    reconcile_account(account=bot.exchange_account, gateway=gw)
    reconcile_account(account=bot.exchange_account, gateway=gw)
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
    assert Fill.objects.filter(order=order).count() == 3
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal("0.03")
    assert sum(Decimal(t["qty"]) for t in binance.trades) == Decimal("0.03")


def test_an_authentication_failure_pauses_the_accounts_bots(bot, binance, alice):
    from django.utils import timezone

    from bots.services import bot_start
    from bots.state import BotStatus
    from organizations.models import Role
    from tests.factories import MembershipFactory

    account = bot.exchange_account
    ExchangeAccount.objects.filter(pk=account.pk).update(status="active", last_verified_at=timezone.now())
    account.refresh_from_db()
    MembershipFactory(user=alice, organization=bot.organization, role=Role.ADMIN)
    bot_start(bot=bot, user=alice)
    account.api_secret = "rotated-away"
    account.save()

    order = place(bot, Gateway(account, policy=FAST))

    assert order.status == OrderStatus.REJECTED
    bot.refresh_from_db()
    account.refresh_from_db()
    assert bot.status == BotStatus.ERROR and "authentication" in bot.last_error
    assert account.status == "paused"
    assert binance.requests.count(("POST", "/api/v3/order")) == 1  # no retry
