"""The dashboard in a real browser: Debian's Chromium driven by Playwright against the real ASGI
app (daphne, HTTP and WebSocket) on the test database and Redis.

The owner starts a paper bot and watches its status change and a new order arrive without the
page reloading, then stops it; the viewer finds no start button. Screenshots go to
var/test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

from analytics.snapshots import snapshots_take
from bots import runtime
from bots.models import Bot, Order
from bots.runtime import manual_order_place
from bots.state import BotStatus
from exchanges.gateway import paper_source
from exchanges.market_data import FixedClock, candles_upsert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements/test.txt")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def server(transactional_db):
    """daphne serving config.asgi on a free port, against this test's database."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / "daphne.log").open("w")
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    break
        except OSError:
            pass
        if daphne.poll() is not None or time.monotonic() > deadline:
            daphne.kill()
            pytest.fail(f"daphne did not come up; see {ARTIFACTS / 'daphne.log'}")
        time.sleep(0.2)
    yield url
    daphne.terminate()
    try:
        daphne.wait(timeout=10)
    except subprocess.TimeoutExpired:
        daphne.kill()
        daphne.wait()
    log.close()


@pytest.fixture
def demo(transactional_db, btc_candles, monkeypatch):
    """The demo organization (owner, viewer, paper bots) and BTC/USDT candles for the paper
    exchange, with its clock fixed inside them, for the orders this process places."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="5m", candles=btc_candles)
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()
    clock = FixedClock(btc_candles[300].ts + 60_000)
    monkeypatch.setattr("exchanges.gateway.paper_clock", lambda source, symbol="BTC/USDT": clock)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made between browser
    # steps are plain synchronous calls all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield
    paper_source.cache_clear()
    runtime._paper_bars.cache_clear()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_db(browser):
    """While Playwright's loop runs, the ORM calls of the test get their own connection; close it
    before the browser goes, or the test database cannot be dropped afterwards."""
    yield
    connections.close_all()


def log_in(browser, server: str, username: str, password: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    return context, page


def wait_live(page) -> None:
    page.wait_for_selector("body[data-live=on]", timeout=TIMEOUT_MS)


def test_owner_starts_a_bot_sees_it_live_and_stops_it_viewer_has_no_start(server, demo, browser, browser_db):
    expect = sync_api.expect
    bot = Bot.objects.select_related("exchange_account").get(organization__slug="demo", name="BTC trend")

    context, overview = log_in(browser, server, "owner", "owner-demo")
    row = overview.locator(f'tr[data-bot-id="{bot.pk}"]')
    expect(row.locator('[data-bot-field="status"]')).to_have_text("stopped")
    overview.evaluate("window.notReloaded = true")
    wait_live(overview)

    detail = context.new_page()
    detail.goto(f"{server}/bots/{bot.pk}/")
    detail.evaluate("window.notReloaded = true")
    wait_live(detail)
    detail.click('[data-action="start"]')

    # Started in one page; the other, untouched, hears it over the WebSocket.
    expect(row.locator('[data-bot-field="status"]')).to_have_text("running")
    expect(detail.locator("#bot-status")).to_have_text("running")
    expect(detail.locator('[data-action="stop"]')).to_be_visible()
    expect(detail.locator('[data-action="start"]')).to_be_hidden()
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING

    # An order placed on the running bot (here by this process, through the same service the
    # order form uses) appears in the open page.
    bot.refresh_from_db()
    order = manual_order_place(bot=bot, side="buy", type="market", amount=Decimal("0.001"))
    new_row = detail.locator(f'#orders tr[data-order-id="{order.pk}"]')
    expect(new_row).to_be_visible()
    expect(new_row.locator('[data-field="side"]')).to_have_text("buy")
    expect(new_row.locator('[data-field="status"]')).to_have_text(order.status)

    # A metric snapshot of the running bot is a new point on its equity chart.
    assert snapshots_take()
    expect(detail.locator("[data-chart-title]")).to_have_text("Equity")
    expect(detail.locator("#equity-chart svg path.line")).to_have_count(1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    detail.screenshot(path=str(ARTIFACTS / "owner-bot-running.png"), full_page=True)

    detail.click('[data-action="stop"]')
    expect(detail.locator("#bot-status")).to_have_text("stopped")
    expect(row.locator('[data-bot-field="status"]')).to_have_text("stopped")
    expect(detail.locator('[data-action="start"]')).to_be_visible()
    expect(detail.locator('[data-action="stop"]')).to_be_hidden()
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert Order.objects.filter(bot=bot).count() == 1
    # Neither page was reloaded along the way.
    assert overview.evaluate("window.notReloaded") is True
    assert detail.evaluate("window.notReloaded") is True
    overview.screenshot(path=str(ARTIFACTS / "owner-overview.png"), full_page=True)
    context.close()

    context, overview = log_in(browser, server, "viewer", "viewer-demo")
    expect(overview.locator(f'tr[data-bot-id="{bot.pk}"]')).to_be_visible()
    overview.goto(f"{server}/bots/{bot.pk}/")
    expect(overview.locator("#bot-status")).to_be_visible()
    wait_live(overview)  # viewers get the live stream too
    assert overview.locator('[data-action="start"]').count() == 0
    assert overview.locator('[data-action="stop"]').count() == 0
    assert overview.get_by_text("Manual order").count() == 0
    overview.screenshot(path=str(ARTIFACTS / "viewer-bot.png"), full_page=True)
    context.close()
