"""Backtests in the dashboard: scoped to the selected organization, queued through the service
for traders only, and listed in a bounded number of queries. Real PostgreSQL; the Celery task is
never run (on-commit callbacks are captured, not executed)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from backtest.models import Backtest, BacktestStatus
from organizations.models import Role
from tests.factories import BacktestFactory, MembershipFactory

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:backtests")

DONE_RESULTS = {
    "params": {"fast_period": 8, "slow_period": 26},
    "stats": {"total_return_pct": 12.34, "sharpe": 1.56, "max_drawdown_pct": -7.89, "trades": 3},
    "trades": [
        {
            "entry_ms": 1_700_000_000_000,
            "exit_ms": 1_700_000_600_000,
            "side": "long",
            "amount": "0.01000000",
            "entry_price": "37000.5",
            "exit_price": "37400.25",
            "pnl": "3.9975",
            "fees": "0.74",
            "return_pct": "1.08",
            "entry_tag": "",
            "exit_tag": "",
        }
    ]
    * 150,
    "trades_total": 150,
    "equity": [[1_700_000_000_000, "1000"], [1_700_000_600_000, "1003.9975"]],
    "sweep": [
        {"rank": 1, "params": {"fast_period": 8, "slow_period": 26}, "stats": {"total_return_pct": 12.34}},
        {"rank": 2, "params": {"fast_period": 12, "slow_period": 26}, "stats": {"total_return_pct": 4.5}},
    ],
    "rank_by": "total_return_pct",
}


def valid_post(**overrides):
    data = {
        "name": "macd week",
        "strategy": "macd_trend",
        "symbol": "btc/usdt",
        "timeframe": "5m",
        "start": "2026-01-01T00:00",
        "end": "2026-01-08T00:00",
        "capital": "2500.50",
        "params": '{"fast_period": 10}',
        "sweep": "",
        "rank_by": "total_return_pct",
    }
    return data | overrides


def count_queries(client, url):
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_list_shows_the_organizations_backtests_with_their_stats(client, alice, org_a, org_b):
    done = BacktestFactory(organization=org_a, name="done-run", status=BacktestStatus.DONE, progress=100)
    Backtest.objects.filter(pk=done.pk).update(results=DONE_RESULTS)
    queued = BacktestFactory(organization=org_a, name="queued-run", progress=0)
    BacktestFactory(organization=org_b, name="beta-hidden")
    client.force_login(alice)
    response = client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-backtest-id="{done.pk}"' in html and f'data-backtest-id="{queued.pk}"' in html
    assert "done-run" in html and "queued-run" in html and "beta-hidden" not in html
    assert html.index("queued-run") < html.index("done-run")  # newest first
    assert "12.34" in html and "1.56" in html and "-7.89" in html
    assert 'id="new-backtest"' in html  # alice is the owner
    assert reverse("dashboard:backtests") in html  # the nav link


def test_the_detail_shows_parameters_stats_chart_trades_and_sweep(client, alice, org_a):
    backtest = BacktestFactory(
        organization=org_a,
        name="sweep-run",
        status=BacktestStatus.DONE,
        progress=100,
        params={"fast_period": 8, "slow_period": 26},
        sweep={"fast_period": [8, 12]},
        results=DONE_RESULTS,
    )
    client.force_login(alice)
    response = client.get(reverse("dashboard:backtest", args=[backtest.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "sweep-run" in html and "fast_period" in html
    assert 'id="equity-data"' in html and "1003.9975" in html and 'data-chart="equity-data"' in html
    assert "Total return %" in html and "12.34" in html
    assert html.count("37400.25") == 100  # the first 100 of 150 trades
    assert "first 100 of 150" in html
    assert "fast_period=8" in html and "fast_period=12" in html  # the ranked sweep
    assert "location.reload" not in html  # finished: no refresh


def test_a_running_backtest_refreshes_itself_and_a_failed_one_shows_its_error(client, alice, org_a):
    running = BacktestFactory(organization=org_a, status=BacktestStatus.RUNNING, progress=42)
    failed = BacktestFactory(organization=org_a, status=BacktestStatus.FAILED, error="No 5m candles of BTC/USDT")
    client.force_login(alice)
    html = client.get(reverse("dashboard:backtest", args=[running.pk])).content.decode()
    assert "location.reload" in html and 'value="42"' in html
    html = client.get(reverse("dashboard:backtest", args=[failed.pk])).content.decode()
    assert "No 5m candles of BTC/USDT" in html and "location.reload" not in html


def test_another_organizations_backtest_is_404(client, alice, org_b):
    backtest = BacktestFactory(organization=org_b)
    client.force_login(alice)
    assert client.get(reverse("dashboard:backtest", args=[backtest.pk])).status_code == 404


def test_a_backtest_of_the_users_other_organization_is_404_until_it_is_selected(client, alice, org_b):
    MembershipFactory(user=alice, organization=org_b, role=Role.VIEWER)
    backtest = BacktestFactory(organization=org_b)
    client.force_login(alice)
    url = reverse("dashboard:backtest", args=[backtest.pk])
    assert client.get(url).status_code == 404
    client.post(reverse("dashboard:organization_switch"), {"organization": org_b.pk})
    assert client.get(url).status_code == 200


def test_a_viewer_sees_no_form_and_a_forged_post_is_403(client, member, org_a, django_capture_on_commit_callbacks):
    client.force_login(member(Role.VIEWER))
    html = client.get(LIST).content.decode()
    assert 'id="new-backtest"' not in html and "Queue backtest" not in html
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(LIST, valid_post())
    assert response.status_code == 403
    assert not Backtest.objects.exists() and callbacks == []


def test_a_valid_post_queues_a_backtest(client, member, org_a, django_capture_on_commit_callbacks):
    trader = member(Role.TRADER)
    client.force_login(trader)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(LIST, valid_post())
    backtest = Backtest.objects.get()
    assert response.status_code == 302 and response.url == reverse("dashboard:backtest", args=[backtest.pk])
    assert len(callbacks) == 1  # the task is handed to Celery after commit, not run here
    assert backtest.organization == org_a and backtest.created_by == trader
    assert backtest.status == BacktestStatus.QUEUED and backtest.progress == 0
    assert backtest.strategy == "macd_trend" and backtest.symbol == "BTC/USDT"
    assert backtest.params["fast_period"] == 10 and backtest.params["slow_period"] == 26  # defaults filled in
    assert backtest.capital == Decimal("2500.50")


def test_a_valid_sweep_is_stored_as_given(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks():
        response = client.post(LIST, valid_post(sweep='{"fast_period": [8, 12]}', rank_by="sharpe"))
    assert response.status_code == 302
    backtest = Backtest.objects.get()
    assert backtest.sweep == {"fast_period": [8, 12]} and backtest.rank_by == "sharpe"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"params": '{"fast_period": 1}'}, "fast_period must be at least 2."),
        ({"params": '{"no_such": 1}'}, "Unknown parameter(s) for macd_trend: no_such."),
        ({"params": "[1, 2]"}, "Parameters are a JSON object"),
        ({"sweep": '{"fast_period": []}'}, "sweep.fast_period must be a non-empty list of values."),
        ({"end": "2025-12-01T00:00"}, "end must be after start."),
        ({"symbol": "BTCUSDT"}, "is not a market symbol like BTC/USDT."),
    ],
)
def test_an_invalid_post_writes_nothing_and_shows_the_error(
    client, alice, django_capture_on_commit_callbacks, overrides, message
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(LIST, valid_post(**overrides))
    assert response.status_code == 400
    assert not Backtest.objects.exists() and callbacks == []
    html = response.content.decode()
    assert 'class="field-error"' in html
    assert escape(message) in html


def test_the_list_renders_in_a_bounded_number_of_queries(client, alice, org_a, django_assert_max_num_queries):
    client.force_login(alice)
    BacktestFactory(organization=org_a, status=BacktestStatus.DONE, results=DONE_RESULTS)
    one = count_queries(client, LIST)
    BacktestFactory.create_batch(19, organization=org_a, status=BacktestStatus.DONE, results=DONE_RESULTS)
    with django_assert_max_num_queries(one):
        response = client.get(LIST)
    assert response.status_code == 200
    assert response.content.decode().count("data-backtest-id=") == 20
