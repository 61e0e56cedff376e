"""Order and fill lists: cursor pagination, filters and a pinned query count."""

import datetime as dt

import pytest
from django.utils import timezone

from bots.models import Order
from tests.factories import BotFactory, FillFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_orders_are_cursor_paginated_without_overlap(client_for, alice, org_a):
    bot = BotFactory(organization=org_a)
    orders = [OrderFactory(bot=bot) for _ in range(5)]
    client = client_for(alice)
    first = client.get("/api/v1/orders/", {"page_size": 3}).json()
    assert first["previous"] is None and first["next"]
    second = client.get(first["next"]).json()
    assert second["next"] is None
    ids = [row["id"] for row in first["results"]] + [row["id"] for row in second["results"]]
    assert ids == sorted((o.pk for o in orders), reverse=True)
    assert len(set(ids)) == 5


def test_orders_filter_by_bot_status_side_and_time(client_for, alice, org_a):
    bot, other = BotFactory(organization=org_a), BotFactory(organization=org_a)
    wanted = OrderFactory(bot=bot, side="sell", status="open")
    OrderFactory(bot=bot, side="buy", status="open")
    OrderFactory(bot=other, side="sell", status="open")
    old = OrderFactory(bot=bot, side="sell", status="filled")
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    client = client_for(alice)

    def ids(**params):
        response = client.get("/api/v1/orders/", params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(bot=bot.pk, side="sell", status="open") == [wanted.pk]
    assert ids(bot=bot.pk, created_before=(timezone.now() - dt.timedelta(days=1)).isoformat()) == [old.pk]
    assert old.pk not in ids(created_after=(timezone.now() - dt.timedelta(days=1)).isoformat())
    assert ids(symbol="ETH/USDT") == []
    invalid = client.get("/api/v1/orders/", {"side": "hold"})
    assert invalid.status_code == 400 and invalid.json()["error"]["field"] == "side"


def test_fills_list_and_bot_children(client_for, alice, org_a):
    bot = BotFactory(organization=org_a)
    fill = FillFactory(order=OrderFactory(bot=bot))
    client = client_for(alice)
    assert [r["id"] for r in client.get("/api/v1/fills/", {"bot": bot.pk}).json()["results"]] == [fill.pk]
    assert [r["id"] for r in client.get(f"/api/v1/bots/{bot.pk}/fills/").json()["results"]] == [fill.pk]
    assert [r["id"] for r in client.get(f"/api/v1/bots/{bot.pk}/orders/").json()["results"]] == [fill.order_id]


def test_order_list_query_count_does_not_grow(client_for, alice, org_a, django_assert_max_num_queries):
    bot = BotFactory(organization=org_a)
    for _ in range(20):
        OrderFactory(bot=bot)
    client = client_for(alice)
    # Session, user, page of orders.
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/orders/")
    assert len(response.json()["results"]) == 20
