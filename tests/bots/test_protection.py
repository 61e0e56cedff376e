"""Protective stop-loss and take-profit rest on the exchange as reduce-only trigger orders, so a
position stays protected while no worker runs; they follow the position and go when it goes."""

from decimal import Decimal

import pytest

from bots.models import Bot, BotEvent, Order, Position
from bots.protection import wanted_orders
from bots.runtime import bot_tick
from exchanges.gateway import Gateway
from exchanges.models import PaperOrder, PaperPosition
from risk.models import RiskLimits
from tests.bots.test_perps import PERP, act, perp_bot, q
from tests.bots.test_runtime import market  # noqa: F401 - candles in the store and a fixed paper clock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("market")]
FIVE_MIN = 300_000


def resting(bot):
    return {o.trigger_kind: o for o in Order.objects.filter(bot=bot, tag__startswith="protect-", status="open")}


def test_a_long_is_stopped_below_and_a_short_above_the_entry():
    long = wanted_orders(
        quantity=Decimal("0.5"), average_entry=Decimal("100"), levels=None, stop_pct=Decimal(2), take_pct=Decimal(5)
    )
    assert [(w.kind, w.side, w.amount, w.trigger_price) for w in long] == [
        ("sl", "sell", Decimal("0.5"), Decimal("98")),
        ("tp", "sell", Decimal("0.5"), Decimal("105")),
    ]
    short = wanted_orders(
        quantity=Decimal("-0.5"), average_entry=Decimal("100"), levels=None, stop_pct=Decimal(2), take_pct=None
    )
    assert [(w.kind, w.side, w.trigger_price) for w in short] == [("sl", "buy", Decimal("102"))]
    # The strategy's own levels win; one on the wrong side of the entry would fire at once, so
    # the default takes its place.
    own = wanted_orders(
        quantity=Decimal("1"),
        average_entry=Decimal("100"),
        levels={"sl": "95", "tp": "99"},
        stop_pct=Decimal(2),
        take_pct=Decimal(5),
    )
    assert [(w.kind, w.trigger_price) for w in own] == [("sl", Decimal("95")), ("tp", Decimal("105"))]
    assert wanted_orders(quantity=Decimal(0), average_entry=Decimal(100), levels=None, stop_pct=2, take_pct=5) == []


def test_the_stop_and_take_profit_rest_on_the_exchange_and_fire_with_no_worker(org_a, market, btc_candles):  # noqa: F811
    limits = RiskLimits.objects.create(
        organization=org_a, default_stop_loss_pct=Decimal(2), default_take_profit_pct=Decimal(4)
    )
    bot = perp_bot(org_a, "buy", amount="0.01")
    bot_tick(bot_id=bot.pk)
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    entry = position.average_entry_price
    orders = resting(bot)
    assert set(orders) == {"sl", "tp"}
    assert orders["sl"].trigger_price == q(entry * Decimal("0.98"))
    assert orders["tp"].trigger_price == q(entry * Decimal("1.04"))
    for order in orders.values():
        assert (order.side, order.amount, order.reduce_only, order.type) == ("sell", Decimal("0.01"), True, "market")
        on_exchange = PaperOrder.objects.get(account=bot.exchange_account, client_order_id=order.client_order_id)
        assert on_exchange.trigger_price == order.trigger_price and on_exchange.status == "open"
    assert BotEvent.objects.filter(bot=bot, kind="protection.placed").count() == 2

    # An unchanged position sends nothing new.
    act(bot, "none")
    bot_tick(bot_id=bot.pk)
    assert {o.pk for o in resting(bot).values()} == {o.pk for o in orders.values()}

    # Tighten the stop to halfway down to the lowest low of the next hour: the old stop is
    # replaced, the take-profit stays as it was.
    now = market.now_ms()
    ahead = [c for c in btc_candles if now <= c.ts < now + 12 * FIVE_MIN]
    low = min(c.low for c in ahead)
    assert low < entry, "the data must dip below the entry for this test"
    pct = ((entry - low) / entry * 100 / 2).quantize(Decimal("0.0001"))
    limits.default_stop_loss_pct = pct
    limits.save()
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=None)
    bot_tick(bot_id=bot.pk)
    tightened = resting(bot)
    assert tightened["tp"].pk == orders["tp"].pk
    assert tightened["sl"].pk != orders["sl"].pk
    assert tightened["sl"].trigger_price == q(entry * (1 - pct / 100))
    assert Order.objects.get(pk=orders["sl"].pk).status == "canceled"

    # The worker dies. The exchange alone fires the stop when the price gets there.
    market.advance(12 * FIVE_MIN)
    Gateway(bot.exchange_account).client.perps.match(PERP)
    assert PaperPosition.objects.get(account=bot.exchange_account, symbol=PERP).quantity == 0
    fired = PaperOrder.objects.get(client_order_id=tightened["sl"].client_order_id)
    assert fired.status == "filled"

    # A worker comes back: the fill is ours, the position closed, the take-profit canceled.
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=None)
    bot_tick(bot_id=bot.pk)
    assert Order.objects.get(pk=tightened["sl"].pk).status == "filled"
    assert Order.objects.get(pk=tightened["tp"].pk).status == "canceled"
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()
    assert resting(bot) == {}


def test_an_entry_carries_its_own_levels_and_a_short_is_protected_from_above(org_a):
    bot = perp_bot(org_a, "buy_protected", amount="0.01")
    bot_tick(bot_id=bot.pk)
    orders = resting(bot)
    entry_order = Order.objects.get(bot=bot, tag="entry")
    assert entry_order.status == "filled"
    assert set(orders) == {"sl", "tp"}
    assert orders["sl"].trigger_price < Position.objects.get(bot=bot, closed_at__isnull=True).average_entry_price
    assert orders["tp"].trigger_price > orders["sl"].trigger_price

    RiskLimits.objects.create(organization=org_a, default_stop_loss_pct=Decimal(3))
    short = perp_bot(org_a, "sell", amount="0.02")
    bot_tick(bot_id=short.pk)
    [stop] = resting(short).values()
    average = Position.objects.get(bot=short, closed_at__isnull=True).average_entry_price
    assert (stop.trigger_kind, stop.side, stop.amount) == ("sl", "buy", Decimal("0.02"))
    assert stop.trigger_price == q(average * Decimal("1.03"))


def test_the_strategy_and_the_risk_check_do_not_count_the_protective_orders(org_a):
    RiskLimits.objects.create(organization=org_a, default_stop_loss_pct=Decimal(2), max_open_orders=1)
    bot = perp_bot(org_a, "buy", amount="0.01")
    bot_tick(bot_id=bot.pk)
    assert len(resting(bot)) == 1
    # The exit is a working order of its own, not blocked by the resting stop's count or size.
    act(bot, "exit", amount="0.01")
    result = bot_tick(bot_id=bot.pk)
    assert Order.objects.get(bot=bot, tag="exit").status == "filled", result.note
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()
    assert resting(bot) == {}
