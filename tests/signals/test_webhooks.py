"""Inbound webhooks over HTTP: TradingView alerts become signals; bad, unsigned, stale or replayed
calls get a clear 4xx and store nothing."""

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from bots.models import BotEvent
from signals.models import Signal, SignalSource, WebhookReceipt
from signals.services import webhook_token_rotate
from signals.webhooks import ticker_symbol, timeframe_of
from tests.api.conftest import error_of
from tests.factories import SignalSourceFactory

pytestmark = pytest.mark.django_db

ALERT = {"ticker": "BINANCE:BTCUSDT", "action": "buy", "price": "43210.5", "interval": "60", "comment": "Breakout"}


@pytest.fixture(autouse=True)
def _fresh_throttles(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"test-webhook-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def hook(org_a):
    source = SignalSourceFactory(organization=org_a, name="TradingView", kind="webhook")
    token, secret = webhook_token_rotate(signal_source=source)
    return source, token, secret


def post(token, body, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return APIClient().post(f"/api/v1/signals/webhook/{token}/", raw, content_type="application/json", **headers)


def signed(secret, raw: bytes, ts: int | None = None) -> dict:
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    return {"HTTP_X_SIGNATURE": f"sha256={digest}", "HTTP_X_TIMESTAMP": str(ts)}


def test_it_records_a_tradingview_alert_as_a_signal(hook):
    source, token, _ = hook
    response = post(token, ALERT)
    assert response.status_code == 201, response.content
    signal = Signal.objects.get()
    assert response.json() == {
        "signal": signal.pk,
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "side": "buy",
        "kind": "directional",
    }
    assert (signal.source, signal.organization_id, signal.exchange) == (source, source.organization_id, "binance")
    assert (signal.price, signal.confidence, signal.reasoning) == (Decimal("43210.5"), Decimal("1"), "Breakout")
    assert WebhookReceipt.objects.get().signal == signal


def test_exit_and_close_are_exit_signals_taking_the_other_fields_side(hook):
    _, token, _ = hook
    assert post(token, {**ALERT, "action": "exit", "id": 1}).json()["kind"] == "exit"
    assert post(token, {**ALERT, "action": "exit", "id": 1}).status_code == 409
    closed = post(token, {"ticker": "ETHUSDC", "action": "close", "side": "sell", "interval": "5", "id": 2}).json()
    assert (closed["kind"], closed["side"], closed["symbol"], closed["timeframe"]) == ("exit", "sell", "ETH/USDC", "5m")
    assert Signal.objects.filter(kind="exit", side="neutral").count() == 1


def test_confidence_defaults_to_the_sources_config(hook):
    source, token, _ = hook
    source.config = {"default_confidence": 0.6, "exchange": "kraken"}
    source.save()
    post(token, {"ticker": "SOLUSD", "side": "short", "timeframe": "1D"})
    signal = Signal.objects.get()
    assert (signal.confidence, signal.side, signal.exchange, signal.symbol) == (
        Decimal("0.6"),
        "sell",
        "kraken",
        "SOL/USD",
    )
    post(token, {"ticker": "SOLUSD", "side": "long", "timeframe": "1D", "confidence": "0.25"})
    assert Signal.objects.order_by("-id").first().confidence == Decimal("0.25")


@pytest.mark.parametrize(
    ("ticker", "exchange", "symbol"),
    [
        ("BTCUSDT", "", "BTC/USDT"),
        ("BINANCE:ETHBUSD", "binance", "ETH/BUSD"),
        ("BYBIT:BTCUSDT.P", "bybit", "BTC/USDT"),
        ("ethbtc", "", "ETH/BTC"),
        ("ADA/EUR", "", "ADA/EUR"),
    ],
)
def test_tickers_map_to_base_quote(ticker, exchange, symbol):
    assert ticker_symbol(ticker) == (exchange, symbol)


@pytest.mark.parametrize(
    ("interval", "timeframe"), [("1", "1m"), ("15", "15m"), ("240", "4h"), ("D", "1d"), ("1h", "1h")]
)
def test_intervals_map_to_our_timeframes(interval, timeframe):
    assert timeframe_of(interval) == timeframe


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({**ALERT, "ticker": ""}, "ticker"),
        ({**ALERT, "ticker": "BTCXYZ"}, "ticker"),
        ({k: v for k, v in ALERT.items() if k != "action"}, "action"),
        ({**ALERT, "action": "hold"}, "action"),
        ({**ALERT, "price": "{{close}}"}, "price"),
        ({**ALERT, "price": -3}, "price"),
        ({**ALERT, "confidence": 1.5}, "confidence"),
        ({**ALERT, "confidence": "high"}, "confidence"),
        ({**ALERT, "interval": "3"}, "interval"),
        ({k: v for k, v in ALERT.items() if k != "interval"}, "interval"),
        ({**ALERT, "time": "yesterday"}, "time"),
        ({**ALERT, "comment": "x" * 17_000}, "body"),
    ],
)
def test_bad_payloads_get_400_naming_the_field_and_store_nothing(hook, body, field):
    _, token, _ = hook
    response = post(token, body)
    assert response.status_code == 400, response.content
    assert error_of(response)["field"] == field
    assert not Signal.objects.exists() and not WebhookReceipt.objects.exists()


def test_a_replayed_body_gets_409_and_stores_nothing_more(hook):
    _, token, _ = hook
    assert post(token, ALERT).status_code == 201
    again = post(token, ALERT)
    assert again.status_code == 409 and error_of(again)["code"] == "replayed"
    assert Signal.objects.count() == 1 and WebhookReceipt.objects.count() == 1


@pytest.mark.parametrize("token", ["unknown-token", ""])
def test_unknown_tokens_get_404_and_store_nothing(hook, token):
    response = post(token or "x", ALERT)
    assert response.status_code == 404
    assert "No webhook at this URL" in error_of(response)["message"]
    assert not Signal.objects.exists()


def test_disabled_rotated_and_non_webhook_sources_get_404(hook, org_a):
    source, token, _ = hook
    SignalSource.objects.filter(pk=source.pk).update(enabled=False)
    assert post(token, ALERT).status_code == 404
    SignalSource.objects.filter(pk=source.pk).update(enabled=True)
    webhook_token_rotate(signal_source=source)  # the old URL stops at once
    assert post(token, ALERT).status_code == 404
    engine = SignalSourceFactory(organization=org_a, kind="engine")
    SignalSource.objects.filter(pk=engine.pk).update(webhook_token_hash=hashlib.sha256(b"engine-token").hexdigest())
    assert post("engine-token", ALERT).status_code == 404
    assert not Signal.objects.exists()


def test_a_signed_call_is_accepted_and_its_timestamp_makes_it_unique(hook):
    source, token, secret = hook
    source.config = {"require_signature": True}
    source.save()
    raw = json.dumps(ALERT).encode()
    now = int(time.time())
    assert post(token, raw, **signed(secret, raw, now)).status_code == 201
    assert post(token, raw, **signed(secret, raw, now)).status_code == 409  # the same signed call again
    assert post(token, raw, **signed(secret, raw, now - 1)).status_code == 201  # a new alert, same text
    assert Signal.objects.count() == 2


def test_unsigned_calls_are_refused_when_the_source_requires_a_signature(hook):
    source, token, _ = hook
    source.config = {"require_signature": True}
    source.save()
    response = post(token, ALERT)
    assert response.status_code == 401 and error_of(response)["code"] == "unsigned"
    assert not Signal.objects.exists()


@pytest.mark.parametrize(
    ("tamper", "code"),
    [("body", "bad_signature"), ("secret", "bad_signature"), ("stale", "stale"), ("no-timestamp", "unsigned")],
)
def test_bad_or_stale_signatures_get_401_and_store_nothing(hook, tamper, code):
    source, token, secret = hook
    raw = json.dumps(ALERT).encode()
    headers = signed(
        "wrong" if tamper == "secret" else secret, raw, int(time.time()) - (301 if tamper == "stale" else 0)
    )
    if tamper == "no-timestamp":
        del headers["HTTP_X_TIMESTAMP"]
    response = post(token, raw + (b" " if tamper == "body" else b""), **headers)
    assert response.status_code == 401 and error_of(response)["code"] == code
    assert not Signal.objects.exists() and not WebhookReceipt.objects.exists()
    refused = BotEvent.objects.get(kind="signal.webhook_refused")
    assert refused.organization_id == source.organization_id and refused.data["status"] == 401
    assert secret not in refused.message and secret not in json.dumps(refused.data)


def test_a_webhook_of_org_a_writes_only_into_org_a(hook, org_b):
    source, token, _ = hook
    b_source = SignalSourceFactory(organization=org_b, kind="webhook")
    webhook_token_rotate(signal_source=b_source)
    post(token, {**ALERT, "source": b_source.pk, "organization": org_b.pk})
    assert list(Signal.objects.values_list("organization_id", "source_id")) == [(source.organization_id, source.pk)]


def test_calls_are_throttled_per_token(hook, org_a, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "signal_webhook": "2/min"},
    }
    _, token, _ = hook
    other = SignalSourceFactory(organization=org_a, kind="webhook")
    other_token, _ = webhook_token_rotate(signal_source=other)
    assert [post(token, {**ALERT, "id": n}).status_code for n in range(3)] == [201, 201, 429]
    assert post(other_token, ALERT).status_code == 201
