"""Order placement, fills and positions through the paper exchange (same code path as live)."""

from decimal import Decimal

import pytest

from bots.models import BotEvent, Fill, Order, OrderStatus, Position
from bots.orders import bot_id_from_client_order_id, client_order_id_for, fills_record, order_apply, order_place
from bots.positions import position_rebuild
from exchanges.gateway import Gateway
from exchanges.models import PaperOrder
from exchanges.types import ExchangeOrder, ExchangeTrade
from tests.factories import BotFactory


@pytest.fixture
def bot(paper):
    return BotFactory(organization=paper.account.organization, exchange_account=paper.account)


@pytest.fixture
def gw(paper):
    return Gateway(paper.account, paper)


def place(bot, gw, **kw):
    args = {
        "account": bot.exchange_account,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": Decimal("0.1"),
        "bot": bot,
        "gateway": gw,
    }
    return order_place(**(args | kw))


def test_a_market_order_is_saved_sent_filled_and_positioned(bot, gw):
    order = place(bot, gw, intent_key="tick-1:0")
    assert order.status == OrderStatus.FILLED
    assert order.exchange_order_id and order.submitted_at
    fill = Fill.objects.get(order=order)
    assert fill.amount == Decimal("0.1") and fill.bot == bot
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    assert position.quantity == Decimal("0.1")
    assert position.average_entry_price == fill.price


def test_the_same_intent_never_makes_a_second_order(bot, gw):
    first = place(bot, gw, intent_key="tick-7:0")
    again = place(bot, gw, intent_key="tick-7:0")
    assert again.pk == first.pk
    assert PaperOrder.objects.filter(account=bot.exchange_account).count() == 1
    assert Order.objects.count() == 1


def test_client_ids_are_short_deterministic_and_name_the_bot(bot):
    cid = client_order_id_for(account_id=1, bot_id=bot.pk, intent_key="k")
    assert cid == client_order_id_for(account_id=1, bot_id=bot.pk, intent_key="k")
    assert len(cid) <= 36 and cid.isalnum()
    assert bot_id_from_client_order_id(cid) == bot.pk
    assert bot_id_from_client_order_id("web_123") is None


def test_an_exchange_refusal_rejects_with_its_reason(bot, gw):
    order = place(bot, gw, amount=Decimal("1000"))
    assert order.status == OrderStatus.REJECTED
    assert "insufficient balance" in order.reason
    assert BotEvent.objects.filter(bot=bot, kind="order.rejected").exists()
    assert not Fill.objects.exists()


def test_bad_input_names_the_field_and_writes_nothing(bot, gw):
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        place(bot, gw, type="limit", price=None)
    assert caught.value.field == "price"
    with pytest.raises(ApplicationError) as caught:
        place(bot, gw, amount=Decimal("-1"))
    assert caught.value.field == "amount"
    assert not Order.objects.exists()


def test_fills_reported_twice_and_out_of_order_are_stored_once_and_sum_to_the_position(bot, gw):
    order = place(bot, gw, type="limit", price=Decimal("1"), amount=Decimal("3"))  # rests far below
    assert order.status == OrderStatus.OPEN
    trades = [
        ExchangeTrade(
            id="t2",
            order_id=order.exchange_order_id,
            symbol="BTC/USDT",
            side="buy",
            price=Decimal("1"),
            amount=Decimal("1"),
            ts=2_000,
        ),
        ExchangeTrade(
            id="t1",
            order_id=order.exchange_order_id,
            symbol="BTC/USDT",
            side="buy",
            price=Decimal("1"),
            amount=Decimal("0.5"),
            ts=1_000,
        ),
    ]
    first = fills_record(order=order, trades=trades + trades[:1])
    again = fills_record(order=order, trades=trades)
    assert len(first) == 2 and again == []
    order.refresh_from_db()
    assert order.filled == Decimal("1.5")
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal("1.5")
    late = ExchangeTrade(
        id="t0",
        order_id=order.exchange_order_id,
        symbol="BTC/USDT",
        side="buy",
        price=Decimal("2"),
        amount=Decimal("0.5"),
        ts=500,
    )
    fills_record(order=order, trades=[late])  # older than what was applied: the position is rebuilt
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    assert position.quantity == Decimal("2")
    assert position.average_entry_price == Decimal("1.25")  # (0.5*2 + 0.5*1 + 1*1) / 2
    rebuilt = position_rebuild(bot_id=bot.pk, symbol="BTC/USDT")
    assert (rebuilt.quantity, rebuilt.average_entry_price) == (position.quantity, position.average_entry_price)


def test_statuses_only_move_forward(bot, gw):
    order = place(bot, gw)
    assert order.status == OrderStatus.FILLED
    stale = ExchangeOrder(
        id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        symbol="BTC/USDT",
        side="buy",
        type="market",
        amount=order.amount,
        filled=Decimal("0"),
        status="open",
    )
    order = order_apply(order=order, update=stale)
    assert order.status == OrderStatus.FILLED and order.filled == Decimal("0.1")


def test_a_round_trip_closes_the_position_with_realized_pnl(bot, gw, clock):
    place(bot, gw, intent_key="in")
    clock.advance(60 * 60 * 1000)
    place(bot, gw, side="sell", intent_key="out")
    closed = Position.objects.get(bot=bot)
    assert closed.quantity == 0 and closed.closed_at is not None
    fills = list(Fill.objects.filter(bot=bot).order_by("ts"))
    expected = (fills[1].price - fills[0].price) * Decimal("0.1")
    assert closed.realized_pnl == expected
    assert closed.fees_paid == fills[0].fee + fills[1].fee


def test_a_batch_is_placed_in_one_pass_and_refusals_stay_per_order(bot, gw):
    from bots.orders import PlacementIntent, orders_place

    intents = [
        PlacementIntent(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.1"), bot=bot, intent_key="b1"),
        PlacementIntent(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("500"), bot=bot, intent_key="b2"),
        PlacementIntent(
            symbol="BTC/USDT",
            side="sell",
            type="limit",
            amount=Decimal("0.2"),
            price=Decimal("999999"),
            bot=bot,
            intent_key="b3",
        ),
        PlacementIntent(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.1"), bot=bot, intent_key="b1"),
    ]
    orders = orders_place(account=bot.exchange_account, intents=intents, gateway=gw)

    assert [o.status for o in orders] == [
        OrderStatus.FILLED,
        OrderStatus.REJECTED,
        OrderStatus.OPEN,
        OrderStatus.FILLED,
    ]
    assert orders[0].pk == orders[3].pk  # the same intent twice is one order
    assert "insufficient balance" in orders[1].reason
    assert Order.objects.count() == 3
    assert PaperOrder.objects.filter(account=bot.exchange_account).count() == 2
    assert Fill.objects.filter(order=orders[0]).count() == 1
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal("0.1")
    # Placing the same batch again changes nothing.
    again = orders_place(account=bot.exchange_account, intents=intents, gateway=gw)
    assert [o.pk for o in again] == [o.pk for o in orders]
    assert PaperOrder.objects.filter(account=bot.exchange_account).count() == 2


def test_invalid_input_in_a_batch_writes_nothing(bot, gw):
    from bots.orders import PlacementIntent, orders_place
    from core.errors import ApplicationError

    good = PlacementIntent(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.1"), bot=bot)
    bad = PlacementIntent(symbol="BTC/USDT", side="buy", type="limit", amount=Decimal("0.1"), bot=bot)
    with pytest.raises(ApplicationError) as caught:
        orders_place(account=bot.exchange_account, intents=[good, bad], gateway=gw)
    assert caught.value.field == "price"
    assert not Order.objects.exists()
