"""List pages read through api/rows.py: the same bytes as Django's own query path for every list,
filter and cursor direction; other organizations stay invisible with a shared statement; queries
of another shape go through Django; statements are prepared, planned per run and bounded."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.db.models.query import ValuesIterable
from django.utils import timezone

from api import rows as page_rows
from api import serializers as s
from api.rows import PageRowsIterable
from bots.models import Bot, Order
from tests.factories import BotEventFactory, BotFactory, FillFactory, OrderFactory, PositionFactory

pytestmark = pytest.mark.django_db


def order_template():
    return s.OrderSerializer.row_template()


def plain(queryset) -> list[dict]:
    """The rows as Django's own ValuesIterable reads them."""
    clone = queryset.all()
    clone._iterable_class = ValuesIterable
    return list(clone)


def follow(client, url: str, params: dict | None = None, *, limit: int = 20) -> list[bytes]:
    """Every page from `url` on by `next`, then back to the start by `previous`: response bytes."""
    pages = []
    response = client.get(url, params or {})
    for _ in range(limit):
        assert response.status_code == 200, response.content
        pages.append(response.content)
        link = response.json()["next"]
        if link is None:
            break
        response = client.get(link)
    for _ in range(limit):
        link = response.json()["previous"]
        if link is None:
            break
        response = client.get(link)
        assert response.status_code == 200, response.content
        pages.append(response.content)
    return pages


@pytest.fixture
def orders(org_a):
    """Two bots of org A with orders of every status, some amounts and times missing."""
    bot, other = BotFactory(organization=org_a), BotFactory(organization=org_a)
    made = []
    for n in range(7):
        made.append(
            OrderFactory(
                bot=bot if n % 3 else other,
                status=["new", "open", "filled", "canceled"][n % 4],
                side="sell" if n % 2 else "buy",
                price=Decimal(n) / 3 if n else None,
                average=Decimal("30000.5") if n % 2 else None,
                closed_at=dt.datetime(2024, 1, 2, 3, 4, 5, n * 100_000, tzinfo=dt.UTC) if n % 3 == 0 else None,
            )
        )
    Order.objects.filter(pk=made[0].pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    FillFactory(order=made[1])
    PositionFactory(bot=bot)
    BotEventFactory(bot=bot, data={"k": [1, "two"]})
    Bot.objects.filter(pk=bot.pk).update(params={"levels": 4, "nested": {"a": [1, 2]}})
    return bot, made


def test_pages_are_byte_identical_to_djangos_query_path(client_for, alice, make_key, orders, monkeypatch):
    bot, _ = orders
    _, key = make_key()
    day_ago = (timezone.now() - dt.timedelta(days=1)).isoformat()
    walks = [
        ("/api/v1/orders/", {"page_size": 3}),
        ("/api/v1/orders/", {"page_size": 2, "status": ["open", "filled"]}),
        ("/api/v1/orders/", {"page_size": 2, "bot": bot.pk, "side": "sell"}),
        ("/api/v1/orders/", {"created_after": day_ago}),
        ("/api/v1/orders/", {"created_before": day_ago}),
        ("/api/v1/orders/", {"status": []}),
        ("/api/v1/bots/", {"page_size": 1}),
        ("/api/v1/fills/", {}),
        (f"/api/v1/bots/{bot.pk}/orders/", {"page_size": 2}),
        (f"/api/v1/bots/{bot.pk}/fills/", {}),
        (f"/api/v1/bots/{bot.pk}/positions/", {}),
        (f"/api/v1/bots/{bot.pk}/events/", {}),
    ]
    clients = [client_for(alice), client_for(key=key)]  # a member's organizations, a key's organization

    def run() -> list[list[bytes]]:
        return [follow(client, url, params) for client in clients for url, params in walks]

    statements = order_template()._iterable_class.statements
    statements.clear()
    fast = run()
    assert statements, "the order pages did not go through api/rows.py"
    monkeypatch.setattr(PageRowsIterable, "__iter__", ValuesIterable.__iter__)
    assert run() == fast


def test_a_shared_statement_keeps_each_organization_to_its_own_rows(client_for, alice, bob, make_key, org_b):
    mine = {OrderFactory(bot=BotFactory(organization=alice.memberships.get().organization)).pk for _ in range(3)}
    theirs = {OrderFactory(bot=BotFactory(organization=org_b)).pk for _ in range(2)}
    _, key_a = make_key()
    _, key_b = make_key(organization=org_b)
    for client, expected in [
        (client_for(key=key_a), mine),
        (client_for(key=key_b), theirs),
        (client_for(key=key_a), mine),
        (client_for(alice), mine),
        (client_for(bob), theirs),
    ]:
        ids = []
        body = client.get("/api/v1/orders/", {"page_size": 2}).json()
        while True:
            ids += [row["id"] for row in body["results"]]
            if body["next"] is None:
                break
            body = client.get(body["next"]).json()
        assert sorted(ids) == sorted(expected)


def test_cursor_pages_chain_in_both_directions(client_for, alice, orders):
    _, made = orders
    client = client_for(alice)
    forward, backward = [], []
    body = client.get("/api/v1/orders/", {"page_size": 3}).json()
    while True:
        forward.append([row["id"] for row in body["results"]])
        if body["next"] is None:
            break
        body = client.get(body["next"]).json()
    while body["previous"] is not None:
        body = client.get(body["previous"]).json()
        backward.append([row["id"] for row in body["results"]])
    assert [pk for page in forward for pk in page] == sorted((o.pk for o in made), reverse=True)
    assert backward == forward[-2::-1]


def test_the_statement_is_djangos_own_and_rows_are_the_same(orders):
    bot, made = orders
    template = order_template()
    querysets = [
        template.filter(organization_id=bot.organization_id).order_by("-id")[:3],
        template.filter(organization_id=bot.organization_id, id__lt=made[4].pk).order_by("-id")[:3],
        template.filter(organization_id=bot.organization_id, id__gt=made[1].pk).order_by("id")[1:4],
        template.filter(bot_id=bot.pk, status__in=["open", "new"]).order_by("-id")[:50],
        s.BotSerializer.row_template().filter(organization_id=bot.organization_id).order_by("-id")[:5],
    ]
    for queryset in querysets:
        expected = plain(queryset)
        assert list(queryset.all()) == expected and expected
        assert [list(row) for row in queryset.all()] == [list(row) for row in expected]  # same key order
        sql = queryset.query.get_compiler("default").as_sql()[0]
        assert sql in {statement.sql for statement in queryset._iterable_class.statements.values()}
    # A bot's parameters go through the JSON column's converter.
    assert s.BotSerializer.row_template().get(pk=bot.pk)["params"] == {"levels": 4, "nested": {"a": [1, 2]}}


def test_queries_of_another_shape_go_through_django(orders):
    bot, _ = orders
    template = order_template()
    statements = template._iterable_class.statements
    statements.clear()
    others = [
        template.filter(bot__name=bot.name).order_by("-id"),  # a join
        template.filter(organization_id=bot.organization_id).distinct().order_by("-id"),
        template.annotate(fills=Count("fills")).order_by("-id"),
        template.filter(status__in=[]),  # never true
        template.all(),  # always true
        template.filter(organization_id=bot.organization_id).order_by("-created_at", "-id"),
    ]
    for queryset in others[:-1]:
        assert list(queryset.all()) == plain(queryset)
        assert not statements, queryset.query
    assert list(others[3]) == []
    assert list(others[-1].iterator()) == plain(others[-1])  # chunked reads too
    assert not statements
    assert list(others[-1].all()) == plain(others[-1])
    assert len(statements) == 1


def test_the_statement_table_is_bounded(orders, monkeypatch):
    bot, _ = orders
    monkeypatch.setattr(page_rows, "MAX_STATEMENTS", 2)
    template = order_template()
    template._iterable_class.statements.clear()
    for size in range(1, 6):
        queryset = template.filter(organization_id=bot.organization_id).order_by("-id")[:size]
        assert list(queryset) == plain(queryset)
        assert len(template._iterable_class.statements) <= 2


@pytest.mark.skipif(
    settings.DATABASES["default"]["OPTIONS"].get("prepare_threshold") is None, reason="prepared statements off"
)
def test_page_statements_are_prepared_and_planned_for_each_run(client_for, make_key, orders):
    _, key = make_key()
    client = client_for(key=key)
    first = client.get("/api/v1/orders/").content
    for _ in range(settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]):
        assert client.get("/api/v1/orders/").content == first
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [row[0] for row in cursor.fetchall()]
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_custom_plan"
    assert any('FROM "bots_order"' in sql for sql in prepared), prepared
    assert not any('"organizations_apikey"' in sql for sql in prepared)  # Django's own cursors never prepare


def test_a_key_reads_a_page_in_two_queries(client_for, make_key, orders, django_assert_num_queries):
    _, key = make_key()
    client = client_for(key=key)
    client.get("/api/v1/orders/")  # the key's last use is written once a minute
    with django_assert_num_queries(2) as captured:  # the key, the page
        response = client.get("/api/v1/orders/", {"page_size": 2})
    assert len(response.json()["results"]) == 2
    assert 'FROM "bots_order"' in captured.captured_queries[-1]["sql"]
