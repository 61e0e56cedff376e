"""The backtest endpoints: scoped reads, creation through the service, errors naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from backtest.models import Backtest, BacktestStatus
from organizations.models import Role

START = dt.datetime(2021, 4, 20, tzinfo=dt.UTC)
END = dt.datetime(2021, 4, 27, tzinfo=dt.UTC)


def make(org, **fields):
    return Backtest.objects.create(
        organization=org, strategy="macd_trend", symbol="BTC/USDT", start=START, end=END, **fields
    )


def body(org, **overrides):
    return {
        "organization": org.pk,
        "strategy": "rsi_bb_atr",
        "symbol": "BTC/USDT",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "params": {"rsi_period": 10},
        "sweep": {"rsi_oversold": [20, 30]},
    } | overrides


def test_it_lists_and_reads_only_the_callers_organization(client, alice, org_a, org_b):
    mine = make(org_a, name="mine", results={"stats": {"sharpe": 1.0}}, status=BacktestStatus.DONE)
    theirs = make(org_b, name="theirs")
    client.force_login(alice)
    listed = client.get("/api/v1/backtests/").json()["results"]
    assert [row["name"] for row in listed] == ["mine"]
    assert "results" not in listed[0]
    detail = client.get(f"/api/v1/backtests/{mine.pk}/").json()
    assert detail["results"] == {"stats": {"sharpe": 1.0}}
    assert client.get(f"/api/v1/backtests/{theirs.pk}/").status_code == 404


def test_it_queues_a_backtest(client, alice, org_a, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/api/v1/backtests/", body(org_a), content_type="application/json")
    assert response.status_code == 201, response.json()
    created = Backtest.objects.get(pk=response.json()["id"])
    assert created.status == BacktestStatus.QUEUED and created.created_by == alice
    assert created.params["rsi_period"] == 10 and created.sweep == {"rsi_oversold": ["20", "30"]}
    assert len(callbacks) == 1  # the task is sent once the row is committed


def test_it_names_the_bad_parameter(client, alice, org_a):
    client.force_login(alice)
    response = client.post("/api/v1/backtests/", body(org_a, params={"rsi_period": 0}), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "params.rsi_period"
    assert not Backtest.objects.exists()


def test_it_rejects_a_viewer_and_another_organization(client, alice, org_a, org_b, member):
    client.force_login(member(Role.VIEWER))
    assert client.post("/api/v1/backtests/", body(org_a), content_type="application/json").status_code == 403
    client.force_login(alice)
    response = client.post("/api/v1/backtests/", body(org_b), content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["field"] == "organization"
    assert not Backtest.objects.exists()


def test_the_list_query_count_does_not_grow_with_rows(client, alice, org_a):
    client.force_login(alice)
    make(org_a, name="first")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/backtests/").status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for i in range(5):
        make(org_a, name=f"more-{i}")
    assert count() == small


def test_it_queues_a_perpetual_backtest_and_shows_its_market(client, alice, org_a, django_capture_on_commit_callbacks):
    client.force_login(alice)
    perp = {
        "symbol": "BTC/USDT:USDT",
        "market_type": "perp",
        "leverage": "5",
        "margin_mode": "cross",
        "funding_rate": "0.0001",
        "funding_interval_hours": 1,
        "max_leverage": "20",
    }
    with django_capture_on_commit_callbacks():
        response = client.post("/api/v1/backtests/", body(org_a, **perp), content_type="application/json")
    assert response.status_code == 201, response.json()
    shown = response.json()
    assert (shown["market_type"], shown["margin_mode"], shown["funding_interval_hours"]) == ("perp", "cross", 1)
    assert Decimal(shown["leverage"]) == 5 and Decimal(shown["funding_rate"]) == Decimal("0.0001")
    created = Backtest.objects.get(pk=shown["id"])
    assert (created.leverage, created.max_leverage, created.symbol) == (5, 20, "BTC/USDT:USDT")
    listed = client.get("/api/v1/backtests/").json()["results"][0]
    assert listed["market_type"] == "perp" and Decimal(listed["max_leverage"]) == 20


def test_it_names_the_bad_market_setting(client, alice, org_a):
    client.force_login(alice)
    response = client.post(
        "/api/v1/backtests/",
        body(org_a, market_type="perp", symbol="BTC/USDT", leverage="3"),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "symbol"
    response = client.post("/api/v1/backtests/", body(org_a, leverage="3"), content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["field"] == "leverage"
    assert not Backtest.objects.exists()
