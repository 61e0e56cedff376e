"""The signals pages: the list is scoped and filtered at a fixed query count, and a signal's chart
carries the overlays its factors describe, at their exact prices."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exchanges.models import Candle
from tests.factories import SignalFactory, SignalSourceFactory

pytestmark = pytest.mark.django_db
BAR = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_the_list_shows_our_signals_only_and_filters_them(client, alice, org_a, org_b):
    ours = SignalSourceFactory(organization=org_a, name="engine-alpha")
    SignalFactory(source=ours, symbol="BTC/USDT", side="buy")
    SignalFactory(source=ours, symbol="ETH/USDT", side="sell")
    SignalFactory(source=SignalSourceFactory(organization=org_b, name="engine-beta"), symbol="SOL/USDT")
    client.force_login(alice)

    page = client.get(reverse("dashboard:signals")).content.decode()
    assert "BTC/USDT" in page and "ETH/USDT" in page
    assert "SOL/USDT" not in page and "engine-beta" not in page

    filtered = client.get(reverse("dashboard:signals"), {"side": "sell"}).content.decode()
    assert "ETH/USDT" in filtered and "BTC/USDT 1h" not in filtered


def test_the_list_costs_the_same_queries_for_many_signals(client, alice, org_a):
    source = SignalSourceFactory(organization=org_a)
    SignalFactory(source=source)
    client.force_login(alice)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("dashboard:signals")).status_code == 200
        return len(ctx.captured_queries)

    count()  # the first request also stores the selected organization in the session
    few = count()
    # Session, user, memberships, sources, the page count and the page of signals with their sources.
    assert few == 6
    for _ in range(20):
        SignalFactory(source=SignalSourceFactory(organization=org_a))
    assert count() == few


def test_bob_cannot_open_alices_signal(client, bob, org_a):
    signal = SignalFactory(source=SignalSourceFactory(organization=org_a))
    client.force_login(bob)
    assert client.get(reverse("dashboard:signal", args=[signal.pk])).status_code == 404


def test_the_chart_overlays_levels_markers_and_waves_at_their_prices(client, alice, org_a):
    for i in range(30):
        price = Decimal(100 + i)
        Candle.objects.create(
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            ts=BAR - (29 - i) * HOUR,
            open=price,
            high=price + 2,
            low=price - 2,
            close=price + 1,
            volume=Decimal("1"),
        )
    signal = SignalFactory(
        source=SignalSourceFactory(organization=org_a),
        bar_ts=BAR,
        factors={
            "fibonacci": {"score": 0.2, "reason": "near 0.618", "levels": {"0.382": 118.54, "0.618": 111.46}},
            "structure": {"score": 0.1, "reason": "", "support": [104.5], "resistance": [131.25]},
            "patterns": {
                "score": 0.5,
                "reason": "",
                "markers": [{"ts": ms(BAR - 3 * HOUR), "name": "CDLENGULFING", "direction": 1}],
            },
            "elliott": {
                "score": 0.3,
                "reason": "",
                "valid": True,
                "waves": [
                    {"label": "0", "ts": ms(BAR - 20 * HOUR), "price": 107.0},
                    {"label": "1", "ts": ms(BAR - 10 * HOUR), "price": 121.5},
                ],
            },
        },
    )
    client.force_login(alice)
    page = client.get(reverse("dashboard:signal", args=[signal.pk])).content.decode()

    assert page.count('class="candle ') == 30
    assert 'class="level level-fib" data-price="118.54"' in page
    assert 'class="level level-fib" data-price="111.46"' in page
    assert 'class="level level-support" data-price="104.5"' in page
    assert 'class="level level-resistance" data-price="131.25"' in page
    assert f'class="pattern-marker" data-ts="{ms(BAR - 3 * HOUR)}" data-name="CDLENGULFING"' in page
    assert f'class="wave-label" data-ts="{ms(BAR - 10 * HOUR)}" data-price="121.5"' in page
    assert "Wave 0 at 107.0" in page
    assert "near 0.618" in page


def test_the_sources_page_lists_sources_markets_and_their_evaluation(client, alice, org_a, org_b):
    from signals.models import WatchedMarket

    source = SignalSourceFactory(organization=org_a, name="engine-alpha", weight=Decimal("2.5"))
    WatchedMarket.objects.create(
        organization=org_a, source=source, exchange="binance", symbol="ETH/USDT", timeframe="4h"
    )
    SignalFactory(source=source)
    SignalSourceFactory(organization=org_b, name="engine-beta")
    client.force_login(alice)
    page = client.get(reverse("dashboard:signal_sources")).content.decode()
    assert "engine-alpha" in page and "2.500" in page and "binance ETH/USDT 4h" in page
    assert "engine-beta" not in page
    assert f'data-evaluation-source="{source.pk}"' in page


def test_adding_a_source_and_a_market_calls_the_services(client, alice, org_a):
    client.force_login(alice)
    url = reverse("dashboard:signal_sources")
    answer = client.post(
        url, {"add_source": "1", "source-name": "trend", "source-kind": "engine", "source-weight": "1.5"}
    )
    assert answer.status_code == 302
    from signals.models import SignalSource, WatchedMarket

    source = SignalSource.objects.get(organization=org_a, name="trend")
    assert source.weight == Decimal("1.5")
    answer = client.post(
        url,
        {
            "add_market": "1",
            "market-source": source.pk,
            "market-exchange": "binance",
            "market-symbol": "btc/usdt",
            "market-timeframe": "1h",
        },
    )
    assert answer.status_code == 302
    assert list(WatchedMarket.objects.values_list("symbol", "timeframe")) == [("BTC/USDT", "1h")]


def test_a_refusal_shows_next_to_its_field(client, alice, org_a):
    source = SignalSourceFactory(organization=org_a, name="trend")
    client.force_login(alice)
    url = reverse("dashboard:signal_sources")
    dup = client.post(url, {"add_source": "1", "source-name": "trend", "source-kind": "engine", "source-weight": "1"})
    assert dup.status_code == 400
    assert dup.context["source_form"].errors == {"name": ["A source named 'trend' already exists."]}
    bad = client.post(
        url,
        {
            "add_market": "1",
            "market-source": source.pk,
            "market-exchange": "binance",
            "market-symbol": "BTCUSDT",
            "market-timeframe": "1h",
        },
    )
    assert bad.status_code == 400
    assert bad.context["market_form"].errors == {"symbol": ["Symbol must look like BASE/QUOTE (e.g. BTC/USDT)."]}
    assert "Symbol must look like BASE/QUOTE" in bad.content.decode()


def test_a_viewer_cannot_add_a_source(client, member, org_a):
    from organizations.models import Role
    from signals.models import SignalSource

    client.force_login(member(Role.VIEWER))
    url = reverse("dashboard:signal_sources")
    answer = client.post(url, {"add_source": "1", "source-name": "x", "source-kind": "engine", "source-weight": "1"})
    assert answer.status_code == 403
    assert not SignalSource.objects.exists()
