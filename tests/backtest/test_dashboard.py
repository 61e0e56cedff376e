"""The dashboard's backtest form and page for perpetuals: the market settings are queued through
the service, refused with the field named, and the run's funding and liquidations are shown."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.html import escape

from backtest.models import Backtest, BacktestStatus
from tests.factories import BacktestFactory

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:backtests")


def post(**overrides):
    return {
        "strategy": "macd_trend",
        "symbol": "btc/usdt:usdt",
        "timeframe": "5m",
        "start": "2026-01-01T00:00",
        "end": "2026-01-08T00:00",
        "capital": "1000",
        "params": "",
        "sweep": "",
        "rank_by": "total_return_pct",
        "market_type": "perp",
        "leverage": "3",
        "margin_mode": "isolated",
        "funding_rate": "0.0001",
        "funding_interval_hours": "1",
        "max_leverage": "50",
    } | overrides


def test_the_form_queues_a_perpetual_with_its_settings(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    assert 'name="leverage"' in client.get(LIST).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(LIST, post())
    assert response.status_code == 302
    backtest = Backtest.objects.get()
    assert len(callbacks) == 1
    assert (backtest.symbol, backtest.market_type, backtest.leverage) == ("BTC/USDT:USDT", "perp", 3)
    assert (backtest.funding_rate, backtest.funding_interval_hours) == (Decimal("0.0001"), 1)


def test_the_form_shows_a_bad_leverage_on_its_field(client, alice):
    client.force_login(alice)
    response = client.post(LIST, post(leverage="60"))
    assert response.status_code == 400
    assert escape("Leverage must be from 1x up to the market's maximum 50x, not 60x.") in response.content.decode()
    response = client.post(LIST, post(market_type="spot"))
    assert response.status_code == 400
    assert "is a perpetual: set the market type to perp." in response.content.decode()
    assert not Backtest.objects.exists()


def test_the_page_shows_the_market_funding_and_liquidations(client, alice, org_a):
    backtest = BacktestFactory(
        organization=org_a,
        symbol="BTC/USDT:USDT",
        market_type="perp",
        leverage=Decimal("20"),
        funding_rate=Decimal("0.0001"),
        funding_interval_hours=8,
        status=BacktestStatus.DONE,
        results={
            "stats": {"total_return_pct": -5.1, "funding_total": "-0.75000000", "liquidations": 1},
            "perp": {"leverage": "20"},
            "funding_payments": 9,
            "final": {"cash": "949", "quantity": "0", "equity": "949", "margin": "0"},
            "liquidations": [
                {
                    "ts": 1_700_000_300_000,
                    "candle_ms": 1_700_000_000_000,
                    "side": "long",
                    "quantity": "1",
                    "entry_price": "1000",
                    "price": "959.595959595959595959",
                    "margin_lost": "50",
                }
            ],
        },
    )
    client.force_login(alice)
    html = client.get(reverse("dashboard:backtest", args=[backtest.pk])).content.decode()
    assert "Perpetual, 20x isolated" in html and "0.0001 every 8 h" in html
    assert 'id="liquidations"' in html and "959.595959595959595959" in html and "-0.75000000" in html
    spot = BacktestFactory(organization=org_a, status=BacktestStatus.DONE, results={"stats": {"trades": 0}})
    html = client.get(reverse("dashboard:backtest", args=[spot.pk])).content.decode()
    assert 'id="liquidations"' not in html and "<dd data-market>Spot</dd>" in html
