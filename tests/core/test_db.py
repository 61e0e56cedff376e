"""update_rows writes each row's own values in one statement; insert_rows inserts rows in one INSERT or by COPY."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

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
        order.raw = {"i": i, "nested": {"ok": True}, "text": "a,b{c}\"d'e\\"}
        order.closed_at = None if i == 0 else when + dt.timedelta(minutes=i)
        order.exchange_order_id = f"x{i}" if i else "x,{\"}'\\ NULL"  # array-literal specials
    with CaptureQueriesContext(connection) as ctx:
        update_rows(Order, orders, ["filled", "status", "raw", "closed_at", "exchange_order_id"])
    assert len(ctx.captured_queries) == 1
    for i, order in enumerate(orders):
        row = Order.objects.get(pk=order.pk)
        assert row.filled == Decimal("0.00000000000000000" + str(i + 1))
        assert row.status == ["open", "filled", "canceled"][i]
        assert row.raw == order.raw
        assert row.closed_at == (None if i == 0 else when + dt.timedelta(minutes=i))
        assert row.exchange_order_id == order.exchange_order_id
        assert row.amount == order.amount  # columns not named are left alone


@pytest.mark.parametrize("count", [3, 60])  # one INSERT ... RETURNING, and COPY
def test_insert_rows_inserts_rows_with_their_keys_and_defaults(org_a, count):
    from bots.models import BotEvent
    from core.db import insert_rows

    rows = [
        BotEvent(organization=org_a, kind="k", message=f"m{i}", data={"i": i, "s": "x", "d": "1.5"})
        for i in range(count)
    ]
    with CaptureQueriesContext(connection) as queries:
        insert_rows(BotEvent, rows)
    if count < 50:
        assert len(queries) == 1  # no BEGIN/COMMIT around it
    assert all(r.pk for r in rows) and len({r.pk for r in rows}) == count
    assert [r.pk for r in rows] == sorted(r.pk for r in rows)
    stored = {e.pk: e for e in BotEvent.objects.filter(pk__in=[r.pk for r in rows])}
    for row in rows:
        got = stored[row.pk]
        assert (got.message, got.data, got.level, got.source) == (row.message, row.data, "info", "system")
        assert got.created_at is not None and got.created_at == row.created_at


@pytest.mark.parametrize("count", [3, 60])
def test_insert_rows_is_all_or_nothing_on_a_unique_violation(org_a, count):
    from django.db import IntegrityError, transaction

    from bots.models import Fill
    from core.db import insert_rows
    from tests.factories import OrderFactory

    order = OrderFactory(bot__organization=org_a)
    fills = [
        Fill(
            organization=org_a,
            order=order,
            exchange_account=order.exchange_account,
            trade_id=f"t{i % (count - 1)}",  # the last repeats the first
            symbol="BTC/USDT",
            side="buy",
            price=Decimal("1"),
            amount=Decimal("0.001"),
            ts=timezone.now(),
        )
        for i in range(count)
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Fill, fills)
    assert not Fill.objects.exists()


def test_insert_rows_encrypts_secret_fields(org_a):
    from core.db import insert_rows
    from exchanges.models import ExchangeAccount

    rows = [
        ExchangeAccount(organization=org_a, exchange="binance", label=f"a{i}", api_key=f"key-{i}") for i in range(50)
    ]
    insert_rows(ExchangeAccount, rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM exchanges_exchangeaccount WHERE id = %s", [rows[7].pk])
        stored = cursor.fetchone()[0]
    assert "key-7" not in stored
    assert ExchangeAccount.objects.get(pk=rows[7].pk).api_key == "key-7"
