"""update_rows writes each row's own values, whatever their types, in one statement."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots.models import Order
from core.db import update_rows
from tests.factories import OrderFactory


@pytest.mark.django_db
def test_it_updates_many_rows_in_one_statement_with_their_own_values():
    orders = [OrderFactory() for _ in range(3)]
    when = dt.datetime(2021, 5, 19, 12, 0, tzinfo=dt.UTC)
    for i, order in enumerate(orders):
        order.filled = Decimal("0.00000000000000000" + str(i + 1))
        order.status = ["open", "filled", "canceled"][i]
        order.raw = {"i": i, "nested": {"ok": True}}
        order.closed_at = None if i == 0 else when + dt.timedelta(minutes=i)
        order.exchange_order_id = f"x{i}"
    with CaptureQueriesContext(connection) as ctx:
        update_rows(Order, orders, ["filled", "status", "raw", "closed_at", "exchange_order_id"])
    assert len(ctx.captured_queries) == 1
    for i, order in enumerate(orders):
        row = Order.objects.get(pk=order.pk)
        assert row.filled == Decimal("0.00000000000000000" + str(i + 1))
        assert row.status == ["open", "filled", "canceled"][i]
        assert row.raw == {"i": i, "nested": {"ok": True}}
        assert row.closed_at == (None if i == 0 else when + dt.timedelta(minutes=i))
        assert row.exchange_order_id == f"x{i}"
        assert row.amount == order.amount  # columns not named are left alone
