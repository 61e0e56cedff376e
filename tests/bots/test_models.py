"""Database constraints hold even when code forgets to check."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from risk.models import RiskLimits
from tests.factories import BotFactory, FillFactory, OrderFactory, PositionFactory, RiskLimitsFactory


def violates(make) -> bool:
    try:
        with transaction.atomic():
            make()
    except IntegrityError:
        return True
    return False


@pytest.mark.django_db
def test_client_order_ids_are_unique():
    order = OrderFactory()
    assert violates(lambda: OrderFactory(bot=order.bot, client_order_id=order.client_order_id))


@pytest.mark.django_db
def test_an_order_cannot_fill_more_than_its_amount_or_have_a_bad_price():
    assert violates(lambda: OrderFactory(amount=Decimal("1"), filled=Decimal("1.0000001")))
    assert violates(lambda: OrderFactory(amount=Decimal("0")))
    assert violates(lambda: OrderFactory(price=Decimal("-1")))
    assert not violates(lambda: OrderFactory(type="market", price=None))


@pytest.mark.django_db
def test_a_trade_is_stored_once_per_account():
    fill = FillFactory(trade_id="T-1")
    assert violates(lambda: FillFactory(order=fill.order, trade_id="T-1"))
    # The same trade id on another account is another trade.
    assert not violates(lambda: FillFactory(trade_id="T-1"))


@pytest.mark.django_db
def test_money_keeps_eighteen_decimals():
    order = OrderFactory(price=Decimal("0.000000000000000001"), amount=Decimal("12345678901234567890.123456789"))
    order.refresh_from_db()
    assert order.price == Decimal("0.000000000000000001")
    assert order.amount == Decimal("12345678901234567890.123456789")


@pytest.mark.django_db
def test_one_open_position_per_bot_and_symbol():
    position = PositionFactory()
    assert violates(lambda: PositionFactory(bot=position.bot, symbol=position.symbol))
    position.closed_at = position.opened_at
    position.save()
    assert not violates(lambda: PositionFactory(bot=position.bot, symbol=position.symbol))


@pytest.mark.django_db
def test_risk_limits_have_one_scope_and_one_row_per_scope(org_a):
    bot = BotFactory(organization=org_a)
    RiskLimitsFactory(organization=org_a)
    assert violates(lambda: RiskLimitsFactory(organization=org_a))
    assert violates(
        lambda: RiskLimits.objects.create(organization=org_a, bot=bot, exchange_account=bot.exchange_account)
    )
    RiskLimitsFactory(organization=org_a, bot=bot)
    assert violates(lambda: RiskLimitsFactory(organization=org_a, bot=bot))
    assert violates(lambda: RiskLimitsFactory(organization=org_a, bot=None, max_drawdown_pct=Decimal("150")))


@pytest.mark.django_db
def test_bot_names_are_unique_within_an_organization(org_a, org_b):
    BotFactory(organization=org_a, name="same")
    assert violates(lambda: BotFactory(organization=org_a, name="same"))
    assert not violates(lambda: BotFactory(organization=org_b, name="same"))


@pytest.mark.django_db
def test_full_clean_names_the_field_of_a_bad_bot(org_a, org_b):
    from django.core.exceptions import ValidationError

    bot = BotFactory.build(organization=org_a, strategy="grid", params={"levels": "many"})
    bot.exchange_account.save()
    with pytest.raises(ValidationError) as caught:
        bot.full_clean()
    assert "params" in caught.value.message_dict

    foreign = BotFactory(organization=org_b)
    bot = BotFactory.build(organization=org_a, exchange_account=foreign.exchange_account)
    with pytest.raises(ValidationError) as caught:
        bot.full_clean()
    assert "another organization" in caught.value.message_dict["exchange_account"][0]
