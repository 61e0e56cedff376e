"""Perpetuals on the paper exchange, every figure recomputed here by hand from the real candles:
margin, shorts, reduce-only, margin checks, trigger stops, funding and liquidation."""

from decimal import ROUND_DOWN, Decimal

import pytest

from exchanges.errors import InsufficientFundsError, InvalidOrderError
from exchanges.models import PaperBalance, PaperFunding, PaperOrder, PaperPosition
from exchanges.types import OrderRequest

PERP = "BTC/USDT:USDT"
SLIP = Decimal("0.001")  # the fixture account's paper_slippage
FEE = Decimal("0.001")
MMR = Decimal(1) / Decimal(100)  # 1 / (2 x paper_max_leverage 50)
HOUR = 3_600_000


def q(x: Decimal) -> Decimal:
    return x.quantize(Decimal("1e-18"), rounding=ROUND_DOWN)


def req(cid, side="buy", amount="0.1", type_="market", price=None, **kw):
    return OrderRequest(
        symbol=PERP,
        side=side,
        type=type_,
        amount=Decimal(amount),
        price=None if price is None else Decimal(price),
        client_order_id=cid,
        **kw,
    )


def usdt(paper):
    b = PaperBalance.objects.get(account=paper.account, asset="USDT")
    return b.free, b.locked


def candle_index(candles, ts):
    return next(i for i, c in enumerate(candles) if c.ts >= ts)


@pytest.fixture
def start(btc_candles):
    return 121  # the candle after the fixture clock's


def test_the_perpetual_market_is_listed_with_its_settle_currency(paper):
    market = paper.markets()[PERP]
    assert (market.type, market.settle, market.max_leverage) == ("swap", "USDT", Decimal(50))
    assert paper.markets()["BTC/USDT"].type == "spot"


def test_a_leveraged_long_posts_initial_margin_and_reports_its_liquidation_price(paper, btc_candles, start):
    paper.set_leverage(PERP, leverage=Decimal(5), margin_mode="isolated")
    order = paper.create_order(req("l1", amount="0.5"))
    price = q(btc_candles[start].open * (1 + SLIP))
    margin = q(Decimal("0.5") * price / 5)
    fee = q(price * Decimal("0.5") * FEE)
    assert order.average == price and order.fee == fee
    assert usdt(paper) == (Decimal(100000) - margin - fee, margin)
    assert PaperBalance.objects.get(account=paper.account, asset="BTC").free == 1  # no base moves
    [pos] = paper.positions()
    assert (pos.quantity, pos.entry_price, pos.leverage, pos.margin_mode, pos.margin_used) == (
        Decimal("0.5"),
        price,
        Decimal(5),
        "isolated",
        margin,
    )
    liquidation = (Decimal("0.5") * price - margin) / (Decimal("0.5") * (1 - MMR))
    assert pos.liquidation_price == q(liquidation)
    mark = btc_candles[start - 2].close  # the last candle closed at the clock (it is inside 120)
    assert pos.mark_price == mark and pos.unrealized_pnl == q(Decimal("0.5") * (mark - price))


def test_a_short_is_a_sell_from_flat_and_a_reduce_only_buy_closes_it(paper, clock, btc_candles, start):
    paper.set_leverage(PERP, leverage=Decimal(10), margin_mode="isolated")
    paper.create_order(req("s1", side="sell", amount="1"))
    sell = q(btc_candles[start].open * (1 - SLIP))
    [pos] = paper.positions()
    assert pos.quantity == -1 and pos.side == "short"
    assert pos.liquidation_price == q((sell + sell / 10) / (1 + MMR))
    clock.advance(60 * 60 * 1000)
    j = candle_index(btc_candles, clock.now_ms())
    paper.create_order(req("c1", side="buy", amount="1", reduce_only=True))
    buy = q(btc_candles[j].open * (1 + SLIP))
    fees = q(sell * FEE) + q(buy * FEE)
    free, locked = usdt(paper)
    assert locked == 0
    assert free == Decimal(100000) + q(sell - buy) - fees
    assert paper.positions() == []
    assert PaperPosition.objects.get(account=paper.account).realized_pnl == q(sell - buy)


def test_reduce_only_never_opens_or_grows_a_position(paper):
    with pytest.raises(InvalidOrderError, match="Reduce-only order rejected"):
        paper.create_order(req("r1", reduce_only=True))
    paper.create_order(req("o1", amount="0.1"))
    with pytest.raises(InvalidOrderError, match="would open or increase"):
        paper.create_order(req("r2", amount="0.1", reduce_only=True))
    with pytest.raises(InvalidOrderError, match="more than the position"):
        paper.create_order(req("r3", side="sell", amount="0.2", reduce_only=True))
    assert PaperOrder.objects.filter(client_order_id__startswith="r").count() == 0
    [pos] = paper.positions()
    assert pos.quantity == Decimal("0.1")


def test_an_order_the_margin_cannot_cover_is_refused_and_leaves_nothing(paper, btc_candles):
    paper.set_leverage(PERP, leverage=Decimal(2), margin_mode="isolated")
    before = usdt(paper)
    with pytest.raises(InsufficientFundsError, match="Margin is insufficient"):
        paper.create_order(req("big", amount="10"))  # ~ 5 x 56k notional / 2 > 100k
    assert usdt(paper) == before
    assert not PaperOrder.objects.filter(client_order_id="big").exists()
    assert paper.positions() == []


def test_leverage_is_bounded_and_fixed_while_a_position_is_open(paper):
    with pytest.raises(InvalidOrderError, match="from 1x to 50x"):
        paper.set_leverage(PERP, leverage=Decimal(60), margin_mode="isolated")
    with pytest.raises(InvalidOrderError, match="isolated or cross"):
        paper.set_leverage(PERP, leverage=Decimal(3), margin_mode="hedged")
    with pytest.raises(InvalidOrderError, match="not a perpetual"):
        paper.set_leverage("BTC/USDT", leverage=Decimal(3), margin_mode="cross")
    paper.set_leverage(PERP, leverage=Decimal(3), margin_mode="cross")
    paper.create_order(req("o1"))
    paper.set_leverage(PERP, leverage=Decimal(3), margin_mode="cross")  # unchanged: fine
    with pytest.raises(InvalidOrderError, match="while a position is open"):
        paper.set_leverage(PERP, leverage=Decimal(4), margin_mode="cross")


def test_funding_is_paid_at_each_funding_time_on_the_close_then(paper, clock, btc_candles):
    paper.account.paper_funding_rate = Decimal("0.0003")
    paper.account.save()
    paper.set_leverage(PERP, leverage=Decimal(5), margin_mode="cross")
    paper.create_order(req("f1", amount="0.4"))
    opened = clock.now_ms()
    clock.advance(20 * HOUR)
    payments = paper.funding_payments(PERP)
    step = 8 * HOUR
    times = list(range((opened // step + 1) * step, clock.now_ms() - 5 * 60_000 + 1, step))
    assert [p.ts for p in payments] == times and len(times) >= 2
    for p in payments:
        close = next(c.close for c in btc_candles if c.ts + 5 * 60_000 == p.ts)
        assert p.amount == q(-Decimal("0.4") * close * Decimal("0.0003"))
        assert (p.rate, p.quantity, p.mark_price) == (Decimal("0.0003"), Decimal("0.4"), close)
    assert PaperPosition.objects.get(account=paper.account).funding == sum(p.amount for p in payments)
    # Asking again neither pays twice nor loses a payment.
    assert [p.id for p in paper.funding_payments(PERP)] == [p.id for p in payments]
    assert PaperFunding.objects.count() == len(times)


def test_a_stored_funding_series_is_used_where_it_covers(paper, clock):
    import datetime as dt

    from exchanges.models import FundingRate

    opened = clock.now_ms()
    first = (opened // (8 * HOUR) + 1) * 8 * HOUR
    FundingRate.objects.create(
        exchange="binance", symbol=PERP, ts=dt.datetime.fromtimestamp(first / 1000, tz=dt.UTC), rate=Decimal("-0.001")
    )
    paper.create_order(req("f1", amount="0.4"))
    clock.advance(9 * HOUR)
    [payment] = paper.funding_payments(PERP)
    assert payment.rate == Decimal("-0.001") and payment.amount > 0  # shorts pay longs


def test_a_stop_loss_rests_on_the_exchange_and_fires_when_the_low_reaches_it(paper, clock, btc_candles, start):
    paper.create_order(req("e1", amount="0.3"))
    entry = q(btc_candles[start].open * (1 + SLIP))
    later = btc_candles[start + 1 : start + 600]
    trigger = min(c.low for c in later[:200]) + 1  # reached within those candles
    stop = paper.create_order(req("sl1", side="sell", amount="0.3", trigger_price=trigger, trigger_kind="sl"))
    assert stop.status == "open"
    hit = next(c for c in later if c.low <= trigger)
    clock.advance(hit.ts + 10 * 60_000 - clock.now_ms())
    fired = paper.fetch_order(symbol=PERP, client_order_id="sl1")
    assert fired.status == "filled"
    assert fired.average == q(trigger * (1 - SLIP))
    assert paper.positions() == []
    assert PaperPosition.objects.get(account=paper.account).realized_pnl == q(Decimal("0.3") * (fired.average - entry))


def test_a_liquidation_closes_the_position_at_its_price_and_the_margin_is_lost(paper, clock, btc_candles, start):
    paper.set_leverage(PERP, leverage=Decimal(50), margin_mode="isolated")
    paper.create_order(req("x1", amount="1"))
    entry = q(btc_candles[start].open * (1 + SLIP))
    margin = q(entry / 50)
    fee = q(entry * FEE)
    liquidation = q((entry - margin) / (1 - MMR))
    hit = next(c for c in btc_candles[start + 1 :] if c.low <= liquidation)
    clock.advance(hit.ts + 10 * 60_000 - clock.now_ms())
    assert paper.positions() == []
    [trade] = [t for t in paper.my_trades(PERP) if t.liquidation]
    assert (trade.side, trade.price, trade.amount, trade.ts) == ("sell", liquidation, 1, hit.ts + 5 * 60_000)
    free, locked = usdt(paper)
    assert locked == 0
    # Funding may have been paid out of the margin before; what is left of it is lost all the same.
    assert abs(free - (Decimal(100000) - margin - fee)) < Decimal("0.000001")
    assert trade.client_order_id.startswith("liq-")
