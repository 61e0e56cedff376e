"""Backtests in admin: the results page shows the statistics, the equity chart and the sweep."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backtest.models import Backtest, BacktestStatus


@pytest.fixture
def finished(org_a):
    return Backtest.objects.create(
        organization=org_a,
        strategy="macd_trend",
        symbol="BTC/USDT",
        start=dt.datetime(2021, 4, 20, tzinfo=dt.UTC),
        end=dt.datetime(2021, 4, 27, tzinfo=dt.UTC),
        sweep={"fast_period": [8, 12]},
        status=BacktestStatus.DONE,
        progress=100,
        results={
            "params": {"fast_period": 12},
            "stats": {"total_return_pct": 1.25, "sharpe": 0.8, "max_drawdown_pct": 3.5, "trades": 4, "bars": 2000},
            "equity": [[1618876800000, "1000"], [1618963200000, "1012.5"], [1619049600000, "1008"]],
            "trades": [
                {
                    "entry_ms": 1618876800000,
                    "entry_price": "55000",
                    "exit_ms": 1618963200000,
                    "exit_price": "56000",
                    "amount": "0.001",
                    "pnl": "0.8",
                }
            ],
            "sweep": [
                {"rank": 1, "params": {"fast_period": 12}, "stats": {"total_return_pct": 1.25, "trades": 4}},
                {"rank": 2, "params": {"fast_period": 8}, "stats": {"total_return_pct": -0.5, "trades": 6}},
            ],
        },
        capital=Decimal("1000"),
    )


def test_the_results_page_shows_statistics_chart_and_ranking(client, superuser, finished):
    client.force_login(superuser)
    page = client.get(reverse("admin:backtest_backtest_change", args=[finished.pk])).content.decode()
    assert "Total return %" in page and "1.25" in page
    assert "<svg" in page and "<polyline" in page
    assert "fast_period=8" in page and "-0.5" in page
    assert "55000" in page


def test_the_changelist_lists_backtests_of_the_staff_members_organization_only(client, scoped_staff, finished, org_b):
    Backtest.objects.create(
        organization=org_b,
        strategy="grid",
        name="beta-secret",
        symbol="ETH/USDT",
        start=finished.start,
        end=finished.end,
    )
    scoped_staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="backtest"))
    client.force_login(scoped_staff)
    page = client.get(reverse("admin:backtest_backtest_changelist")).content.decode()
    assert "macd_trend BTC/USDT" in page
    assert "beta-secret" not in page


def test_adding_one_in_admin_queues_it_and_a_bad_param_is_shown_on_the_form(
    client, superuser, org_a, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    url = reverse("admin:backtest_backtest_add")
    form = {
        "organization": org_a.pk,
        "name": "from admin",
        "strategy": "macd_trend",
        "params": '{"fast_period": 1}',
        "sweep": "{}",
        "rank_by": "total_return_pct",
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "5m",
        "start_0": "2021-04-20",
        "start_1": "00:00:00",
        "end_0": "2021-04-27",
        "end_1": "00:00:00",
        "capital": "1000",
        "taker_fee": "0.001",
        "maker_fee": "0.001",
        "slippage": "0.0005",
    }
    page = client.post(url, form).content.decode()
    assert "fast_period must be at least 2." in page
    assert not Backtest.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, form | {"params": '{"fast_period": 8}'})
    assert response.status_code == 302
    created = Backtest.objects.get()
    assert created.status == BacktestStatus.QUEUED and created.created_by == superuser
    assert created.params["fast_period"] == 8 and created.params["slow_period"] == 26
    assert len(callbacks) == 1


def test_the_changelist_query_count_does_not_grow_with_rows(client, superuser, finished, org_b):
    client.force_login(superuser)
    url = reverse("admin:backtest_backtest_changelist")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for i in range(5):
        Backtest.objects.create(
            organization=org_b if i % 2 else finished.organization,
            strategy="rsi_bb_atr",
            symbol="ETH/USDT",
            start=finished.start,
            end=finished.end,
            results=finished.results,
        )
    assert count() == small


def test_adding_a_perpetual_in_admin_checks_its_leverage_and_shows_its_figures(
    client, superuser, org_a, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    url = reverse("admin:backtest_backtest_add")
    form = {
        "organization": org_a.pk,
        "strategy": "macd_trend",
        "params": "{}",
        "sweep": "{}",
        "rank_by": "total_return_pct",
        "exchange": "binance",
        "symbol": "BTC/USDT:USDT",
        "timeframe": "5m",
        "start_0": "2021-04-20",
        "start_1": "00:00:00",
        "end_0": "2021-04-27",
        "end_1": "00:00:00",
        "capital": "1000",
        "taker_fee": "0.001",
        "maker_fee": "0.001",
        "slippage": "0.0005",
        "market_type": "perp",
        "leverage": "75",
        "margin_mode": "isolated",
        "funding_rate": "0.0001",
        "max_leverage": "50",
    }
    page = client.post(url, form).content.decode()
    assert "Leverage must be from 1x up to the market&#x27;s maximum 50x, not 75x." in page
    assert not Backtest.objects.exists()
    with django_capture_on_commit_callbacks():
        response = client.post(url, form | {"leverage": "10"})
    assert response.status_code == 302
    created = Backtest.objects.get()
    assert (created.market_type, created.leverage, created.funding_interval_hours) == ("perp", 10, 8)

    Backtest.objects.filter(pk=created.pk).update(
        status=BacktestStatus.DONE,
        results={
            "stats": {"funding_total": "-1.25000000", "liquidations": 1, "rejected": {"margin_refused": 3}},
            "perp": {"leverage": "10"},
            "funding_payments": 21,
            "final": {"cash": "900", "quantity": "0", "equity": "900", "margin": "0"},
            "liquidations": [
                {
                    "ts": 1618963500000,
                    "candle_ms": 1618963200000,
                    "side": "long",
                    "quantity": "0.02",
                    "entry_price": "56000",
                    "price": "50680.4",
                    "margin_lost": "112",
                }
            ],
        },
    )
    page = client.get(reverse("admin:backtest_backtest_change", args=[created.pk])).content.decode()
    assert "-1.25000000" in page and "50680.4" in page and "Entries refused for margin" in page
    changelist = client.get(reverse("admin:backtest_backtest_changelist")).content.decode()
    assert "perp 10x isolated" in changelist
