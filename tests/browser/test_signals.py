"""The signals pages in a real browser: a signal recorded while the list is open appears without a
reload, and a backfilled signal's page draws its candles with the factors' levels and markers.
Screenshots go to var/test-artifacts/."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.market_data import candles_upsert, read_candle_file
from signals.backfill import signals_backfill
from signals.models import Signal, SignalSource, WatchedMarket
from signals.services import signal_record
from tests.browser.test_dashboard import ARTIFACTS, ROOT, browser, browser_db, demo, log_in, server, sync_api, wait_live

__all__ = ["browser", "browser_db", "demo", "server"]  # fixtures used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_signal_appears_live_and_a_signal_page_draws_its_factors(server, demo, browser, browser_db):
    expect = sync_api.expect
    source = SignalSource.objects.get(organization__slug="demo", name="Technical engine")
    market = WatchedMarket.objects.get(source=source, symbol="BTC/USDT", timeframe="1h")
    _, _, hourly = read_candle_file(ROOT / "data" / "market" / "BTC_USDT-1h.json.gz")
    candles_upsert(exchange=market.exchange, symbol="BTC/USDT", timeframe="1h", candles=hourly[:400])
    assert signals_backfill(watched_market=market, bars=20, window=300).recorded == 20

    context, page = log_in(browser, server, "owner", "owner-demo")
    page.goto(f"{server}/signals/")
    page.evaluate("window.notReloaded = true")
    wait_live(page)
    signal = signal_record(
        signal_source=source,
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="4h",
        side="sell",
        confidence=Decimal("0.6600"),
        reasoning="Recorded while the page is open.",
        price=Decimal("64000"),
    )
    row = page.locator(f'#signals tr[data-signal-id="{signal.pk}"]')
    expect(row).to_be_visible()
    expect(row.locator('[data-field="side"] .badge')).to_have_text("Sell")
    assert page.evaluate("window.notReloaded") is True
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "signals-live.png"), full_page=True)

    # A backfilled engine signal: candles, Fibonacci and support/resistance lines on the chart.
    drawn = (
        Signal.objects.filter(source=source, timeframe="1h", factors__fibonacci__levels__isnull=False)
        .order_by("-bar_ts")
        .first()
    )
    assert drawn is not None, "the demo backfills engine signals with Fibonacci levels"
    page.goto(f"{server}/signals/{drawn.pk}/")
    chart = page.locator("svg.signal-chart")
    expect(chart).to_be_visible()
    assert chart.locator("g.candle").count() > 50
    levels = chart.locator("g.level")
    assert levels.count() >= len(drawn.factors["fibonacci"]["levels"])
    box = chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150
    expect(page.locator("#factors")).to_contain_text("fibonacci")
    expect(page.locator("#hummingbot")).to_contain_text("Run on Hummingbot")
    page.screenshot(path=str(ARTIFACTS / "signal-detail.png"), full_page=True)
    context.close()
