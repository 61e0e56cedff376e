"""Our exchange layer on Hyperliquid: `CcxtClient` over the real, unmodified ccxt `hyperliquid` class, against a
loopback server that verifies every signature. Perpetual markets, leverage, positions and margin, client order
ids, reduce-only and trigger orders, funding, the error policy, and account verification.

Fees: every fill pays Hyperliquid's fee (0.045% taker, 0.015% maker) and nothing else: ccxt's own builder fee
is turned off (ccxt still names itself as the builder, at 0%)."""

import json
import urllib.request
from decimal import ROUND_DOWN, Decimal

import pytest

from bots.models import Fill, OrderStatus
from bots.orders import client_order_id_for, order_place
from bots.reconciliation import reconcile_account
from exchanges import perps, venues
from exchanges.ccxt_client import CcxtClient
from exchanges.errors import (
    AuthError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    RetryableError,
    RetryPolicy,
)
from exchanges.gateway import Gateway
from exchanges.models import ExchangeAccount
from exchanges.services import exchange_account_verify
from exchanges.types import OrderRequest
from tests.exchanges.hyperliquid_server import HyperliquidServer, address_of, keccak, make_ccxt_client
from tests.factories import BotFactory, ExchangeAccountFactory

BTC, ETH = "BTC/USDC:USDC", "ETH/USDC:USDC"
TAKER, MAKER = Decimal("0.00045"), Decimal("0.00015")  # Hyperliquid's base tier
BUILDER = Decimal("0")  # ccxt's builder fee, turned off
OTHER_KEY = "0x" + keccak(b"someone else's key").hex()
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, budget_seconds=1)
CID = "bo42x0123456789abcdef0123"


def usd(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.000001"), rounding=ROUND_DOWN)


def fee(notional: str, rate: Decimal = TAKER) -> Decimal:
    """What a fill of this notional pays: the exchange's fee and the builder's, each booked to 6 decimals."""
    return usd(Decimal(notional) * rate) + usd(Decimal(notional) * BUILDER)


@pytest.fixture(scope="module")
def server():
    with HyperliquidServer() as srv:
        yield srv


@pytest.fixture
def hl(server, settings):
    server.reset()
    settings.EXCHANGE_URL_OVERRIDES = {"hyperliquid": server.base_url}
    settings.EXCHANGE_TIMEOUT_MS = 400
    return server


def unthrottled(client: CcxtClient) -> CcxtClient:
    """ccxt spaces requests by Hyperliquid's request weights (up to half a second apart): on loopback that only
    slows the tests down."""
    client.api.enableRateLimit = False
    return client


def client_for(server, private_key=None, **kw) -> CcxtClient:
    client = CcxtClient(
        exchange_id="hyperliquid",
        wallet_address=server.wallet_address,
        private_key=private_key or server.private_key,
        **kw,
    )
    return unthrottled(client)


def gateway_for(account: ExchangeAccount) -> Gateway:
    return Gateway(account, unthrottled(CcxtClient.from_account(account)), policy=FAST)


@pytest.fixture
def client(hl):
    return client_for(hl)


def req(cid=CID, **kw):
    args = {"symbol": BTC, "side": "buy", "type": "market", "amount": Decimal("0.01"), "client_order_id": cid}
    return OrderRequest(**(args | kw))


def cid(n: int) -> str:
    return f"bo42x{n:020x}"


# -- markets and leverage --------------------------------------------------------------------------------
def test_markets_list_btc_as_a_linear_usdc_swap_with_its_max_leverage(client):
    markets = client.markets()
    btc, eth = markets[BTC], markets[ETH]
    assert (btc.type, btc.is_perp, btc.base, btc.quote, btc.settle) == ("swap", True, "BTC", "USDC", "USDC")
    assert (btc.max_leverage, eth.max_leverage) == (Decimal(50), Decimal(25))
    assert (btc.amount_step, eth.amount_step) == (Decimal("0.00001"), Decimal("0.0001"))  # szDecimals 5 and 4
    assert btc.contract_size == 1 and btc.min_notional == Decimal(10)
    assert markets["PURR/USDC"].type == "spot" and markets["PURR/USDC"].max_leverage is None


def test_isolated_leverage_is_set_and_the_mode_cannot_switch_under_an_open_position(client, hl):
    client.set_leverage(BTC, leverage=Decimal(10), margin_mode="isolated")
    client.create_order(req())
    [position] = client.positions()
    assert (position.margin_mode, position.leverage) == ("isolated", Decimal(10))
    with pytest.raises(InvalidOrderError) as caught:
        client.set_leverage(BTC, leverage=Decimal(10), margin_mode="cross")
    assert "Cannot switch leverage type with open position." in caught.value.message
    client.set_leverage(BTC, leverage=Decimal(5), margin_mode="isolated")  # lower leverage posts more margin
    [position] = client.positions()
    assert position.leverage == Decimal(5) and position.margin_used == Decimal("60")  # 0.01 x 30000 / 5


def test_cross_leverage_is_set_and_a_position_opens_under_it(client, hl):
    client.set_leverage(ETH, leverage=Decimal(3), margin_mode="cross")
    client.create_order(req(symbol=ETH, amount=Decimal("0.5")))
    [position] = client.positions([ETH])
    assert (position.margin_mode, position.leverage) == ("cross", Decimal(3))
    assert position.margin_used == usd(Decimal(1000) / 3) == Decimal("333.333333")  # 0.5 x 2000 / 3
    assert [r for r in hl.requests if r[1] == "updateLeverage"] == [("/exchange", "updateLeverage")]


def test_leverage_above_the_markets_max_is_refused_before_anything_is_sent(client, hl):
    with pytest.raises(InvalidOrderError) as caught:
        client.set_leverage(BTC, leverage=Decimal(51), margin_mode="cross")
    assert caught.value.message == "BTC/USDC:USDC on hyperliquid allows at most 50x leverage, not 51x."
    with pytest.raises(InvalidOrderError, match="at most 25x"):
        client.set_leverage(ETH, leverage=Decimal(26), margin_mode="isolated")
    with pytest.raises(InvalidOrderError, match="whole-number"):
        client.set_leverage(BTC, leverage=Decimal("2.5"), margin_mode="cross")
    assert not [r for r in hl.requests if r[1] == "updateLeverage"]


def test_the_exchange_refuses_leverage_above_its_max_when_our_market_data_is_stale(client, hl):
    client.markets()
    client.api.markets[BTC]["limits"]["leverage"]["max"] = 100  # as if the venue lowered its maximum since
    with pytest.raises(InvalidOrderError) as caught:
        client.set_leverage(BTC, leverage=Decimal(60), margin_mode="cross")
    assert "hyperliquid refused" in caught.value.message and "Invalid leverage value" in caught.value.message
    assert [r for r in hl.requests if r[1] == "updateLeverage"] == [("/exchange", "updateLeverage")]


# -- signatures --------------------------------------------------------------------------------------------
def test_a_forged_signature_is_refused_as_an_authentication_error(hl):
    forged = client_for(hl, private_key=OTHER_KEY)
    with pytest.raises(AuthError) as caught:
        forged.create_order(req())
    assert caught.value.permanent and caught.value.kind == "authentication"
    # The server recovered the key that really signed, and it is not the account's.
    assert f"User or API Wallet {address_of(OTHER_KEY)} does not exist." in caught.value.message
    assert OTHER_KEY[2:] not in caught.value.message
    with pytest.raises(AuthError):
        forged.set_leverage(BTC, leverage=Decimal(3), margin_mode="cross")
    with pytest.raises(AuthError):
        forged.cancel_order(symbol=BTC, client_order_id=CID)
    assert hl.orders == {} and ("/exchange", "order") in hl.requests


def test_a_signed_request_altered_on_the_way_is_refused(hl):
    ex = make_ccxt_client(hl)
    ex.load_markets()
    order = {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 29000, "params": {}}
    body = ex.create_orders_request([order])
    assert body["action"]["orders"][0]["s"] == "0.01"

    def post(payload):
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL
            hl.base_url + "/exchange", json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - a loopback http URL
            return json.loads(answer.read())

    tampered = json.loads(json.dumps(body))
    tampered["action"]["orders"][0]["s"] = "1"  # someone makes it a hundred times bigger
    answer = post(tampered)
    assert answer["status"] == "err" and answer["response"].startswith("User or API Wallet 0x")
    assert hl.wallet_address not in answer["response"]
    answer = post(body)  # the original, as signed
    assert answer["status"] == "ok" and "resting" in answer["response"]["data"]["statuses"][0]
    assert post(body) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {body['nonce']}"}


def test_a_testnet_signature_is_not_valid_on_mainnet(hl):
    testnet = client_for(hl, testnet=True)  # signs as the testnet phantom agent ("b")
    with pytest.raises(AuthError):
        testnet.create_order(req())
    assert hl.orders == {}


def test_an_api_wallet_signs_for_its_master_account(hl):
    agent_key = "0x" + keccak(b"api wallet").hex()
    hl.add_agent(master=hl.wallet_address, private_key=agent_key)
    agent = client_for(hl, private_key=agent_key)  # the master's address, the agent's key
    placed = agent.create_order(req())
    assert placed.status == "filled"
    [position] = agent.positions()
    assert position.quantity == Decimal("0.01")
    [row] = hl.orders.values()
    assert row["user"] == hl.wallet_address


# -- positions, balances and orders ------------------------------------------------------------------------
def test_a_long_shows_entry_mark_pnl_liquidation_price_margin_and_balance(client, hl):
    client.set_leverage(BTC, leverage=Decimal(10), margin_mode="isolated")
    placed = client.create_order(req())
    assert (placed.status, placed.filled, placed.average, placed.symbol) == ("filled", Decimal("0.01"), 30000, BTC)
    hl.set_mark("BTC", "31000")
    [p] = client.positions()
    margin = Decimal("30")  # 0.01 x 30000 / 10, posted when the position opened
    mmr = perps.maintenance_rate(50)
    assert (p.symbol, p.side, p.quantity, p.entry_price, p.mark_price) == (BTC, "long", Decimal("0.01"), 30000, 31000)
    assert p.unrealized_pnl == Decimal("10")
    assert p.liquidation_price == usd(
        perps.liquidation_price(quantity=Decimal("0.01"), entry=Decimal(30000), margin=margin, mmr=mmr)
    )
    assert p.liquidation_price == Decimal("27272.727272")
    assert p.margin_used == margin + 10  # an isolated position's margin includes its unrealized PnL
    usdc = client.balances()["USDC"]
    assert usdc.total == 100000 - fee("300") + 10
    assert usdc.used == margin + 10 and usdc.free == usdc.total - usdc.used


def test_a_short_shows_a_liquidation_price_above_its_entry(client, hl):
    client.set_leverage(ETH, leverage=Decimal(5), margin_mode="cross")
    client.create_order(req(symbol=ETH, side="sell", amount=Decimal("2")))
    hl.set_mark("ETH", "1900")
    [p] = client.positions([ETH])
    assert (p.side, p.quantity, p.entry_price, p.mark_price) == ("short", Decimal(-2), 2000, 1900)
    assert p.unrealized_pnl == Decimal("200") and p.margin_used == Decimal("760")  # 2 x 1900 / 5
    balance = 100000 - fee("4000")
    # Cross: the whole account stands behind the position.
    expected = perps.liquidation_price(
        quantity=Decimal(-2), entry=Decimal(2000), margin=balance, mmr=perps.maintenance_rate(25)
    )
    assert p.liquidation_price == usd(expected) and p.liquidation_price > 2000
    assert client.balances()["USDC"].total == balance + 200


def test_a_limit_order_with_a_client_order_id_comes_back_with_the_same_id(client, hl):
    placed = client.create_order(req(type="limit", price=Decimal("29000")))
    assert (placed.client_order_id, placed.status, placed.amount) == (CID, "open", Decimal("0.01"))
    [row] = hl.orders.values()
    assert row["order"]["cloid"] == venues.to_venue_cid("hyperliquid", CID) == "0x00000000002a0123456789abcdef0123"
    [listed] = client.open_orders()
    assert (listed.id, listed.client_order_id, listed.price, listed.side) == (placed.id, CID, 29000, "buy")
    assert client.fetch_order(symbol=BTC, client_order_id=CID).id == placed.id
    hl.set_mark("BTC", "28900")  # crosses it: it fills at its own price, as a maker
    done = client.fetch_order(symbol=BTC, order_id=placed.id)
    assert (done.status, done.filled, done.client_order_id) == ("filled", Decimal("0.01"), CID)
    [trade] = client.my_trades(BTC)
    assert (trade.order_id, trade.price, trade.is_maker) == (placed.id, 29000, True)
    assert trade.fee == fee("290", MAKER) and trade.fee_currency == "USDC"


def test_a_reduce_only_order_that_would_flip_or_open_a_position_is_refused(client, hl):
    client.create_order(req(amount=Decimal("0.01")))
    with pytest.raises(InvalidOrderError) as caught:
        client.create_order(req(cid(1), side="sell", amount=Decimal("0.02"), reduce_only=True))
    assert "Reduce only order would increase position. asset=0" in caught.value.message
    with pytest.raises(InvalidOrderError, match="Reduce only order would increase position"):
        client.create_order(req(cid(2), side="buy", reduce_only=True))  # same side: it would grow it
    with pytest.raises(InvalidOrderError, match=r"Reduce only order would increase position\. asset=1"):
        client.create_order(req(cid(3), symbol=ETH, side="sell", amount=Decimal("0.01"), reduce_only=True))
    # The exchange keeps the refused orders' reason.
    assert client.fetch_order(symbol=BTC, client_order_id=cid(1)).status == "rejected"
    closing = client.create_order(req(cid(4), side="sell", amount=Decimal("0.01"), reduce_only=True))
    assert closing.status == "filled" and client.positions() == []


def test_a_stop_loss_rests_then_fires_when_the_mark_crosses_it(client, hl):
    client.create_order(req())
    stop = client.create_order(
        req(cid(1), side="sell", reduce_only=True, trigger_price=Decimal("29000"), trigger_kind="sl")
    )
    take = client.create_order(
        req(cid(2), side="sell", reduce_only=True, trigger_price=Decimal("32000"), trigger_kind="tp")
    )
    assert stop.status == take.status == "open"
    listed = {o.client_order_id: o for o in client.open_orders()}
    assert listed[cid(1)].raw["orderType"] == "Stop Market" and listed[cid(1)].raw["triggerPx"] == "29000.0"
    assert listed[cid(2)].raw["triggerCondition"] == "Price above 32000"
    hl.set_mark("BTC", "29500")
    assert client.fetch_order(symbol=BTC, client_order_id=cid(1)).status == "open"
    hl.set_mark("BTC", "28900")
    fired = client.fetch_order(symbol=BTC, client_order_id=cid(1))
    assert (fired.status, fired.filled) == ("filled", Decimal("0.01"))
    assert client.positions() == []
    [_, exit_trade] = sorted(client.my_trades(BTC), key=lambda t: t.ts)
    assert (exit_trade.side, exit_trade.price, exit_trade.order_id) == ("sell", 28900, stop.id)
    assert hl.balance() == 100000 - fee("300") - 11 - fee("289")  # a realized loss of 0.01 x 1100
    # The take-profit no longer has anything to reduce: when it fires, it is canceled.
    hl.set_mark("BTC", "32100")
    assert client.fetch_order(symbol=BTC, client_order_id=cid(2)).status == "canceled"
    assert client.open_orders() == []


def test_cancel_by_client_id_or_order_id_answers_the_canceled_order(client, hl):
    first = client.create_order(req(cid(1), type="limit", price=Decimal("29000")))
    second = client.create_order(req(cid(2), type="limit", price=Decimal("28000")))
    canceled = client.cancel_order(symbol=BTC, client_order_id=cid(1))
    assert (canceled.id, canceled.status, canceled.client_order_id) == (first.id, "canceled", cid(1))
    assert client.cancel_order(symbol=BTC, order_id=second.id).status == "canceled"
    assert client.open_orders() == []
    with pytest.raises(OrderNotFoundError, match="Order was never placed, already canceled, or filled"):
        client.cancel_order(symbol=BTC, order_id=first.id)


def test_my_trades_list_each_fill_with_its_side_price_and_fee(client, hl):
    bought = client.create_order(req(cid(1)))
    hl.set_mark("BTC", "31000")
    sold = client.create_order(req(cid(2), side="sell"))
    trades = sorted(client.my_trades(BTC), key=lambda t: t.ts)
    assert [(t.order_id, t.side, t.price, t.amount) for t in trades] == [
        (bought.id, "buy", 30000, Decimal("0.01")),
        (sold.id, "sell", 31000, Decimal("0.01")),
    ]
    assert [t.fee for t in trades] == [fee("300"), fee("310")] and all(t.is_maker is False for t in trades)
    assert len({t.id for t in trades}) == 2 and not {t.id for t in trades} & {bought.id, sold.id}
    assert [t.order_id for t in client.my_trades(BTC, since=trades[1].ts)] == [sold.id]
    assert client.my_trades(ETH) == []
    assert hl.balance() == 100000 - fee("300") - fee("310") + 10  # the realized gain of 0.01 x 1000


def test_funding_payments_are_funding_events_after_pay_funding(client, hl):
    client.create_order(req())
    [paid] = hl.pay_funding("BTC", "0.0001")  # longs pay: 0.01 x 30000 x 0.0001
    hl.set_mark("BTC", "31000")
    hl.pay_funding("BTC", "-0.0002")  # shorts pay: the long receives 0.01 x 31000 x 0.0002
    events = client.funding_payments(BTC)
    assert [(e.symbol, e.amount, e.rate, e.quantity) for e in events] == [
        (BTC, Decimal("-0.03"), Decimal("0.0001"), Decimal("0.01")),
        (BTC, Decimal("0.062"), Decimal("-0.0002"), Decimal("0.01")),
    ]
    assert events[0].ts == paid["time"] < events[1].ts and len({e.id for e in events}) == 2
    assert [e.amount for e in client.funding_payments(BTC, since=events[1].ts)] == [Decimal("0.062")]
    assert client.funding_payments(ETH) == []
    assert hl.balance() == 100000 - fee("300") - Decimal("0.03") + Decimal("0.062")


# -- the error policy ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("429", RateLimitError),
        ("500", ExchangeUnavailableError),
        ("502", ExchangeUnavailableError),
        ("503", ExchangeUnavailableError),
        ("504", RequestTimeoutError),
        ("timeout", RequestTimeoutError),
        ("malformed", RetryableError),
    ],
)
@pytest.mark.parametrize("target", ["clearinghouseState", "order"])
def test_transport_faults_are_retryable(client, hl, fault, error, target):
    client.markets()  # with it, ccxt's one-time setup (a 0% builder fee approval)
    hl.inject(target, fault, seconds=1)
    with pytest.raises(error) as caught:
        client.balances() if target == "clearinghouseState" else client.create_order(req())
    assert not caught.value.permanent and type(caught.value) is error


def test_exchange_refusals_are_permanent(client, hl):
    with pytest.raises(InsufficientFundsError, match=r"Insufficient margin to place order\. asset=0"):
        client.create_order(req(amount=Decimal("100")))  # 3M notional at 20x needs 150k of margin
    with pytest.raises(InvalidOrderError, match=r"Order must have minimum value of \$10"):
        client.create_order(req(amount=Decimal("0.0003")))
    with pytest.raises(OrderNotFoundError):
        client.fetch_order(symbol=BTC, client_order_id=cid(77))
    with pytest.raises(OrderNotFoundError):
        client.cancel_order(symbol=BTC, order_id="123")
    assert hl.balance() == 100000 and client.positions() == []


def test_reads_retry_through_rate_limits_and_5xx(hl, db):
    account = hyperliquid_account(hl)
    gw = gateway_for(account)
    hl.inject("clearinghouseState", "429")
    hl.inject("clearinghouseState", "502")
    hl.inject("clearinghouseState", "malformed")
    assert gw.balances()["USDC"].total == 100000
    assert hl.requests.count(("/info", "clearinghouseState")) == 4


def test_a_lost_answer_to_an_order_is_adopted_by_its_client_id_not_resent(hl, db):
    account = hyperliquid_account(hl)
    bot = BotFactory(organization=account.organization, exchange_account=account, mode="live", symbol=BTC,
                     market_type="perp", leverage=Decimal(5))  # fmt: skip
    gw = gateway_for(account)
    hl.inject("order", "timeout_after", seconds=1)
    first = order_place(account=account, bot=bot, symbol=BTC, side="buy", type="market", amount=Decimal("0.01"),
                        intent_key="k1", gateway=gw)  # fmt: skip
    hl.inject("order", "malformed")
    second = order_place(account=account, bot=bot, symbol=BTC, side="buy", type="market", amount=Decimal("0.01"),
                         intent_key="k2", gateway=gw)  # fmt: skip
    for order in (first, second):
        assert order.status == OrderStatus.FILLED and order.exchange_order_id
        assert Fill.objects.filter(order=order).count() == 1
    assert hl.requests.count(("/exchange", "order")) == 2 and len(hl.orders) == 2
    assert {o["order"]["cloid"] for o in hl.orders.values()} == {
        venues.to_venue_cid("hyperliquid", client_order_id_for(account_id=account.pk, bot_id=bot.pk, intent_key=k))
        for k in ("k1", "k2")
    }


def test_an_order_the_exchange_was_slow_to_show_is_settled_by_reconciliation(hl, db):
    account = hyperliquid_account(hl)
    bot = BotFactory(organization=account.organization, exchange_account=account, mode="live", symbol=BTC,
                     market_type="perp", leverage=Decimal(5))  # fmt: skip
    gw = gateway_for(account)
    # The answer to the placement is lost and the exchange does not show the fresh order to lookups yet.
    hl.inject("order", "timeout_after", seconds=1)
    hl.inject("orderStatus", "unknown_oid", times=10)
    order = order_place(account=account, bot=bot, symbol=BTC, side="buy", type="limit", amount=Decimal("0.01"),
                        price=Decimal("29000"), intent_key="slow", gateway=gw)  # fmt: skip
    assert order.status == OrderStatus.NEW and order.submitted_at is not None  # unknown, not rejected
    report = reconcile_account(account=account, gateway=gw, grace_seconds=120)  # it is among the open orders
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN and order.exchange_order_id and report.orders_missing == 0
    hl.set_mark("BTC", "28900")  # it fills while we are away
    reconcile_account(account=account, gateway=gw, grace_seconds=120)  # found in the order history
    order.refresh_from_db()
    assert (order.status, order.filled) == (OrderStatus.FILLED, Decimal("0.01"))
    [fill] = Fill.objects.filter(order=order)
    assert (fill.price, fill.is_maker, fill.fee) == (Decimal(29000), True, fee("290", MAKER))
    assert hl.requests.count(("/exchange", "order")) == 1


def test_public_reads_give_the_ticker_book_and_candles(client, hl):
    hl.set_mark("BTC", "30123")
    hours = [1_767_225_600_000 + 3_600_000 * i for i in range(3)]  # 2026-01-01, on the hour
    hl.set_candles("BTC", "1h", [(t, 30000 + i, 30100 + i, 29900 + i, 30050 + i, "1.5") for i, t in enumerate(hours)])
    ticker = client.ticker(BTC)
    assert (ticker.last, ticker.bid, ticker.ask) == (30123, 30122, 30124)
    book = client.order_book(BTC, limit=5)
    assert book.bids[0] == (Decimal(30122), Decimal(1)) and book.asks[0] == (Decimal(30124), Decimal(1))
    assert all(b[0] < 30123 < a[0] for b, a in zip(book.bids, book.asks, strict=True))
    candles = client.ohlcv(BTC, "1h", since=hours[1])
    assert [(c.ts, c.open, c.close, c.volume) for c in candles] == [
        (hours[i], 30000 + i, 30050 + i, Decimal("1.5")) for i in (1, 2)
    ]


# -- account verification ---------------------------------------------------------------------------------
def hyperliquid_account(server, *, private_key=None, **kw) -> ExchangeAccount:
    return ExchangeAccountFactory(
        exchange="hyperliquid",
        wallet_address=server.wallet_address,
        private_key=private_key or server.private_key,
        **({"status": "unverified"} | kw),
    )


def test_a_hyperliquid_account_verifies_by_reading_its_balance_and_positions(hl, db):
    client_for(hl).create_order(req())  # one open position
    account = hyperliquid_account(hl)
    account = exchange_account_verify(account=account)
    assert account.status == "active" and account.status_reason == "" and account.last_verified_at
    reads = [kind for path, kind in hl.requests if path == "/info"]
    assert reads.count("clearinghouseState") >= 2  # the balance, then the positions
    from bots.models import BotEvent

    event = BotEvent.objects.get(kind="exchange_account.verified", organization=account.organization)
    assert "1 asset(s), 1 open position(s)" in event.message


def test_an_unreachable_hyperliquid_fails_verification_with_the_reason(hl, db):
    account = hyperliquid_account(hl)
    hl.inject("clearinghouseState", "503", times=5)
    account = exchange_account_verify(account=account)
    assert account.status == "error" and account.status_reason.startswith("The exchange could not be reached")
    assert hl.private_key[2:] not in account.status_reason


def test_verification_refuses_a_private_key_that_does_not_sign_for_the_wallet(hl, db):
    account = exchange_account_verify(account=hyperliquid_account(hl, private_key=OTHER_KEY))
    assert account.status == "error"
    assert account.status_reason.startswith(
        "The exchange refused the credentials (check the wallet address and that the private key signs for it)"
    )
    assert OTHER_KEY not in account.status_reason


def test_a_liquidation_on_the_exchange_becomes_a_liquidation_fill_event_and_alert(
    hl, db, django_capture_on_commit_callbacks
):
    from alerts.models import Alert
    from bots.models import BotEvent, Position

    account = hyperliquid_account(hl, status="active")
    bot = BotFactory(organization=account.organization, exchange_account=account, mode="live", symbol=BTC,
                     market_type="perp", leverage=Decimal(20), status="running")  # fmt: skip
    gw = gateway_for(account)
    gw.set_leverage(BTC, leverage=Decimal(20), margin_mode="isolated")
    order_place(account=account, bot=bot, symbol=BTC, side="buy", type="market", amount=Decimal("0.01"),
                intent_key="entry", gateway=gw)  # fmt: skip
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal("0.01")

    price = hl.liquidate("BTC")
    [trade] = [t for t in gw.my_trades(BTC) if t.liquidation]
    assert (trade.side, trade.amount, trade.price, trade.client_order_id) == ("sell", Decimal("0.01"), price, None)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile_account(account=account, gateway=gw)

    fill = Fill.objects.get(bot=bot, liquidation=True)
    assert (fill.side, fill.amount, fill.price) == ("sell", Decimal("0.01"), price)
    assert fill.order.tag == "liquidation" and fill.order.reduce_only
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()
    event = BotEvent.objects.get(bot=bot, kind="position.liquidated")
    assert event.level == "critical"
    assert Alert.objects.filter(organization=account.organization, level="critical").exists()
