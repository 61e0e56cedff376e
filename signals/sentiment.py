"""News sentiment: headlines from RSS and Atom feeds, scored by VADER (docs/signals.md, "Sentiment").

`headlines_fetch` reads each feed over HTTP (httpx, with a timeout and a size cap) and parses it with
feedparser; a feed that cannot be read (unreachable, an HTTP error, not a feed) is skipped and
listed with its reason, the others still count. `sentiment_factor` is pure: VADER's compound
score (-1..+1) of each headline, the mean over the headlines about the market's base asset, or
over all headlines when none names it (a general market feed still says something about the mood).
A headline names an asset by its ticker in capitals as a whole word ("BTC") or by one of its names
in any case ("bitcoin"), as listed in `ASSET_NAMES`; other bases match their ticker only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import feedparser
import httpx
from django.utils import timezone
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.errors import ApplicationError
from signals.factors.base import FactorResult, clamp
from signals.models import Signal, SignalSource, SourceKind
from signals.services import signal_record

FEED_TIMEOUT = 10.0
MAX_ITEMS = 50  # per feed
MAX_FEEDS = 20
MAX_FEED_BYTES = 2_000_000
MAX_LISTED = 10
# VADER's own neutral band: a mean compound inside +-0.05 is no view.
DEFAULT_THRESHOLD = 0.05
USER_AGENT = "trading-backoffice-signals/1"

# Names a headline may use for a base asset, besides its ticker.
ASSET_NAMES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "XBT"),
    "ETH": ("ethereum", "ether"),
    "SOL": ("solana",),
    "XRP": ("ripple",),
    "ADA": ("cardano",),
    "DOT": ("polkadot",),
    "LINK": ("chainlink",),
    "LTC": ("litecoin",),
    "BNB": ("binance coin",),
    "DOGE": ("dogecoin",),
}

_analyzer: SentimentIntensityAnalyzer | None = None


def analyzer() -> SentimentIntensityAnalyzer:
    """One VADER analyzer per process: loading its lexicon takes a while."""
    global _analyzer
    if _analyzer is None:
        _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


@dataclass(frozen=True)
class Headline:
    title: str
    link: str
    feed: str


@dataclass
class Headlines:
    """What the feeds gave: the headlines (feed order, duplicates dropped) and the feeds skipped."""

    items: list[Headline] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


def _read(client: httpx.Client, url: str) -> bytes:
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_FEED_BYTES:
                raise ValueError(f"larger than {MAX_FEED_BYTES} bytes")
        return bytes(body)


def headlines_fetch(urls: Iterable[str], *, timeout: float = FEED_TIMEOUT, max_items: int = MAX_ITEMS) -> Headlines:
    """The headlines of the feeds at `urls` (RSS or Atom), at most `max_items` of each. A feed
    that is unreachable, answers other than 200, or is not a feed is listed in `failed` with the
    reason; it never stops the others."""
    out = Headlines()
    seen: set[str] = set()
    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=3,
        headers={"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, application/xml"},
    ) as client:
        for url in urls:
            url = str(url)
            if not url.startswith(("http://", "https://")):
                out.failed.append({"url": url[:300], "reason": "not an http(s) URL"})
                continue
            try:
                raw = _read(client, url)
            except httpx.TimeoutException:
                out.failed.append({"url": url, "reason": "timed out"})
                continue
            except httpx.HTTPError as exc:
                out.failed.append({"url": url, "reason": f"unreachable: {type(exc).__name__}"})
                continue
            except ValueError as exc:
                out.failed.append({"url": url, "reason": str(exc)})
                continue
            parsed = feedparser.parse(raw)
            # feedparser is lenient: a slightly broken feed still has entries and counts; a body
            # with no entries that is not a recognised feed is garbage.
            if not parsed.entries and (parsed.bozo or not parsed.version):
                why = type(parsed.get("bozo_exception")).__name__ if parsed.bozo else "no feed found"
                out.failed.append({"url": url, "reason": f"not an RSS or Atom feed ({why})"})
                continue
            for entry in parsed.entries[:max_items]:
                title = " ".join(str(entry.get("title") or "").split())
                if not title or title.lower() in seen:
                    continue
                seen.add(title.lower())
                out.items.append(Headline(title=title[:500], link=str(entry.get("link") or "")[:500], feed=url))
    return out


def _pattern(base: str) -> tuple[re.Pattern, re.Pattern | None]:
    ticker = re.compile(rf"(?<![A-Za-z0-9]){re.escape(base)}(?![A-Za-z0-9])")
    names = [n for n in ASSET_NAMES.get(base, ()) if not n.isupper()]
    tickers = [n for n in ASSET_NAMES.get(base, ()) if n.isupper()]
    if tickers:
        ticker = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(map(re.escape, [base, *tickers]))})(?![A-Za-z0-9])")
    name = re.compile(rf"\b(?:{'|'.join(map(re.escape, names))})\b", re.IGNORECASE) if names else None
    return ticker, name


def mentions(title: str, *, base: str) -> bool:
    """Whether the headline names the asset `base` (see the module docstring)."""
    ticker, name = _pattern(base.upper())
    return bool(ticker.search(title) or (name and name.search(title)))


def sentiment_factor(headlines: Headlines | Iterable[Headline], *, symbol: str) -> FactorResult:
    """The mean VADER compound score of the headlines about `symbol`'s base asset (all headlines
    when none is about it) as the `sentiment` factor. Detail: `count` scored, `matched` (whether
    they were about the asset), the first 10 `headlines` with their compound and the `failed` feeds."""
    failed = headlines.failed if isinstance(headlines, Headlines) else []
    items = headlines.items if isinstance(headlines, Headlines) else list(headlines)
    base = str(symbol).upper().split("/")[0].strip()
    about = [h for h in items if mentions(h.title, base=base)]
    matched = bool(about)
    chosen = about if matched else items
    scored = [(h, analyzer().polarity_scores(h.title)["compound"]) for h in chosen]
    detail: dict[str, Any] = {
        "count": len(scored),
        "matched": matched,
        "headlines": [{"title": h.title, "link": h.link, "compound": c} for h, c in scored[:MAX_LISTED]],
        "failed": list(failed),
    }
    if not scored:
        return FactorResult("sentiment", 0.0, "No headlines to score.", detail)
    mean = sum(c for _, c in scored) / len(scored)
    what = f"{base} headlines" if matched else f"headlines (none names {base})"
    reason = f"Mean VADER sentiment of {len(scored)} {what}: {mean:+.3f}."
    return FactorResult("sentiment", clamp(mean), reason, detail)


def sentiment_signal(
    *, signal_source: SignalSource, symbol: str, timeframe: str, now: dt.datetime | None = None
) -> Signal:
    """Read the source's feeds (`config["feeds"]`, a list of URLs), score them and store the call:
    buy when the mean sentiment is at least `config["threshold"]` (default 0.05), sell when at most
    minus that, else neutral; confidence is the mean's size (0 when neutral). Nothing is stored
    when no feed could be read or no headline was found."""
    if signal_source.kind != SourceKind.SENTIMENT:
        raise ApplicationError("Only a sentiment source reads news feeds.", field="source")
    config = signal_source.config or {}
    feeds = config.get("feeds")
    if not isinstance(feeds, list) or not feeds or not all(isinstance(u, str) for u in feeds):
        raise ApplicationError("A sentiment source needs config.feeds, a list of feed URLs.", field="config")
    if len(feeds) > MAX_FEEDS:
        raise ApplicationError(f"At most {MAX_FEEDS} feeds per source.", field="config")
    threshold = config.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ApplicationError("config.threshold must be a number from 0 to 1.", field="config")
    fetched = headlines_fetch(feeds)
    if len(fetched.failed) == len(feeds):
        reasons = "; ".join(f"{f['url']}: {f['reason']}" for f in fetched.failed)
        raise ApplicationError(f"No feed could be read ({reasons})."[:500], field="config")
    result = sentiment_factor(fetched, symbol=symbol)
    if result.detail["count"] == 0:
        raise ApplicationError("The feeds have no headlines.", field="config")
    side = "buy" if result.score >= threshold else "sell" if result.score <= -threshold else "neutral"
    confidence = 0.0 if side == "neutral" else min(1.0, abs(result.score))
    return signal_record(
        signal_source=signal_source,
        symbol=symbol,
        timeframe=timeframe,
        side=side,
        confidence=confidence,
        factors={"sentiment": result.as_json()},
        reasoning=result.reason,
        now=now or timezone.now(),
    )
