"""News sentiment: RSS and Atom feeds from a loopback server, scored by VADER."""

from decimal import Decimal

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.errors import ApplicationError
from signals.models import Signal
from signals.sentiment import Headline, Headlines, headlines_fetch, mentions, sentiment_factor, sentiment_signal
from tests.factories import SignalSourceFactory
from tests.signals.feed_server import FeedServer

RSS_TITLES = [
    "Bitcoin rallies as investors cheer great ETF news",
    "BTC miners face terrible losses after the crash",
    "Ethereum upgrade is a huge success",
]
ATOM_TITLES = [
    "Bitcoin adoption grows and analysts are happy",
    "Markets calm ahead of the Fed decision",
    "Bitcoin rallies as investors cheer great ETF news",  # in both feeds: counted once
]


def rss(titles: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://news.example/{i}</link><guid>rss-{i}</guid></item>"
        for i, t in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Crypto news</title>'
        f"<link>https://news.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def atom(titles: list[str]) -> bytes:
    entries = "".join(
        f'<entry><title>{t}</title><link href="https://atom.example/{i}"/><id>urn:atom:{i}</id>'
        "<updated>2026-12-07T05:00:00Z</updated></entry>"
        for i, t in enumerate(titles)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Markets</title>'
        f"<id>urn:atom</id><updated>2026-12-07T05:00:00Z</updated>{entries}</feed>"
    ).encode()


def compound(title: str) -> float:
    return SentimentIntensityAnalyzer().polarity_scores(title)["compound"]


@pytest.fixture
def feeds():
    with FeedServer(
        {
            "/rss.xml": (200, "application/rss+xml", rss(RSS_TITLES)),
            "/atom.xml": (200, "application/atom+xml", atom(ATOM_TITLES)),
            "/garbage.xml": (200, "application/xml", b"<<< this is { not a feed"),
            "/page.html": (200, "text/html", b"<html><body><p>Hello</p></body></html>"),
        }
    ) as server:
        yield server


def test_rss_and_atom_headlines_are_read_and_bad_feeds_listed(feeds):
    got = headlines_fetch(
        [feeds.url("/rss.xml"), feeds.url("/missing.xml"), feeds.url("/atom.xml"), feeds.url("/garbage.xml")],
        timeout=2,
    )
    assert [h.title for h in got.items] == [*RSS_TITLES, *ATOM_TITLES[:2]]
    assert got.items[0].link == "https://news.example/0" and got.items[3].link == "https://atom.example/0"
    assert got.items[3].feed == feeds.url("/atom.xml")
    assert got.failed[0] == {"url": feeds.url("/missing.xml"), "reason": "HTTP 404"}
    assert got.failed[1]["url"] == feeds.url("/garbage.xml")
    assert got.failed[1]["reason"].startswith("not an RSS or Atom feed")
    assert len(got.failed) == 2


def test_an_unreachable_feed_a_web_page_and_a_bad_scheme_are_skipped(feeds):
    got = headlines_fetch(
        ["http://127.0.0.1:9/feed", feeds.url("/page.html"), "file:///etc/passwd", feeds.url("/rss.xml")],
        timeout=2,
        max_items=1,
    )
    assert [h.title for h in got.items] == RSS_TITLES[:1]  # max_items per feed
    assert [f["reason"] for f in got.failed] == [
        "unreachable: ConnectError",
        "not an RSS or Atom feed (no feed found)",
        "not an http(s) URL",
    ]


def test_the_score_is_vaders_mean_over_the_headlines_about_the_asset(feeds):
    got = headlines_fetch([feeds.url("/rss.xml"), feeds.url("/atom.xml"), feeds.url("/missing.xml")], timeout=2)
    result = sentiment_factor(got, symbol="BTC/USDT")
    about = [RSS_TITLES[0], RSS_TITLES[1], ATOM_TITLES[0]]
    expected = [compound(t) for t in about]
    assert result.name == "sentiment"
    assert result.score == pytest.approx(sum(expected) / 3)
    assert result.detail["count"] == 3 and result.detail["matched"] is True
    assert [h["title"] for h in result.detail["headlines"]] == about
    assert [h["compound"] for h in result.detail["headlines"]] == expected
    assert result.detail["failed"] == [{"url": feeds.url("/missing.xml"), "reason": "HTTP 404"}]
    # VADER reads the words: "great", "cheer" up; "terrible", "losses", "crash" down.
    assert expected[0] > 0.5 and expected[1] < -0.5 and expected[2] > 0.5
    assert "3 BTC headlines" in result.reason


def test_all_headlines_count_when_none_names_the_asset():
    items = [Headline("Markets are great today", "", "f"), Headline("Stocks crash badly", "", "f")]
    result = sentiment_factor(items, symbol="SOL/USDT")
    assert result.detail["matched"] is False and result.detail["count"] == 2
    assert result.score == pytest.approx((compound(items[0].title) + compound(items[1].title)) / 2)
    assert "none names SOL" in result.reason


def test_no_headlines_is_no_view():
    result = sentiment_factor(Headlines(), symbol="BTC/USDT")
    assert (result.score, result.detail["count"]) == (0.0, 0)


def test_at_most_ten_headlines_are_listed_but_all_count():
    items = [Headline(f"Bitcoin good news {i}", "", "f") for i in range(12)]
    result = sentiment_factor(items, symbol="BTC/USDT")
    assert result.detail["count"] == 12 and len(result.detail["headlines"]) == 10


@pytest.mark.parametrize(
    ("title", "base", "named"),
    [
        ("Bitcoin hits a high", "BTC", True),
        ("BITCOIN hits a high", "BTC", True),
        ("BTC hits a high", "BTC", True),
        ("XBT futures open", "BTC", True),
        ("btc hits a high", "BTC", False),  # a ticker counts in capitals only
        ("BTCUSDT perpetual", "BTC", False),
        ("Connect the DOTs", "DOT", False),
        ("DOT jumps 5%", "DOT", True),
        ("Polkadot jumps", "DOT", True),
        ("the dot com bubble", "DOT", False),
        ("ARB token airdrop", "ARB", True),  # no names listed: the ticker alone
    ],
)
def test_a_headline_names_an_asset_by_ticker_or_name(title, base, named):
    assert mentions(title, base=base) is named


@pytest.mark.django_db
def test_a_sentiment_signal_is_stored_from_the_good_feeds(org_a, feeds):
    urls = [feeds.url("/rss.xml"), feeds.url("/garbage.xml"), feeds.url("/atom.xml"), feeds.url("/nope.xml")]
    source = SignalSourceFactory(organization=org_a, kind="sentiment", config={"feeds": urls})
    sig = sentiment_signal(signal_source=source, symbol="btc/usdt", timeframe="1h")
    # VADER: +0.8126 (great, cheer), -0.8176 (terrible, losses, crash), +0.5719 (happy); mean 0.18897
    # is above the 0.05 neutral band: a buy at that confidence.
    assert [compound(t) for t in (RSS_TITLES[0], RSS_TITLES[1], ATOM_TITLES[0])] == [0.8126, -0.8176, 0.5719]
    assert (sig.side, sig.confidence, sig.symbol) == ("buy", Decimal("0.1890"), "BTC/USDT")
    factor = sig.factors["sentiment"]
    assert factor["count"] == 3 and factor["score"] == 0.189
    assert [f["url"] for f in factor["failed"]] == [urls[1], urls[3]]
    assert sig.reasoning == "Mean VADER sentiment of 3 BTC headlines: +0.189."


@pytest.mark.django_db
def test_a_mean_inside_the_neutral_band_is_a_neutral_signal(org_a, feeds):
    source = SignalSourceFactory(organization=org_a, kind="sentiment", config={"feeds": [feeds.url("/rss.xml")]})
    sig = sentiment_signal(signal_source=source, symbol="BTC/USDT", timeframe="1h")
    # (0.8126 - 0.8176) / 2 = -0.0025: no view.
    assert (sig.side, sig.confidence, sig.factors["sentiment"]["score"]) == ("neutral", Decimal("0"), -0.0025)


@pytest.mark.django_db
def test_nothing_is_stored_when_no_feed_can_be_read(org_a, feeds):
    source = SignalSourceFactory(
        organization=org_a, kind="sentiment", config={"feeds": [feeds.url("/garbage.xml"), feeds.url("/nope.xml")]}
    )
    with pytest.raises(ApplicationError) as e:
        sentiment_signal(signal_source=source, symbol="BTC/USDT", timeframe="1h")
    assert "No feed could be read" in e.value.message and "HTTP 404" in e.value.message
    assert not Signal.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("config", [{}, {"feeds": "http://x"}, {"feeds": []}, {"feeds": ["http://x"], "threshold": 2}])
def test_a_bad_config_is_refused_before_any_fetch(org_a, feeds, config):
    source = SignalSourceFactory(organization=org_a, kind="sentiment", config=config)
    with pytest.raises(ApplicationError) as e:
        sentiment_signal(signal_source=source, symbol="BTC/USDT", timeframe="1h")
    assert e.value.field == "config" and feeds.paths == []
