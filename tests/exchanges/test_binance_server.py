"""The loopback Binance server, driven by the real ccxt binance client only.

How ccxt 4.5.90 (`binance.handle_errors`, then `Exchange.handle_http_status_code`) maps what the server answers.
On loopback URLs ccxt skips its spot-only exception table (`exceptions["spot"]`, picked by the URL prefix
"https://api.binance.com/"); none of the codes below is in it, so real Binance maps them the same. (One that is:
-1131 "recvWindow must be less than 60000.", BadRequest on Binance, plain ExchangeError on loopback.)

    Binance answer                                               ccxt exception
    -----------------------------------------------------------  ------------------------------------------------
    400 -2010 "Account has insufficient balance for requested     InsufficientFunds (exact message)
        action."
    400 -2010 "Duplicate order sent."                            InvalidOrder (code -2010; NOT DuplicateOrderId)
    400 -2010 "Order would immediately match and take."          OrderImmediatelyFillable (exact message)
    400 -1013 "Filter failure: LOT_SIZE" / "...: PRICE_FILTER"   InvalidOrder (ccxt's legacy body checks)
    400 -1013 "Filter failure: NOTIONAL" / "...: MIN_NOTIONAL"   BadRequest (code -1013; NOT InvalidOrder)
    400 -2013 "Order does not exist."                            OrderNotFound
    400 -2011 "Unknown order sent."                              OrderNotFound
    401 -2015 "Invalid API-key, IP, or permissions for action."  AuthenticationError; DDoSProtection once the same
                                                                 client made one successful private call
    400 -1022 "Signature for this request is not valid."         AuthenticationError
    400 -1021 timestamp outside recvWindow / ahead               InvalidNonce
    400 -1121 "Invalid symbol."                                  BadSymbol
    400 -1120 "Invalid interval."                                BadRequest
    429 -1003 (Retry-After header)                               DDoSProtection (NOT RateLimitExceeded: binance's
                                                                 handle_errors raises it for 418 and 429 first)
    418 -1003 "Way too much request weight used; IP banned..."   DDoSProtection
    500, 502 (gateway HTML), 503 {"msg": "Service Unavailable."} ExchangeNotAvailable (HTTP status table)
    404 (a path the server does not serve)                       ExchangeNotAvailable
    fault "not_found" (-2013), "insufficient_funds" (-2010)      OrderNotFound, InsufficientFunds
    fault "invalid_order" (-1013 "Filter failure: LOT_SIZE")     InvalidOrder (BadRequest with msg=NOTIONAL...)
    fault "timeout"/"timeout_after", client timeout shorter      RequestTimeout
    connection closed without an answer, client still waiting   NetworkError (not RequestTimeout)

All of DDoSProtection, RateLimitExceeded, RequestTimeout and ExchangeNotAvailable are NetworkError subclasses;
RateLimitExceeded is not a DDoSProtection subclass in this ccxt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import ccxt
import pytest

from tests.exchanges.binance_server import BinanceServer, MarketSpec, make_ccxt_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    with BinanceServer() as srv:
        yield srv


@pytest.fixture
def ex(server):
    client = make_ccxt_client(server)
    client.load_markets()
    return client


@pytest.fixture
def fast_ex(server):
    """A client that gives up after 300 ms."""
    client = make_ccxt_client(server, timeout=300)
    client.load_markets()
    return client


def query_of(client) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(client.last_request_url).query).items()}


def raise_type(fn, *args, **kwargs) -> ccxt.BaseError:
    """The exception `fn` raises (fails if it returns)."""
    with pytest.raises(ccxt.BaseError) as info:
        fn(*args, **kwargs)
    return info.value


# -- markets and public data -------------------------------------------------------------------------------


@pytest.mark.parametrize("notional_filter", ["NOTIONAL", "MIN_NOTIONAL"])
def test_load_markets_calls_only_spot_exchange_info_and_parses_filters(notional_filter):
    markets = [MarketSpec("BTC", "USDT", notional_filter=notional_filter)]
    with BinanceServer(markets=markets, prices={"BTC/USDT": "30000"}) as server:
        ex = make_ccxt_client(server)
        loaded = ex.load_markets()
        assert server.requests == [("GET", "/api/v3/exchangeInfo")]
        assert all(url.startswith(server.base_url + "/") for url in ex.urls["api"].values())
        market = loaded["BTC/USDT"]
        assert (market["id"], market["spot"], market["active"], market["type"]) == ("BTCUSDT", True, True, "spot")
        assert market["precision"]["amount"] == 0.00001 and market["precision"]["price"] == 0.01
        assert market["limits"]["amount"] == {"min": 0.00001, "max": 9000.0}
        assert market["limits"]["price"] == {"min": 0.01, "max": 1000000.0}
        assert market["limits"]["cost"]["min"] == 5.0
        assert ex.amount_to_precision("BTC/USDT", 0.123456789) == "0.12345"
        assert ex.price_to_precision("BTC/USDT", 30000.126) == "30000.13"
        # Even an endpoint the server does not serve stays on loopback (and is a 404).
        assert type(raise_type(ex.sapi_get_system_status)) is ccxt.ExchangeNotAvailable


def test_ping_time_tickers_and_bad_symbol(server, ex):
    assert ex.public_get_ping() == {}
    assert abs(ex.fetch_time() - time.time() * 1000) < 5000
    server.set_price("BTCUSDT", Decimal("31000.5"))  # raw id or unified symbol
    ticker = ex.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 31000.5 and ticker["bid"] < 31000.5 < ticker["ask"]
    assert (ticker["open"], ticker["high"], ticker["low"]) == (30000.0, 31000.5, 30000.0)
    assert ex.public_get_ticker_price({"symbol": "BTCUSDT"}) == {"symbol": "BTCUSDT", "price": "31000.50000000"}
    assert type(raise_type(ex.public_get_ticker_24hr, {"symbol": "NOPEUSDT"})) is ccxt.BadSymbol


def test_order_book(ex):
    book = ex.fetch_order_book("BTC/USDT", 5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] == 29999.99 and book["asks"][0][0] == 30000.01
    assert book["bids"] == sorted(book["bids"], reverse=True) and book["asks"] == sorted(book["asks"])


def test_ohlcv_from_given_candles(server, ex):
    start = 1_700_000_040_000
    rows = [(start + i * 60_000, 100 + i, 101 + i, 99 + i, Decimal("100.5") + i, 10) for i in range(10)]
    server.set_candles("BTC/USDT", "1m", rows)
    candles = ex.fetch_ohlcv("BTC/USDT", "1m", since=start + 3 * 60_000, limit=4)
    assert [c[0] for c in candles] == [start + i * 60_000 for i in range(3, 7)]
    assert candles[0][1:] == [103.0, 104.0, 102.0, 103.5, 10.0]
    assert [c[0] for c in ex.fetch_ohlcv("BTC/USDT", "1m", limit=2)] == [start + 8 * 60_000, start + 9 * 60_000]
    assert ex.fetch_ohlcv("BTC/USDT", "5m") == []
    assert type(raise_type(ex.fetch_ohlcv, "BTC/USDT", "7m")) is ccxt.BadRequest


# -- orders, balances, trades ----------------------------------------------------------------------------


def test_balance(ex):
    usdt = ex.fetch_balance()["USDT"]
    assert (usdt["free"], usdt["used"], usdt["total"]) == (100000.0, 0.0, 100000.0)


def test_market_buy_fills_at_last_price_with_quote_commission(server, ex):
    order = ex.create_order("BTC/USDT", "market", "buy", 0.1, params={"newClientOrderId": "mkt-1"})
    assert order["clientOrderId"] == "mkt-1" and order["id"] == "1000001"
    assert (order["status"], order["filled"], order["average"], order["cost"]) == ("closed", 0.1, 30000.0, 3000.0)
    assert len(order["trades"]) == 1 and order["fee"] == {"cost": 3.0, "currency": "USDT"}
    assert server.balance("USDT") == (Decimal("96997"), 0) and server.balance("BTC") == (Decimal("1.1"), 0)
    balance = ex.fetch_balance()
    assert balance["USDT"]["free"] == 96997.0 and balance["BTC"]["free"] == 1.1
    assert server.orders[1000001]["status"] == "FILLED"
    assert server.trades[0]["commission"] == "3.00000000" and server.trades[0]["commissionAsset"] == "USDT"


def test_market_order_in_several_trades_and_generated_client_id(server, ex):
    server.market_fill_parts = 3
    order = ex.create_order("ETH/USDT", "market", "sell", 1)
    assert order["clientOrderId"].startswith("x-TKT5PX2F")  # ccxt's broker prefix when none is given
    assert [t["amount"] for t in order["trades"]] == [0.3333, 0.3333, 0.3334] and order["status"] == "closed"
    trades = ex.fetch_my_trades("ETH/USDT")
    assert [t["order"] for t in trades] == [order["id"]] * 3 and {t["side"] for t in trades} == {"sell"}
    assert server.balance("ETH")[0] == Decimal("9") and server.balance("USDT")[0] == Decimal("101998")


def test_market_buy_with_cost_uses_quote_order_qty(ex):
    order = ex.create_market_buy_order_with_cost("BTC/USDT", 300)
    assert "quoteOrderQty" in ex.last_request_body
    assert order["filled"] == 0.01 and order["cost"] == 300.0


def test_limit_order_rests_locks_funds_and_fills_when_price_crosses(server, ex):
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000, params={"clientOrderId": "lim-1"})
    assert (order["status"], order["filled"], order["price"], order["clientOrderId"]) == ("open", 0.0, 29000.0, "lim-1")
    usdt = ex.fetch_balance()["USDT"]
    assert (usdt["free"], usdt["used"]) == (97100.0, 2900.0)
    assert [o["id"] for o in ex.fetch_open_orders("BTC/USDT")] == [order["id"]]
    server.set_price("BTC/USDT", "29500")
    assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    server.set_price("BTC/USDT", "28900")
    filled = ex.fetch_order(order["id"], "BTC/USDT")
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.1, 29000.0)
    assert ex.fetch_open_orders("BTC/USDT") == []
    assert server.balance("USDT") == (Decimal("97097.1"), 0) and server.balance("BTC") == (Decimal("1.1"), 0)
    assert ex.fetch_my_trades("BTC/USDT")[0]["takerOrMaker"] == "maker"


def test_marketable_limit_fills_at_once_and_post_only_is_refused(ex):
    order = ex.create_order("BTC/USDT", "limit", "sell", 0.1, 29000)
    assert (order["status"], order["average"]) == ("closed", 30000.0)
    assert ex.fetch_my_trades("BTC/USDT")[0]["takerOrMaker"] == "taker"
    error = raise_type(ex.create_order, "BTC/USDT", "limit", "buy", 0.1, 31000, {"postOnly": True})
    assert type(error) is ccxt.OrderImmediatelyFillable


def test_partial_fills(server, ex):
    order = ex.create_order("BTC/USDT", "limit", "sell", 0.5, 31000, params={"newClientOrderId": "part-1"})
    server.fill("part-1", Decimal("0.2"))
    partial = ex.fetch_order(order["id"], "BTC/USDT")
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 0.2, 0.3)
    assert partial["info"]["status"] == "PARTIALLY_FILLED"
    btc = ex.fetch_balance()["BTC"]
    assert (btc["free"], btc["used"]) == (0.5, 0.3)
    server.fill(int(order["id"]))  # the rest
    done = ex.fetch_order(order["id"], "BTC/USDT")
    assert (done["status"], done["filled"], done["info"]["status"]) == ("closed", 0.5, "FILLED")
    trades = ex.fetch_my_trades("BTC/USDT", since=order["timestamp"])
    assert [(t["amount"], t["cost"], t["fee"]["cost"], t["takerOrMaker"]) for t in trades] == [
        (0.2, 6200.0, 6.2, "maker"),
        (0.3, 9300.0, 9.3, "maker"),
    ]
    assert server.balance("USDT") == (Decimal("115484.5"), 0) and server.balance("BTC") == (Decimal("0.5"), 0)
    with pytest.raises(ValueError):
        server.fill("part-1")


def test_fetch_order_by_id_and_by_client_id(ex):
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000, params={"clientOrderId": "cid-7"})
    assert ex.fetch_order(order["id"], "BTC/USDT")["clientOrderId"] == "cid-7"
    assert query_of(ex)["orderId"] == order["id"]
    for key in ("origClientOrderId", "clientOrderId"):  # ccxt sends both as origClientOrderId
        assert ex.fetch_order(None, "BTC/USDT", params={key: "cid-7"})["id"] == order["id"]
        sent = query_of(ex)
        assert sent["origClientOrderId"] == "cid-7" and "orderId" not in sent and "clientOrderId" not in sent


def test_cancel_order_by_id_and_by_client_id(server, ex):
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000, params={"clientOrderId": "c-1"})
    canceled = ex.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled" and canceled["id"] == order["id"]
    # Like Binance: the answer's clientOrderId is the cancel request's own id.
    assert canceled["info"]["origClientOrderId"] == "c-1" and canceled["clientOrderId"] != "c-1"
    assert server.balance("USDT") == (Decimal("100000"), 0)
    assert type(raise_type(ex.cancel_order, order["id"], "BTC/USDT")) is ccxt.OrderNotFound  # already canceled
    other = ex.create_order("BTC/USDT", "limit", "sell", 0.2, 32000, params={"clientOrderId": "c-2"})
    assert ex.cancel_order(None, "BTC/USDT", params={"clientOrderId": "c-2"})["id"] == other["id"]
    assert query_of(ex)["origClientOrderId"] == "c-2"
    assert ex.fetch_order(other["id"], "BTC/USDT")["status"] == "canceled"
    assert server.balance("BTC") == (Decimal("1"), 0)


def test_open_orders_of_all_symbols_and_all_orders(server):
    ex = make_ccxt_client(server, fetchOpenOrders={"warnWithoutSymbol": False})
    ex.load_markets()
    a = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000)
    b = ex.create_order("ETH/USDT", "limit", "sell", 1, 2100)
    ex.create_order("ETH/USDT", "market", "buy", 1)
    assert [o["id"] for o in ex.fetch_open_orders()] == [a["id"], b["id"]]
    assert [o["id"] for o in ex.fetch_open_orders("ETH/USDT")] == [b["id"]]
    assert [o["status"] for o in ex.fetch_orders("ETH/USDT", since=a["timestamp"])] == ["open", "closed"]


def test_my_trades_since_from_id_and_limit(ex):
    first = ex.create_order("BTC/USDT", "market", "buy", 0.01)
    time.sleep(0.005)
    second = ex.create_order("BTC/USDT", "market", "buy", 0.02)
    assert [t["order"] for t in ex.fetch_my_trades("BTC/USDT")] == [first["id"], second["id"]]
    assert [t["order"] for t in ex.fetch_my_trades("BTC/USDT", since=second["timestamp"])] == [second["id"]]
    assert query_of(ex)["startTime"] == str(second["timestamp"])
    trade_ids = [t["id"] for t in ex.fetch_my_trades("BTC/USDT")]
    assert [t["id"] for t in ex.fetch_my_trades("BTC/USDT", params={"fromId": trade_ids[1]})] == trade_ids[1:]
    assert [t["id"] for t in ex.fetch_my_trades("BTC/USDT", limit=1)] == trade_ids[-1:]
    raw = ex.private_get_mytrades({"symbol": "BTCUSDT"})[0]
    assert set(raw) >= {
        "id",
        "orderId",
        "price",
        "qty",
        "quoteQty",
        "commission",
        "commissionAsset",
        "time",
        "isBuyer",
        "isMaker",
    }


def test_duplicate_client_id_is_refused_while_open_and_accepted_once_done(ex):
    first = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000, params={"clientOrderId": "dup-1"})
    error = raise_type(ex.create_order, "BTC/USDT", "limit", "buy", 0.1, 29000, {"clientOrderId": "dup-1"})
    assert type(error) is ccxt.InvalidOrder and "Duplicate order sent." in str(error)
    ex.cancel_order(first["id"], "BTC/USDT")
    second = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000, params={"clientOrderId": "dup-1"})
    assert second["id"] != first["id"]
    assert ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "dup-1"})["id"] == second["id"]
    filled = [ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "dup-2"}) for _ in "ab"]
    assert filled[0]["id"] != filled[1]["id"]


# -- errors ----------------------------------------------------------------------------------------------


def test_insufficient_balance(server, ex):
    assert type(raise_type(ex.create_order, "BTC/USDT", "market", "buy", 5)) is ccxt.InsufficientFunds
    assert type(raise_type(ex.create_order, "BTC/USDT", "limit", "sell", 2, 40000)) is ccxt.InsufficientFunds
    assert server.orders == {}


@pytest.mark.parametrize(
    ("quantity", "price", "message", "exc"),
    [
        ("0.000001", "29000", "Filter failure: LOT_SIZE", ccxt.InvalidOrder),  # below minQty
        ("0.000015", "29000", "Filter failure: LOT_SIZE", ccxt.InvalidOrder),  # not a multiple of stepSize
        ("0.1", "29000.005", "Filter failure: PRICE_FILTER", ccxt.InvalidOrder),  # off tick
        ("0.0001", "29000", "Filter failure: NOTIONAL", ccxt.BadRequest),  # 2.9 USDT < 5
    ],
)
def test_filter_failures(server, ex, quantity, price, message, exc):
    # Raw call: ccxt's create_order would round amount and price to precision first.
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": quantity,
        "price": price,
    }
    error = raise_type(ex.private_post_order, params)
    assert type(error) is exc and f'{{"code":-1013,"msg":"{message}"}}' in str(error)
    assert server.orders == {}


def test_min_notional_filter_failure_via_create_order():
    markets = [MarketSpec("BTC", "USDT", notional_filter="MIN_NOTIONAL")]
    with BinanceServer(markets=markets, prices={"BTC/USDT": "30000"}) as server:
        ex = make_ccxt_client(server)
        error = raise_type(ex.create_order, "BTC/USDT", "limit", "buy", 0.0001, 29000)
        assert type(error) is ccxt.BadRequest and "Filter failure: MIN_NOTIONAL" in str(error)


def test_unknown_orders(ex):
    error = raise_type(ex.fetch_order, "42", "BTC/USDT")
    assert type(error) is ccxt.OrderNotFound and '"code":-2013' in str(error)
    error = raise_type(ex.cancel_order, "42", "BTC/USDT")
    assert type(error) is ccxt.OrderNotFound and '"code":-2011,"msg":"Unknown order sent."' in str(error)


def test_authentication_errors(server, ex):
    wrong_secret = make_ccxt_client(server, secret="not-the-secret")
    assert wrong_secret.fetch_ticker("BTC/USDT")["last"] == 30000.0  # public calls are not signed
    error = raise_type(wrong_secret.fetch_balance)
    assert type(error) is ccxt.AuthenticationError and '"code":-1022' in str(error)
    error = raise_type(make_ccxt_client(server, api_key="not-the-key").fetch_balance)
    assert type(error) is ccxt.AuthenticationError and '"code":-2015' in str(error)
    ex.fetch_balance()  # after one success, ccxt reads -2015 as a temporary ban
    ex.apiKey = "not-the-key"
    assert type(raise_type(ex.fetch_balance)) is ccxt.DDoSProtection


@pytest.mark.parametrize("time_difference", [20_000, -5_000])  # outside recvWindow (10 s), ahead of the server
def test_timestamp_outside_recv_window(ex, time_difference):
    ex.options["timeDifference"] = time_difference
    error = raise_type(ex.fetch_balance)
    assert type(error) is ccxt.InvalidNonce and '"code":-1021' in str(error)


# -- faults ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "exc"),
    [
        ("429", ccxt.DDoSProtection),
        ("418", ccxt.DDoSProtection),
        ("500", ccxt.ExchangeNotAvailable),
        ("502", ccxt.ExchangeNotAvailable),
        ("503", ccxt.ExchangeNotAvailable),
    ],
)
def test_http_faults(server, ex, fault, exc):
    server.inject("GET /api/v3/account", fault)
    error = raise_type(ex.fetch_balance)
    assert type(error) is exc
    if fault in ("429", "418"):
        assert '"code":-1003' in str(error) and int(ex.last_response_headers["Retry-After"]) > 0
    if fault == "503":
        assert "Service Unavailable." in str(error)
    ex.fetch_balance()  # times=1: gone


def test_timeout_answers_nothing_and_creates_nothing(server, fast_ex):
    server.inject("POST /api/v3/order", "timeout", seconds=1)
    started = time.monotonic()
    assert type(raise_type(fast_ex.create_order, "BTC/USDT", "market", "buy", 0.01)) is ccxt.RequestTimeout
    assert time.monotonic() - started < 0.9
    assert server.orders == {}


def test_timeout_after_creates_the_order_but_loses_the_answer(server, fast_ex):
    server.inject("POST /api/v3/order", "timeout_after", seconds=1)
    error = raise_type(fast_ex.create_order, "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "ta-1"})
    assert type(error) is ccxt.RequestTimeout
    found = fast_ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "ta-1"})
    assert found["status"] == "closed" and len(server.orders) == 1  # created once: requests did not retry


def test_connection_closed_without_answer_is_a_network_error(server, ex):
    server.inject("GET /api/v3/account", "timeout", seconds=0.05)
    error = raise_type(ex.fetch_balance)
    assert isinstance(error, ccxt.NetworkError) and not isinstance(error, ccxt.RequestTimeout)


def test_not_found_for_a_fresh_order(server, ex):
    order = ex.create_order("BTC/USDT", "market", "buy", 0.01)
    server.inject("GET /api/v3/order", "not_found", times=2)
    for _ in range(2):
        assert type(raise_type(ex.fetch_order, order["id"], "BTC/USDT")) is ccxt.OrderNotFound
    assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"


def test_forced_order_errors(server, ex):
    server.inject("POST /api/v3/order", "insufficient_funds")
    server.inject("/api/v3/order", "invalid_order")
    server.inject("POST /api/v3/order", "invalid_order", msg="Filter failure: NOTIONAL")
    assert type(raise_type(ex.create_order, "BTC/USDT", "market", "buy", 0.01)) is ccxt.InsufficientFunds
    assert type(raise_type(ex.create_order, "BTC/USDT", "market", "buy", 0.01)) is ccxt.InvalidOrder
    assert type(raise_type(ex.create_order, "BTC/USDT", "market", "buy", 0.01)) is ccxt.BadRequest
    ex.create_order("BTC/USDT", "market", "buy", 0.01)
    assert len(server.orders) == 1


def test_duplicate_and_shuffled_trades(server, ex):
    for amount in (0.01, 0.02, 0.03):
        ex.create_order("BTC/USDT", "market", "buy", amount)
        time.sleep(0.003)
    server.inject("GET /api/v3/myTrades", "duplicate_trades")
    ids = [t["id"] for t in ex.fetch_my_trades("BTC/USDT")]
    assert len(ids) == 4 and len(set(ids)) == 3
    # ccxt sorts parsed trades by time, so a shuffled answer shows only in the raw response.
    server.inject("GET /api/v3/myTrades", "shuffle_trades")
    times = [t["time"] for t in ex.private_get_mytrades({"symbol": "BTCUSDT"})]
    assert times == sorted(times, reverse=True) and times[0] > times[-1]
    times = [t["time"] for t in ex.private_get_mytrades({"symbol": "BTCUSDT"})]
    assert times == sorted(times)


def test_faults_fire_in_order_and_expire(server, ex):
    server.inject("GET /api/v3/openOrders", "429")  # another path: never fires here
    server.inject("GET /api/v3/account", "503")
    server.inject("/api/v3/account", "429", times=2)
    server.inject("*", "500")
    kinds = [type(raise_type(ex.fetch_balance)) for _ in range(4)]
    assert kinds == [ccxt.ExchangeNotAvailable, ccxt.DDoSProtection, ccxt.DDoSProtection, ccxt.ExchangeNotAvailable]
    ex.fetch_balance()
    assert server.requests[-5:] == [("GET", "/api/v3/account")] * 5
    with pytest.raises(ValueError):
        server.inject("GET /api/v3/myTrades", "not_found")
    with pytest.raises(ValueError):
        server.inject("GET /api/v3/order", "slow")


# -- hooks, robustness, reset --------------------------------------------------------------------------------


def test_on_order_created_runs_after_storing_and_before_answering(server, ex):
    entered, release, seen, result = threading.Event(), threading.Event(), [], {}

    def hook(order):
        seen.append((order, order["orderId"] in server.orders))
        entered.set()
        release.wait(5)

    server.on_order_created = hook
    client = threading.Thread(target=lambda: result.update(ex.create_order("BTC/USDT", "market", "buy", 0.01)))
    client.start()
    assert entered.wait(5)
    time.sleep(0.05)
    assert client.is_alive() and not result  # no answer yet
    release.set()
    client.join(5)
    assert result["status"] == "closed" and seen[0][1] and seen[0][0]["status"] == "FILLED"
    assert seen[0][0]["clientOrderId"] == result["clientOrderId"]


def test_failing_hook_and_vanished_client_do_not_stop_the_server(server, fast_ex):
    server.on_order_created = lambda order: 1 / 0
    assert fast_ex.create_order("BTC/USDT", "market", "buy", 0.01)["status"] == "closed"
    server.on_order_created = lambda order: time.sleep(0.6)  # the client gives up meanwhile
    error = raise_type(fast_ex.create_order, "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "gone"})
    assert type(error) is ccxt.RequestTimeout
    time.sleep(0.7)  # the server answers into a closed connection
    server.on_order_created = None
    assert fast_ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "gone"})["status"] == "closed"


def test_sigkilled_client_leaves_its_order_and_the_server_running(server):
    script = textwrap.dedent(
        """
        import sys, types
        from tests.exchanges.binance_server import make_ccxt_client
        server = types.SimpleNamespace(base_url=sys.argv[1], api_key=sys.argv[2], api_secret=sys.argv[3])
        ex = make_ccxt_client(server)
        ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "killed-1"})
        print("answered")
        """
    )
    procs: list[subprocess.Popen] = []
    server.on_order_created = lambda order: os.kill(procs[0].pid, signal.SIGKILL)
    cmd = [sys.executable, "-c", script, server.base_url, server.api_key, server.api_secret]
    procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    out, err = procs[0].communicate(timeout=30)
    assert procs[0].returncode == -signal.SIGKILL, err.decode()
    assert b"answered" not in out
    server.on_order_created = None
    ex = make_ccxt_client(server)
    assert ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "killed-1"})["status"] == "closed"


def test_concurrent_clients(server):
    def trade(n: int) -> None:
        client = make_ccxt_client(server)
        for i in range(5):
            client.create_order("ETH/USDT", "market", "buy", 0.01, params={"clientOrderId": f"w{n}-{i}"})

    threads = [threading.Thread(target=trade, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(server.orders) == 40 and len({o["clientOrderId"] for o in server.orders.values()}) == 40
    assert server.balance("ETH") == (Decimal("10.4"), 0)
    assert server.balance("USDT") == (Decimal("100000") - Decimal("0.4") * 2000 * Decimal("1.001"), 0)


def test_reset(server, ex):
    ex.create_order("BTC/USDT", "limit", "buy", 0.1, 29000)
    server.set_price("BTC/USDT", "35000")
    server.inject("*", "500")
    server.on_order_created = print
    server.reset()
    assert server.orders == {} and server.trades == [] and server.requests == []
    assert server.on_order_created is None
    assert server.balance("USDT") == (Decimal("100000"), 0)
    assert ex.fetch_ticker("BTC/USDT")["last"] == 30000.0  # no 500 either
