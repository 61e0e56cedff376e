"""/positions, /orders, /profit, /daily, /balance and /signals as the chat reads them (the pure
command functions, on the test database), scoped to the link's organization, with clear answers
to bad arguments; and the live balance read from a loopback Binance through the real ccxt client."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from chatops.commands import (
    PAGE,
    balance_command,
    daily_command,
    orders_command,
    positions_command,
    profit_command,
    signals_command,
)
from chatops.services import link_claim, link_code_create
from core.errors import ApplicationError
from exchanges.paper import paper_balance_set
from organizations.models import Role
from signals.services import signal_record
from tests.exchanges.binance_server import BinanceServer
from tests.factories import (
    BotFactory,
    ExchangeAccountFactory,
    MetricSnapshotFactory,
    OrderFactory,
    PositionFactory,
    SignalSourceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(member, org_a):
    return link_claim(code=link_code_create(user=member(Role.VIEWER))[0], chat_id=7070)


def closed(bot, *, realized, fees="0", funding="0", days_ago=0, symbol="BTC/USDT"):
    at = timezone.now() - dt.timedelta(days=days_ago)
    return PositionFactory(
        bot=bot,
        symbol=symbol,
        quantity=Decimal("0"),
        realized_pnl=Decimal(realized),
        fees_paid=Decimal(fees),
        funding=Decimal(funding),
        opened_at=at - dt.timedelta(hours=1),
        closed_at=at,
    )


def test_positions_lists_open_ones_with_a_close_button_each_and_pages(link, org_a, org_b):
    bot = BotFactory(organization=org_a, name="grid-a")
    PositionFactory(
        bot=bot, quantity=Decimal("0.25"), average_entry_price=Decimal("61000.5"), unrealized_pnl=Decimal("12.5")
    )
    PositionFactory(bot=BotFactory(organization=org_a, name="short-a"), symbol="ETH/USDT", quantity=Decimal("-2"))
    closed(bot, realized="5")
    PositionFactory(bot=BotFactory(organization=org_b, name="theirs"))
    reply = positions_command(link)
    assert "grid-a: long 0.25 BTC/USDT @ 61,000.5000, uPnL +12.50" in reply.text
    assert "short-a: short 2 ETH/USDT" in reply.text and "theirs" not in reply.text
    assert [row[0][1] for row in reply.buttons] == [f"close:{p}" for p in sorted_ids(org_a)]

    for i in range(PAGE + 1):
        PositionFactory(bot=BotFactory(organization=org_a, name=f"many-{i:02d}"))
    first = positions_command(link)
    assert "page 1 of 2" in first.text and first.buttons[-1] == [("Next \u203a", "positions:2")]
    assert len(first.buttons) == PAGE + 1  # one Close button a row, then the pager
    assert "page 2 of 2" in positions_command(link, 2).text


def sorted_ids(org):
    from bots.models import Position

    return list(
        Position.objects.filter(organization=org, closed_at__isnull=True)
        .exclude(quantity=0)
        .order_by("bot__name", "symbol")
        .values_list("pk", flat=True)
    )


def test_orders_shows_only_working_orders_of_the_organization(link, org_a, org_b):
    bot = BotFactory(organization=org_a, name="maker")
    OrderFactory(bot=bot, status="open", side="sell", amount=Decimal("0.5"), price=Decimal("65000"))
    OrderFactory(bot=bot, status="partially_filled", amount=Decimal("1"), filled=Decimal("0.4"))
    OrderFactory(bot=bot, status="filled")
    OrderFactory(bot=BotFactory(organization=org_b), status="open", symbol="ETH/USDT")
    text = orders_command(link).text
    assert "maker: sell 0.5 BTC/USDT @ 65,000.0000 (open)" in text
    assert "(partially_filled, 0.4 filled)" in text
    assert len(text.splitlines()) == 3 and "ETH" not in text  # the heading and the two working orders
    theirs = orders_command(link_for(org_b)).text
    assert "ETH/USDT" in theirs and "maker" not in theirs


def link_for(org):
    """A viewer of `org` with a linked chat (used where another organization's view is checked)."""
    from tests.factories import MembershipFactory, UserFactory

    user = UserFactory()
    MembershipFactory(user=user, organization=org, role=Role.VIEWER)
    return link_claim(code=link_code_create(user=user)[0], chat_id=8000 + org.pk)


def test_profit_sums_round_trips_net_of_fees_and_funding_within_the_days(link, org_a, org_b):
    winner = BotFactory(organization=org_a, name="winner", capital=Decimal("1000"))
    loser = BotFactory(organization=org_a, name="loser", capital=Decimal("500"))
    closed(winner, realized="30", fees="2", funding="-1")  # net 27
    closed(winner, realized="10", fees="1", days_ago=10)  # net 9, outside 7 days
    closed(loser, realized="-8", fees="1")  # net -9
    closed(BotFactory(organization=org_b), realized="1000")
    PositionFactory(bot=winner, quantity=Decimal("0.1"), unrealized_pnl=Decimal("4.5"))
    MetricSnapshotFactory(bot=winner, equity=Decimal("1031.5"), balance=Decimal("1027"))
    MetricSnapshotFactory(bot=loser, equity=Decimal("491"), balance=Decimal("491"))

    week = profit_command(link, "7").text
    assert "the last 7 days" in week
    assert "Closed: 2 round trips, net +18.00 (fees 3.00), 1 won (50%)" in week
    assert "Best bot: winner +27.00" in week and "Worst bot: loser -9.00" in week
    assert "Open: 1 positions, unrealized +4.50" in week
    assert "Bots' equity 1,522.50 on capital 1,500.00 (+22.50)" in week
    everything = profit_command(link).text
    assert "all time" in everything and "Closed: 3 round trips, net +27.00" in everything
    assert "1000" not in everything.replace("1,000", "")  # org_b's trip is not counted

    for bad in ("seven", "0", "-3", "99999"):
        with pytest.raises(ApplicationError, match=r"/profit takes a number of days from 1 to 3650"):
            profit_command(link, bad)


def test_daily_lists_each_utc_day_with_its_net_and_trips(link, org_a):
    bot = BotFactory(organization=org_a)
    closed(bot, realized="12", fees="2")
    closed(bot, realized="-3")
    closed(bot, realized="7", days_ago=2)
    closed(bot, realized="100", days_ago=9)  # outside the default 7 days
    text = daily_command(link).text
    lines = text.splitlines()
    today = timezone.now().astimezone(dt.UTC).date()
    assert lines[0] == "Daily net PnL, last 7 days (UTC):" and len(lines) == 9
    assert lines[1].startswith(f"{today:%Y-%m-%d}") and lines[1].endswith("+7.00  2 trades")
    assert lines[3].startswith(f"{today - dt.timedelta(days=2):%Y-%m-%d}") and lines[3].endswith("+7.00  1 trade")
    assert lines[2].endswith("+0.00  0 trades") and lines[-1] == "Total +14.00"
    assert daily_command(link, "10").text.splitlines()[-1] == "Total +114.00"
    with pytest.raises(ApplicationError, match="/daily takes a number of days from 1 to 90"):
        daily_command(link, "365")


def test_balance_reads_paper_ledgers_and_a_live_exchange_and_says_why_one_fails(link, org_a, settings):
    paper = ExchangeAccountFactory(organization=org_a, exchange="paper", label="Paper desk")
    paper_balance_set(account=paper, asset="USDT", free=Decimal("2500.5"))
    paper_balance_set(account=paper, asset="BTC", free=Decimal("0.75"))
    paper_balance_set(account=paper, asset="ETH", free=Decimal("0"))
    ExchangeAccountFactory(organization=org_a, exchange="paper", label="Spare")
    with BinanceServer() as binance:
        settings.EXCHANGE_URL_OVERRIDES = {"binance": binance.base_url}
        settings.EXCHANGE_TIMEOUT_MS = 2000
        ExchangeAccountFactory(
            organization=org_a,
            exchange="binance",
            label="Binance main",
            api_key=binance.api_key,
            api_secret=binance.api_secret,
        )
        ExchangeAccountFactory(
            organization=org_a,
            exchange="binance",
            label="Binance wrong",
            api_key="wrong-key-XYZ",
            api_secret="wrong-secret-XYZ",
        )
        text = balance_command(link).text
    assert "Paper desk (paper)\n  USDT 2500.5\n  BTC 0.75" in text and "ETH" not in text.split("Binance")[0]
    assert "Spare (paper): empty" in text
    main = text.split("Binance main (binance)")[1].split("\n\n")[0]
    assert "USDT" in main  # the loopback account's funded assets
    wrong = text.split("Binance wrong (binance)")[1].split("\n\n")[0]
    assert wrong.startswith(": could not be read (AuthError") and "wrong-secret-XYZ" not in text
    assert "wrong-key-XYZ" not in text


def test_signals_lists_the_valid_ones_of_the_organization(link, org_a, org_b):
    source = SignalSourceFactory(organization=org_a, name="engine-1h")
    now = timezone.now()
    signal_record(signal_source=source, symbol="BTC/USDT", timeframe="1h", side="buy", confidence="0.82", now=now)
    signal_record(
        signal_source=source,
        symbol="ETH/USDT",
        timeframe="1h",
        side="sell",
        confidence="0.6",
        now=now - dt.timedelta(hours=5),
        bar_ts=now - dt.timedelta(hours=5),
    )  # expired after 3 hours
    signal_record(
        signal_source=SignalSourceFactory(organization=org_b),
        symbol="SOL/USDT",
        timeframe="1h",
        side="buy",
        confidence="0.9",
    )
    text = signals_command(link).text
    assert "BTC/USDT 1h: buy (directional), confidence 82%, engine-1h" in text
    assert "ETH/USDT" not in text and "SOL/USDT" not in text
