"""Signals in the API: sources (with the webhook secret shown once), watched markets, signals with
filters, the evaluation; roles, API key scopes and other organizations' rows."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from exchanges.models import Candle
from organizations.models import Role
from signals.models import Signal, SignalSource, WatchedMarket
from tests.api.conftest import error_of
from tests.factories import SignalFactory, SignalSourceFactory

pytestmark = pytest.mark.django_db

SOURCES = "/api/v1/signals/sources/"
MARKETS = "/api/v1/signals/watched-markets/"
SIGNALS = "/api/v1/signals/"


@pytest.fixture
def b_rows(org_b):
    source = SignalSourceFactory(organization=org_b, name="B engine")
    hook = SignalSourceFactory(organization=org_b, name="B hook", kind="webhook")
    market = WatchedMarket.objects.create(
        organization=org_b, source=source, exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )
    return {"source": source, "hook": hook, "market": market, "signal": SignalFactory(source=source)}


# -- sources ------------------------------------------------------------------------------------------
def test_an_admin_adds_edits_and_removes_a_source(client_for, alice, org_a):
    client = client_for(alice)
    created = client.post(SOURCES, {"name": "Engine", "kind": "engine", "weight": "2.5"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["weight"], body["organization"], body["has_webhook_token"]) == (
        "Engine",
        "2.500",
        org_a.pk,
        False,
    )
    url = f"{SOURCES}{body['id']}/"
    changed = client.patch(url, {"enabled": False, "alert_min_confidence": "0.8"}, format="json")
    assert changed.status_code == 200 and changed.json()["alert_min_confidence"] == "0.8000"
    refused = client.patch(url, {"kind": "webhook"}, format="json")
    assert refused.status_code == 400 and error_of(refused)["field"] == "kind"
    assert client.delete(url).status_code == 204
    assert not SignalSource.objects.exists()


def test_bad_source_values_name_the_field(client_for, alice, org_a):
    client = client_for(alice)
    assert error_of(client.post(SOURCES, {"name": "x", "kind": "oracle"}, format="json"))["field"] == "kind"
    response = client.post(SOURCES, {"name": "x", "kind": "engine", "weight": "101"}, format="json")
    assert response.status_code == 400 and error_of(response)["field"] == "weight"
    SignalSourceFactory(organization=org_a, name="Taken")
    assert error_of(client.post(SOURCES, {"name": "Taken", "kind": "engine"}, format="json"))["field"] == "name"


def test_a_trader_or_a_trade_key_cannot_add_a_source(client_for, member, make_key):
    trader = client_for(member(Role.TRADER))
    response = trader.post(SOURCES, {"name": "x", "kind": "engine"}, format="json")
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    key = client_for(key=make_key("read", "trade")[1])
    assert key.post(SOURCES, {"name": "x", "kind": "engine"}, format="json").status_code == 403
    assert (
        client_for(key=make_key("read", "admin")[1]).post(SOURCES, {"name": "x", "kind": "engine"}).status_code == 201
    )
    assert SignalSource.objects.count() == 1


def test_rotate_shows_the_token_and_secret_once_and_the_url_works(client_for, alice, org_a):
    client = client_for(alice)
    source = SignalSourceFactory(organization=org_a, kind="webhook")
    rotated = client.post(f"{SOURCES}{source.pk}/rotate-webhook/")
    assert rotated.status_code == 200, rotated.content
    secret = rotated.json()
    assert secret["webhook_url"] == f"http://testserver/api/v1/signals/webhook/{secret['token']}/"
    source.refresh_from_db()
    # Never again: not in the source's own answers.
    for answer in (client.get(f"{SOURCES}{source.pk}/"), client.get(SOURCES)):
        text = answer.content.decode()
        assert secret["token"] not in text and secret["signing_secret"] not in text
        assert source.webhook_token_hash not in text and "hmac" not in text
    assert client.get(f"{SOURCES}{source.pk}/").json()["has_webhook_token"] is True
    alert = {"ticker": "BTCUSDT", "action": "buy", "interval": "60"}
    posted = client_for().post(secret["webhook_url"], json.dumps(alert), content_type="application/json")
    assert posted.status_code == 201
    assert Signal.objects.get().source == source


def test_only_a_webhook_source_rotates_and_only_an_admin(client_for, alice, member, org_a):
    engine = SignalSourceFactory(organization=org_a, kind="engine")
    response = client_for(alice).post(f"{SOURCES}{engine.pk}/rotate-webhook/")
    assert response.status_code == 400 and error_of(response)["field"] == "kind"
    hook = SignalSourceFactory(organization=org_a, kind="webhook")
    assert client_for(member(Role.TRADER)).post(f"{SOURCES}{hook.pk}/rotate-webhook/").status_code == 403
    hook.refresh_from_db()
    assert hook.webhook_token_hash == ""


def test_source_list_query_count_does_not_grow(client_for, alice, org_a, django_assert_max_num_queries):
    for n in range(15):
        SignalSourceFactory(organization=org_a, name=f"s{n}")
    client = client_for(alice)
    with django_assert_max_num_queries(3):  # session, user, page
        response = client.get(SOURCES)
    assert len(response.json()["results"]) == 15


# -- watched markets ------------------------------------------------------------------------------------
def test_a_trader_watches_and_unwatches_a_market(client_for, member, org_a):
    client = client_for(member(Role.TRADER))
    source = SignalSourceFactory(organization=org_a, kind="engine")
    body = {"source": source.pk, "exchange": "Binance", "symbol": "eth/usdt", "timeframe": "5m"}
    created = client.post(MARKETS, body, format="json")
    assert created.status_code == 201, created.content
    assert {k: created.json()[k] for k in ("source", "exchange", "symbol", "timeframe", "organization")} == {
        "source": source.pk,
        "exchange": "binance",
        "symbol": "ETH/USDT",
        "timeframe": "5m",
        "organization": org_a.pk,
    }
    assert error_of(client.post(MARKETS, body, format="json"))["field"] == "symbol"  # already watched
    bad = client.post(MARKETS, {**body, "timeframe": "2h"}, format="json")
    assert bad.status_code == 400 and error_of(bad)["field"] == "timeframe"
    assert client.delete(f"{MARKETS}{created.json()['id']}/").status_code == 204
    assert not WatchedMarket.objects.exists()


def test_a_viewer_cannot_watch_a_market(client_for, member, org_a):
    source = SignalSourceFactory(organization=org_a, kind="engine")
    body = {"source": source.pk, "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
    assert client_for(member(Role.VIEWER)).post(MARKETS, body, format="json").status_code == 403


def test_it_cannot_watch_with_another_organizations_source(client_for, alice, b_rows):
    body = {"source": b_rows["source"].pk, "exchange": "binance", "symbol": "ETH/USDT", "timeframe": "1h"}
    response = client_for(alice).post(MARKETS, body, format="json")
    assert response.status_code == 400 and error_of(response)["field"] == "source"
    assert WatchedMarket.objects.count() == 1


def test_watched_market_list_query_count_does_not_grow(client_for, alice, org_a, django_assert_max_num_queries):
    source = SignalSourceFactory(organization=org_a)
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"):
        WatchedMarket.objects.create(
            organization=org_a, source=source, exchange="binance", symbol=symbol, timeframe="1h"
        )
    client = client_for(alice)
    with django_assert_max_num_queries(3):  # session, user, page
        response = client.get(MARKETS)
    assert len(response.json()["results"]) == 4


# -- signals ------------------------------------------------------------------------------------------
def test_signals_list_filters(client_for, alice, org_a, b_rows):
    engine, hook = SignalSourceFactory(organization=org_a), SignalSourceFactory(organization=org_a, kind="webhook")
    now = timezone.now()
    strong = SignalFactory(source=engine, confidence=Decimal("0.9"))
    sell = SignalFactory(source=engine, side="sell", symbol="ETH/USDT", timeframe="5m", confidence=Decimal("0.4"))
    exit_ = SignalFactory(source=hook, kind="exit", side="neutral")
    expired = SignalFactory(source=hook)
    Signal.objects.filter(pk=expired.pk).update(valid_until=now - dt.timedelta(minutes=1))
    Signal.objects.filter(pk=strong.pk).update(created_at=now - dt.timedelta(days=2))
    client = client_for(alice)

    def ids(**params):
        response = client.get(SIGNALS, params)
        assert response.status_code == 200, response.content
        return sorted(r["id"] for r in response.json()["results"])

    assert ids() == sorted([strong.pk, sell.pk, exit_.pk, expired.pk])  # none of org B's
    assert ids(source=hook.pk) == sorted([exit_.pk, expired.pk])
    assert ids(symbol="eth/usdt") == [sell.pk]
    assert ids(timeframe="5m", side="sell") == [sell.pk]
    assert ids(kind="exit") == [exit_.pk]
    assert ids(min_confidence="0.8") == [strong.pk]
    assert ids(min_confidence="0.75") == sorted([strong.pk, exit_.pk, expired.pk])
    assert ids(valid="true") == sorted([strong.pk, sell.pk, exit_.pk])
    assert ids(valid="false") == [expired.pk]
    assert ids(until=(now - dt.timedelta(days=1)).isoformat()) == [strong.pk]
    assert strong.pk not in ids(since=(now - dt.timedelta(days=1)).isoformat())
    assert ids(source=b_rows["source"].pk) == []
    bad = client.get(SIGNALS, {"side": "hold"})
    assert bad.status_code == 400 and error_of(bad)["field"] == "side"


def test_a_signal_detail_has_its_factors_and_reasoning(client_for, make_key, org_a):
    factors = {"rsi": {"score": 0.4, "reason": "RSI 28: oversold.", "value": 28.0}}
    signal = SignalFactory(
        source=SignalSourceFactory(organization=org_a), factors=factors, reasoning="Oversold.", price=Decimal("43000")
    )
    body = client_for(key=make_key("read")[1]).get(f"{SIGNALS}{signal.pk}/").json()
    assert (body["factors"], body["reasoning"], body["confidence"], body["side"]) == (
        factors,
        "Oversold.",
        "0.7500",
        "buy",
    )
    assert Decimal(body["price"]) == Decimal("43000")


def test_signal_list_query_count_does_not_grow(client_for, make_key, org_a, django_assert_num_queries):
    source = SignalSourceFactory(organization=org_a)
    for _ in range(20):
        SignalFactory(source=source, factors={"rsi": {"score": 0.1}})
    client = client_for(key=make_key("read")[1])
    client.get(SIGNALS)  # the key's last_used_at is written once a minute at most
    with django_assert_num_queries(2):  # the key, the page
        response = client.get(SIGNALS, {"min_confidence": "0.5"})
    assert len(response.json()["results"]) == 20


# -- evaluation ---------------------------------------------------------------------------------------
HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def history(org_a, org_b):
    """Closes 100, 102, 100, 104, 100, 99; buys of org A at bars 0, 2 and 4 (+2 %, +4 %, -1 %)."""
    for i, close in enumerate([100, 102, 100, 104, 100, 99]):
        c = Decimal(close)
        Candle.objects.create(
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            ts=T0 + i * HOUR,
            open=c,
            high=c,
            low=c,
            close=c,
            volume=Decimal(1),
        )
    source = SignalSourceFactory(organization=org_a, name="Engine")
    for bar in (0, 2, 4):
        SignalFactory(source=source, bar_ts=T0 + bar * HOUR, factors={"ema": {"score": 0.3}})
    # Org B's sell at bar 1 (102 -> 100: +1.96 %) must not count for org A.
    SignalFactory(source=SignalSourceFactory(organization=org_b), side="sell", bar_ts=T0 + HOUR)
    return source


def test_the_evaluation_reports_hit_rate_and_average_return(client_for, alice, history):
    response = client_for(alice).get(f"{SIGNALS}evaluation/", {"horizon": "1,5"})
    assert response.status_code == 200, response.content
    body = response.json()
    one, five = body["overall"]
    assert (one["horizon"], one["evaluated"], one["hit_rate_pct"], one["avg_return_pct"]) == (1, 3, 66.67, 1.6667)
    # Five bars on, only bar 0's buy has its candle (bar 5: 99, -1 %); the other two are pending.
    assert (five["evaluated"], five["pending"], five["hit_rate_pct"], five["avg_return_pct"]) == (1, 2, 0.0, -1.0)
    assert [(s["source_id"], s["name"], s["signals"]) for s in body["sources"]] == [(history.pk, "Engine", 3)]
    assert [(f["factor"], f["votes"], f["horizons"][0]["hits"]) for f in body["factors"]] == [("ema", 3, 2)]


def test_the_evaluation_of_another_organizations_source_is_empty(client_for, alice, bob, history, b_rows):
    body = client_for(alice).get(f"{SIGNALS}evaluation/", {"source": b_rows["source"].pk, "horizon": 1}).json()
    assert (body["signals"], body["sources"]) == (0, [])
    # And bob sees only org B's sell: +1.96 % on bar 1.
    bob_body = client_for(bob).get(f"{SIGNALS}evaluation/", {"horizon": 1}).json()
    assert bob_body["overall"][0]["evaluated"] == 1 and bob_body["overall"][0]["avg_return_pct"] == 1.9608


@pytest.mark.parametrize(("params", "field"), [({"horizon": "0"}, "horizon"), ({"since": "soon"}, "since")])
def test_the_evaluation_refuses_bad_parameters(client_for, alice, params, field):
    response = client_for(alice).get(f"{SIGNALS}evaluation/", params)
    assert response.status_code == 400 and error_of(response)["field"] == field


# -- other organizations ----------------------------------------------------------------------------------
DETAIL_ROUTES = [
    ("get", SOURCES + "{}/", "source", None),
    ("put", SOURCES + "{}/", "source", {"name": "taken", "kind": "engine"}),
    ("patch", SOURCES + "{}/", "source", {"name": "taken"}),
    ("delete", SOURCES + "{}/", "source", None),
    ("post", SOURCES + "{}/rotate-webhook/", "hook", None),
    ("get", MARKETS + "{}/", "market", None),
    ("delete", MARKETS + "{}/", "market", None),
    ("get", SIGNALS + "{}/", "signal", None),
]


@pytest.mark.parametrize("how", ["session", "key"])
@pytest.mark.parametrize("route", DETAIL_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_it_hides_other_organizations_signal_rows(client_for, alice, make_key, b_rows, route, how):
    method, template, kind, body = route
    client = client_for(alice) if how == "session" else client_for(key=make_key("read", "trade", "admin")[1])
    response = getattr(client, method)(template.format(b_rows[kind].pk), body, format="json")
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"
    source = SignalSource.objects.get(pk=b_rows["source"].pk)
    assert source.name == "B engine"
    assert SignalSource.objects.get(pk=b_rows["hook"].pk).webhook_token_hash == ""
    assert WatchedMarket.objects.filter(pk=b_rows["market"].pk).exists()


def test_lists_show_only_the_callers_organization(client_for, alice, org_a, b_rows):
    SignalSourceFactory(organization=org_a, name="Mine")
    client = client_for(alice)
    assert [r["name"] for r in client.get(SOURCES).json()["results"]] == ["Mine"]
    assert client.get(MARKETS).json()["results"] == []
    assert client.get(SIGNALS).json()["results"] == []
