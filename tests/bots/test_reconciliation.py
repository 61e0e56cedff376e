"""Reconciliation on the paper exchange: what happened while we were away is adopted and audited."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent, Fill, Order, OrderStatus, Position
from bots.orders import client_order_id_for, order_place
from bots.reconciliation import reconcile_account
from exchanges.gateway import Gateway
from exchanges.types import OrderRequest
from tests.factories import BotFactory


@pytest.fixture
def bot(paper):
    return BotFactory(organization=paper.account.organization, exchange_account=paper.account)


@pytest.fixture
def gw(paper):
    return Gateway(paper.account, paper)


def test_an_order_filled_while_away_is_brought_up_to_date(bot, gw, paper, clock, btc_candles):
    price = btc_candles[121].high
    order = order_place(
        account=paper.account,
        bot=bot,
        symbol="BTC/USDT",
        side="sell",
        type="limit",
        price=price,
        amount=Decimal("0.05"),
        gateway=gw,
    )
    assert order.status == OrderStatus.OPEN
    clock.advance(60 * 60 * 1000)  # the exchange fills it; we are not looking

    report = reconcile_account(account=paper.account, gateway=gw)

    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
    assert report.orders_updated == 1 and report.fills_added == 0  # fills came with the update
    assert Fill.objects.filter(order=order).count() >= 1
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal("-0.05")
    assert BotEvent.objects.filter(kind="reconcile.order_updated", bot=bot).exists()
    # A second pass finds nothing to correct.
    again = reconcile_account(account=paper.account, gateway=gw)
    assert again.corrections == 0


def test_a_lost_fill_is_recovered_from_the_trade_history(bot, gw, paper):
    order = order_place(
        account=paper.account, bot=bot, symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.1"), gateway=gw
    )
    Fill.objects.filter(order=order).delete()
    Position.objects.all().delete()

    report = reconcile_account(account=paper.account, gateway=gw)

    assert report.fills_added == 1
    assert Fill.objects.get(order=order).amount == Decimal("0.1")
    assert Position.objects.get(bot=bot).quantity == Decimal("0.1")


def test_an_order_placed_while_away_is_adopted_with_its_bot(bot, gw, paper):
    cid = client_order_id_for(account_id=paper.account.pk, bot_id=bot.pk, intent_key="elsewhere")
    paper.create_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="sell",
            type="limit",
            amount=Decimal("0.1"),
            price=Decimal("999999"),
            client_order_id=cid,
        )
    )

    report = reconcile_account(account=paper.account, gateway=gw)

    adopted = Order.objects.get(client_order_id=cid)
    assert report.orders_adopted == 1
    assert adopted.bot == bot and adopted.status == OrderStatus.OPEN
    assert BotEvent.objects.filter(kind="reconcile.order_adopted", bot=bot).exists()


def test_a_missing_order_is_given_up_only_after_the_grace_period(bot, gw, paper):
    ghost = Order.objects.create(
        organization=bot.organization,
        bot=bot,
        exchange_account=paper.account,
        client_order_id="bo1xghost",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        price=Decimal("1"),
        amount=Decimal("1"),
        submitted_at=timezone.now(),
    )
    reconcile_account(account=paper.account, gateway=gw, grace_seconds=60)
    ghost.refresh_from_db()
    assert ghost.status == OrderStatus.NEW and ghost.missing_since is not None

    Order.objects.filter(pk=ghost.pk).update(missing_since=timezone.now() - dt.timedelta(seconds=61))
    report = reconcile_account(account=paper.account, gateway=gw, grace_seconds=60)
    ghost.refresh_from_db()
    assert ghost.status == OrderStatus.EXPIRED
    assert "grace period" in ghost.reason
    assert report.orders_missing == 1
    assert BotEvent.objects.filter(kind="reconcile.order_missing", bot=bot).exists()
