"""The fast list representation gives exactly what DRF's own ModelSerializer would."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from api import serializers as s
from bots.models import Bot, Order, Position
from exchanges.models import ExchangeAccount
from tests.factories import BotEventFactory, BotFactory, FillFactory, OrderFactory, PositionFactory

pytestmark = pytest.mark.django_db


def drf_output(serializer_class, instance) -> dict:
    return serializers.ModelSerializer.to_representation(serializer_class(), instance)


def test_fast_output_equals_drf_for_every_list_serializer(org_a):
    bot = BotFactory(organization=org_a, params={"levels": 4, "nested": {"a": [1, 2]}}, capital=Decimal("1234.5"))
    Bot.objects.filter(pk=bot.pk).update(last_heartbeat_at=timezone.now(), tick_count=7)
    bot = Bot.objects.get(pk=bot.pk)
    order = OrderFactory(
        bot=bot,
        price=Decimal("30123.123456789012345678"),
        amount=Decimal("0.1"),
        average=None,
        fee=Decimal("1E-8"),
        closed_at=dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
    )
    rows = [
        (s.BotSerializer, bot),
        (s.OrderSerializer, order),
        (s.FillSerializer, FillFactory(order=order, is_maker=None, price=Decimal("0.000000000000000001"))),
        (s.PositionSerializer, PositionFactory(bot=bot, quantity=Decimal("-2.25"), closed_at=None)),
        (s.BotEventSerializer, BotEventFactory(bot=bot, data={"x": Decimal("1.5").__str__(), "n": None})),
    ]
    for serializer_class, instance in rows:
        fast = serializer_class(instance).data
        assert fast == drf_output(serializer_class, instance), serializer_class.__name__
        assert list(fast) == list(drf_output(serializer_class, instance))


def test_a_status_set_in_memory_is_written_as_its_value(org_a):
    from bots.state import BotStatus

    bot = BotFactory(organization=org_a)
    bot.status = BotStatus.RUNNING
    assert s.BotSerializer(bot).data["status"] == "running" == drf_output(s.BotSerializer, bot)["status"]


def test_a_list_page_is_the_same_as_drf_renders_it(org_a):
    bot = BotFactory(organization=org_a)
    for n in range(5):
        OrderFactory(bot=bot, price=Decimal(n) / 3 if n else None, status=["new", "open", "filled"][n % 3])
    orders = list(bot.orders.order_by("-id"))
    assert s.OrderSerializer(orders, many=True).data == [drf_output(s.OrderSerializer, o) for o in orders]


def test_a_values_row_gives_the_same_output_as_the_model(org_a):
    bot = BotFactory(organization=org_a)
    order = OrderFactory(bot=bot, price=Decimal("1.5"), average=None)
    fill = FillFactory(order=order, is_maker=True)
    event = BotEventFactory(bot=bot, data={"k": [1, "two"]})
    for serializer_class, instance in [
        (s.OrderSerializer, order),
        (s.FillSerializer, fill),
        (s.BotEventSerializer, event),
        (s.PositionSerializer, PositionFactory(bot=bot)),
    ]:
        row = serializer_class.row_values(type(instance).objects.filter(pk=instance.pk)).get()
        assert serializer_class(row).data == drf_output(serializer_class, instance), serializer_class.__name__


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # no fraction: isoformat leaves it out
        dt.datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=dt.UTC),
        dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(2024, 7, 1, 2, 0, 0, 500000, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    ],
)
@pytest.mark.parametrize(
    "amount", [Decimal("0.000000000000000001"), Decimal("123456789012345678.5"), Decimal("-2.25"), Decimal("0")]
)
def test_times_and_amounts_written_by_the_database_are_what_drf_writes(org_a, when, amount):
    bot = BotFactory(organization=org_a)
    order = OrderFactory(bot=bot, price=abs(amount) or None, amount=Decimal("1"), average=None, closed_at=when)
    order.refresh_from_db()
    row = s.OrderSerializer.row_values(Order.objects.filter(pk=order.pk)).get()
    assert isinstance(row["text_closed_at"], str) and isinstance(row["text_amount"], str)
    assert s.OrderSerializer(row).data == drf_output(s.OrderSerializer, order)
    position = PositionFactory(bot=bot, quantity=amount, closed_at=when)  # signed amounts
    position.refresh_from_db()
    row = s.PositionSerializer.row_values(Position.objects.filter(pk=position.pk)).get()
    assert s.PositionSerializer(row).data == drf_output(s.PositionSerializer, position)


def test_a_bot_row_gives_the_same_output_and_leaves_its_memory_unread(org_a):
    bot = BotFactory(organization=org_a, params={"levels": 4, "nested": {"a": [1, 2]}}, capital=Decimal("1234.5"))
    Bot.objects.filter(pk=bot.pk).update(state={"strategy": {"big": list(range(100))}})
    rows = s.BotSerializer.row_values(Bot.objects.filter(pk=bot.pk))
    assert "state" not in str(rows.query)
    assert s.BotSerializer(rows.get()).data == drf_output(s.BotSerializer, Bot.objects.get(pk=bot.pk))


def test_a_row_value_skips_its_check_only_from_a_column_of_that_type():
    """Copied as is only when the column always gives the type the field passes through; a field
    of another class (here an encrypted one, which decrypts) keeps its check."""
    fields = s.OrderSerializer().fields
    status, price = fields["status"], fields["price"]
    assert s._column_gives_output(Order, status, s._passthrough(status, str))
    assert s._column_gives_output(Order, fields["id"], s._passthrough(fields["id"], int))
    assert not s._column_gives_output(Order, status, s._passthrough(status, int))
    assert not s._column_gives_output(Order, status, s._same)
    assert not s._column_gives_output(Order, price, s._passthrough(price, str))
    secret = serializers.CharField(source="api_key")
    assert not s._column_gives_output(ExchangeAccount, secret, s._passthrough(secret, str))
