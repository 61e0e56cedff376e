"""The paper exchange: fills on real candles, fees, slippage, partial fills, balances, errors."""

from decimal import Decimal

import pytest

from exchanges.errors import DuplicateOrderError, InsufficientFundsError, InvalidOrderError, OrderNotFoundError
from exchanges.models import PaperBalance
from exchanges.types import OrderRequest


def req(cid, side="buy", type_="market", amount="0.1", price=None, symbol="BTC/USDT"):
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=type_,
        amount=Decimal(amount),
        price=None if price is None else Decimal(price),
        client_order_id=cid,
    )


def balance(paper, asset):
    b = PaperBalance.objects.get(account=paper.account, asset=asset)
    return b.free, b.locked


def test_a_market_buy_fills_at_the_next_open_plus_slippage_and_pays_the_fee(paper, btc_candles):
    next_open = btc_candles[121].open
    order = paper.create_order(req("m1"))
    expected_price = (next_open * Decimal("1.001")).quantize(Decimal("1e-18"))
    assert order.status == "filled" and order.filled == Decimal("0.1")
    assert order.average == expected_price
    fee = (expected_price * Decimal("0.1") * Decimal("0.001")).quantize(Decimal("1e-18"))
    assert order.fee == fee
    assert balance(paper, "USDT") == (Decimal("100000") - expected_price * Decimal("0.1") - fee, 0)
    assert balance(paper, "BTC") == (Decimal("1.1"), 0)
    [trade] = paper.my_trades("BTC/USDT")
    assert (trade.order_id, trade.amount, trade.price, trade.is_maker) == (
        order.id,
        Decimal("0.1"),
        expected_price,
        False,
    )


def test_a_limit_order_rests_reserves_funds_and_fills_when_a_candle_trades_through(paper, clock, btc_candles):
    # A buy limit below every price of the next hour rests; find a candle later that reaches it.
    later = btc_candles[121:400]
    target = min(c.low for c in later[:48])  # reached within four hours
    order = paper.create_order(req("l1", type_="limit", price=str(target), amount="0.2"))
    assert order.status == "open"
    reserve = (target * Decimal("0.2") * Decimal("1.001")).quantize(Decimal("1e-18"))
    assert balance(paper, "USDT") == (Decimal("100000") - reserve, reserve)
    clock.advance(5 * 60 * 60 * 1000)
    filled = paper.fetch_order(symbol="BTC/USDT", order_id=order.id)
    assert filled.status == "filled" and filled.average == target
    assert balance(paper, "BTC") == (Decimal("1.2"), 0)
    free, locked = balance(paper, "USDT")
    assert locked == 0
    assert free == Decimal("100000") - target * Decimal("0.2") - filled.fee
    assert all(t.is_maker for t in paper.my_trades("BTC/USDT"))


def test_thin_candles_give_partial_fills(paper, clock, btc_candles):
    paper.account.paper_participation = Decimal("0.0001")  # 0.01% of a candle's volume
    paper.account.save()
    price = btc_candles[121].high  # above the next price, reached within that candle
    assert price > btc_candles[121].open
    order = paper.create_order(req("p1", side="sell", type_="limit", price=str(price), amount="1"))
    assert order.status == "open"
    clock.advance(10 * 60 * 1000)
    seen = paper.fetch_order(symbol="BTC/USDT", client_order_id="p1")
    assert seen.status == "partially_filled"
    assert Decimal("0") < seen.filled < Decimal("1")
    assert len(paper.my_trades("BTC/USDT")) >= 1
    assert order.id == seen.id


def test_cancel_releases_the_reservation(paper):
    order = paper.create_order(req("c1", side="sell", type_="limit", price="999999", amount="0.5"))
    assert balance(paper, "BTC") == (Decimal("0.5"), Decimal("0.5"))
    canceled = paper.cancel_order(symbol="BTC/USDT", client_order_id="c1")
    assert canceled.status == "canceled"
    assert balance(paper, "BTC") == (Decimal("1"), 0)
    with pytest.raises(InvalidOrderError, match="only open orders"):
        paper.cancel_order(symbol="BTC/USDT", order_id=order.id)


def test_errors_match_a_real_exchange(paper):
    with pytest.raises(InsufficientFundsError, match="insufficient balance"):
        paper.create_order(req("x1", amount="100"))
    with pytest.raises(InvalidOrderError):
        paper.create_order(req("x2", amount="0"))
    with pytest.raises(InvalidOrderError, match="no market data"):
        paper.create_order(req("x3", symbol="DOGE/USDT"))
    with pytest.raises(OrderNotFoundError):
        paper.fetch_order(symbol="BTC/USDT", client_order_id="nope")
    paper.create_order(req("dup", side="sell", type_="limit", price="999999", amount="0.1"))
    with pytest.raises(DuplicateOrderError):
        paper.create_order(req("dup", side="sell", type_="limit", price="999999", amount="0.1"))
    # Nothing was half-written by the refused orders.
    assert balance(paper, "USDT") == (Decimal("100000"), 0)
    assert balance(paper, "BTC") == (Decimal("0.9"), Decimal("0.1"))


def test_open_orders_and_history(paper, clock):
    paper.create_order(req("o1", side="sell", type_="limit", price="999999", amount="0.1"))
    paper.create_order(req("o2"))
    assert [o.client_order_id for o in paper.open_orders()] == ["o1"]
    paper.create_order(req("o3", side="sell", type_="limit", price="999998", amount="0.1"))
    # A bot's sync names its own orders; the paper exchange reads only those.
    assert [o.client_order_id for o in paper.open_orders("BTC/USDT", client_order_ids=["o3", "o2"])] == ["o3"]
    assert [o.client_order_id for o in paper.open_orders("BTC/USDT", client_order_ids=[])] == []
    assert {o.client_order_id for o in paper.orders_since("BTC/USDT", 0)} == {"o1", "o2", "o3"}
