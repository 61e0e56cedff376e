"""Performance reports and trade exports read from the database, checked by hand."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from analytics.selectors import bot_performance, bot_period_summary, organization_performance, trades_csv
from tests.factories import BotFactory, FillFactory, MetricSnapshotFactory, OrderFactory, PositionFactory

D = Decimal
DAY0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # a Monday


def at(days: int, hours: int) -> dt.datetime:
    return DAY0 + dt.timedelta(days=days, hours=hours)


@pytest.fixture
def bot_a(org_a):
    bot = BotFactory(organization=org_a, capital=D("1000"))
    for ts, equity in [(at(0, 10), "1000"), (at(0, 20), "1050"), (at(1, 12), "1100"), (at(2, 12), "990")]:
        MetricSnapshotFactory(bot=bot, ts=ts, equity=D(equity))
    PositionFactory(
        bot=bot, opened_at=at(0, 10), closed_at=at(0, 22), quantity=0, realized_pnl=D("60"), fees_paid=D("10")
    )
    PositionFactory(
        bot=bot, opened_at=at(1, 0), closed_at=at(2, 0), quantity=0, realized_pnl=D("-100"), fees_paid=D("10")
    )
    PositionFactory(bot=bot, opened_at=at(2, 12), quantity=D("0.1"))  # still open
    return bot


def test_bot_performance(bot_a):
    report = bot_performance(bot=bot_a, start=DAY0, end=at(3, 0))
    # daily last equity 1050, 1100, 990 from a first value of 1000:
    # returns .05, 1100/1050 - 1, 990/1100 - 1 = -.1; total 990/1000 - 1
    assert report["days"] == 3
    assert report["total_return"] == pytest.approx(-0.01)
    # growth 1 -> 1.05 -> 1.1 -> 0.99: 10 % down from the peak of day 1, not recovered (1 day)
    assert report["max_drawdown"] == pytest.approx(0.10)
    assert report["max_drawdown_duration"] == dt.timedelta(days=1)
    # round trips: +50 and -110 net of fees
    assert report["trades"] == 2
    assert report["win_rate"] == pytest.approx(0.5)
    assert report["profit_factor"] == pytest.approx(50 / 110)
    assert report["average_trade"] == D("-30")
    # open 10h-22h day 0 (12 h), 00h day 1 - 00h day 2 (24 h), 12h day 2 - end (12 h): 48 h of 72 h
    assert report["exposure_time"] == pytest.approx(48 / 72)


def test_organization_performance_combines_its_bots_only(bot_a, org_a, org_b):
    late = BotFactory(organization=org_a, capital=D("500"))
    MetricSnapshotFactory(bot=late, ts=at(1, 12), equity=D("500"))
    MetricSnapshotFactory(bot=late, ts=at(2, 12), equity=D("550"))
    theirs = BotFactory(organization=org_b)
    MetricSnapshotFactory(bot=theirs, ts=at(1, 12), equity=D("1"))
    MetricSnapshotFactory(bot=theirs, ts=at(2, 12), equity=D("1000000"))
    PositionFactory(bot=theirs, opened_at=at(0, 1), closed_at=at(0, 2), quantity=0, realized_pnl=D("999"))

    report = organization_performance(organization=org_a, start=DAY0, end=at(3, 0))
    # day 1: only bot A moves, 1050 -> 1100; day 2: (990 - 1100) + (550 - 500) over 1100 + 500
    expected = [50 / 1050, -60 / 1600]
    assert report["days"] == 2
    assert report["total_return"] == pytest.approx((1 + expected[0]) * (1 + expected[1]) - 1)
    assert report["trades"] == 2  # the other organization's round trip is not counted


def test_daily_and_weekly_summaries(bot_a):
    daily = bot_period_summary(bot=bot_a, start=DAY0, end=at(3, 0), freq="D")
    assert [(r["period"].date().day, r["end_equity"], r["pnl"], r["trades"]) for r in daily] == [
        (1, D("1050"), D("50"), 1),
        (2, D("1100"), D("50"), 0),
        (3, D("990"), D("-110"), 1),
    ]
    weekly = bot_period_summary(bot=bot_a, start=DAY0, end=at(3, 0), freq="W")
    assert len(weekly) == 1
    assert (weekly[0]["start_equity"], weekly[0]["end_equity"], weekly[0]["trade_pnl"]) == (
        D("1000"),
        D("990"),
        D("-60"),
    )


def test_trades_csv_lists_fills_and_round_trips(bot_a):
    order = OrderFactory(bot=bot_a, client_order_id="cid-x")
    FillFactory(order=order, trade_id="t-1", price=D("30000.5"), amount=D("0.01"), fee=D("0.3"), ts=at(0, 11))
    FillFactory(order=order, trade_id="t-2", ts=at(9, 0))  # outside the window
    fills = list(csv.reader(io.StringIO("".join(trades_csv(bot=bot_a, start=DAY0, end=at(3, 0))))))
    assert fills == [
        ["ts", "trade_id", "client_order_id", "symbol", "side", "price", "amount", "fee", "fee_currency"],
        ["2026-06-01T11:00:00+00:00", "t-1", "cid-x", "BTC/USDT", "buy", "30000.5", "0.01", "0.3", ""],
    ]
    trips = list(csv.reader(io.StringIO("".join(trades_csv(bot=bot_a, start=DAY0, end=at(3, 0), kind="round_trips")))))
    assert [row[5] for row in trips] == ["net_pnl", "50", "-110"]


@pytest.mark.urls("tests.analytics.urls")
def test_the_csv_view_serves_members_and_hides_other_organizations(client, alice, bob, bot_a):
    url = f"/analytics/bots/{bot_a.pk}/trades.csv?kind=round_trips&start=2026-06-01&end=2026-06-04"
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[1].startswith("BTC/USDT,2026-06-01T10:00:00+00:00,2026-06-01T22:00:00+00:00,60,10,50")
    assert client.get(url.replace("round_trips", "everything")).status_code == 400
    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the sign-in page
