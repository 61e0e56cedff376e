"""Inbound webhooks: TradingView-style alert JSON posted to a source's secret URL becomes a signal.

The URL token is the credential: the source stores its SHA-256 only (`webhook_token_rotate`).
A source may also require the signed variant: header `X-Signature: sha256=<hex>`, the HMAC-SHA256
with the source's signing secret of `f"{X-Timestamp}.{raw body}"`, with `X-Timestamp` in unix
seconds no more than `SIGNATURE_WINDOW_S` away from our clock. A signature that is sent is always
checked; `config["require_signature"]` refuses unsigned requests.

Payload (one JSON object, at most `MAX_BODY_BYTES`):
- `ticker`: "BTC/USDT", "BTCUSDT", "BINANCE:BTCUSDT" or "BTCUSDT.P" (the perpetual suffix is
  dropped). Without a slash the quote is the longest of `QUOTE_ASSETS` the ticker ends with.
- `exchange`: optional; else the ticker's "EXCHANGE:" prefix; else `config["exchange"]`.
- `action` or `side`: buy/long, sell/short, or exit/close (kind `exit`; its side is the other
  field's buy/sell when given, else neutral).
- `interval` or `timeframe`: TradingView's "1", "5", "15", "60", "240", "1D"/"D", or ours ("1h");
  else `config["timeframe"]`.
- `price`: optional positive number (a number or its text, as `{{close}}` renders).
- `confidence`: optional, 0 to 1; else `config["default_confidence"]`, else 1.
- `time`: optional, ISO 8601 or unix ms (`{{time}}`); checked and kept in the reasoning. The
  signal's bar is the one it arrives in.
- `comment` or `message`: optional text, the signal's reasoning.
- `id` or `nonce`: optional; the replay key when given.

A replay (the same nonce, else the same body and timestamp) answers 409 and stores nothing: the
receipt and the signal are written in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, event_record
from exchanges.market_data import TIMEFRAME_MS
from signals.models import Signal, SignalKind, SignalSide, SignalSource, SourceKind, WebhookReceipt
from signals.services import signal_record, token_digest

MAX_BODY_BYTES = 16 * 1024
SIGNATURE_WINDOW_S = 300
MAX_NONCE = 200
# Longest first, so ETHBUSD reads as ETH/BUSD, not ETHB/USD.
QUOTE_ASSETS = ("USDT", "USDC", "BUSD", "USD", "BTC", "ETH", "EUR")
TRADINGVIEW_INTERVALS = {"1": "1m", "5": "5m", "15": "15m", "60": "1h", "240": "4h", "1D": "1d", "D": "1d"}
ACTIONS = {
    "buy": SignalSide.BUY,
    "long": SignalSide.BUY,
    "sell": SignalSide.SELL,
    "short": SignalSide.SELL,
    "exit": None,
    "close": None,
}
SIGNATURE_PREFIX = "sha256="


class WebhookRefused(ApplicationError):
    """A refused webhook call; `status` is the HTTP answer (400, 401, 404, 409)."""

    def __init__(self, message: str, *, status: int, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message, field=field, code=code)
        self.status = status


@dataclass(frozen=True)
class Alert:
    """A parsed alert, ready for `signal_record`."""

    exchange: str
    symbol: str
    timeframe: str
    side: str
    kind: str
    confidence: Decimal
    price: Decimal | None
    reasoning: str
    nonce: str | None


def _bad(message: str, field: str) -> WebhookRefused:
    return WebhookRefused(message, status=400, field=field)


def ticker_symbol(ticker: Any) -> tuple[str, str]:
    """(exchange from an "EXCHANGE:" prefix or "", BASE/QUOTE) of a TradingView ticker."""
    text = str(ticker or "").strip().upper()
    exchange, colon, rest = text.partition(":")
    if not colon:
        exchange, rest = "", text
    if rest.endswith(".P"):
        rest = rest[:-2]
    if "/" in rest:
        base, _, quote = rest.partition("/")
    else:
        quote = next((q for q in QUOTE_ASSETS if rest.endswith(q) and len(rest) > len(q)), "")
        base = rest[: -len(quote)] if quote else ""
    if not base or not quote or not base.isalnum() or not quote.isalnum() or len(base) + len(quote) + 1 > 32:
        raise _bad(f"Ticker must be BASE/QUOTE or end with a known quote asset ({', '.join(QUOTE_ASSETS)}).", "ticker")
    return exchange.lower(), f"{base}/{quote}"


def timeframe_of(value: Any) -> str:
    """Our timeframe for a TradingView interval ("60") or one of ours ("1h")."""
    text = str(value).strip()
    tf = TRADINGVIEW_INTERVALS.get(text.upper()) or (text if text in TIMEFRAME_MS else None)
    if tf is None:
        raise _bad(
            f"Interval must be one of {', '.join(TRADINGVIEW_INTERVALS)} or {', '.join(TIMEFRAME_MS)}.", "interval"
        )
    return tf


def _side_kind(payload: dict[str, Any]) -> tuple[str, str]:
    given = [(name, str(payload[name]).strip().lower()) for name in ("action", "side") if payload.get(name)]
    if not given:
        raise _bad("Give the alert's action (buy, sell, long, short, exit or close).", "action")
    for name, value in given:
        if value not in ACTIONS:
            raise _bad(f"{name.capitalize()} must be buy, sell, long, short, exit or close.", name)
    sides = [ACTIONS[v] for _, v in given]
    if any(side is None for side in sides):
        # An exit: the side it takes (sell out of a long), when the other field says it.
        return next((s for s in sides if s is not None), SignalSide.NEUTRAL), SignalKind.EXIT
    return sides[0], SignalKind.DIRECTIONAL


def _decimal(value: Any, field: str, message: str) -> Decimal:
    if isinstance(value, bool):
        raise _bad(message, field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _bad(message, field) from None
    if not number.is_finite():
        raise _bad(message, field)
    return number


def _time(value: Any) -> dt.datetime:
    if (isinstance(value, int | float) and not isinstance(value, bool)) or str(value).strip().isdigit():
        try:
            return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise _bad("Time must be ISO 8601 or unix milliseconds.", "time") from None
    try:
        moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad("Time must be ISO 8601 or unix milliseconds.", "time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def alert_parse(body: bytes, *, config: dict[str, Any]) -> Alert:
    """The alert in a raw body, checked field by field; a 400 names the first field at fault."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("The body must be a JSON object.", "body") from None
    if not isinstance(payload, dict):
        raise _bad("The body must be a JSON object.", "body")
    if not payload.get("ticker"):
        raise _bad("Give the ticker, e.g. BINANCE:BTCUSDT.", "ticker")
    prefix, symbol = ticker_symbol(payload["ticker"])
    exchange = str(payload.get("exchange") or prefix or config.get("exchange") or "").strip().lower()
    if len(exchange) > 32:
        raise _bad("Exchange is at most 32 characters.", "exchange")
    side, kind = _side_kind(payload)
    interval = payload.get("interval") or payload.get("timeframe") or config.get("timeframe")
    if not interval:
        raise _bad("Give the interval (TradingView's {{interval}}).", "interval")
    timeframe = timeframe_of(interval)
    price = None
    if payload.get("price") not in (None, ""):
        price = _decimal(payload["price"], "price", "Price must be a positive number (did {{close}} render?).")
        if price <= 0:
            raise _bad("Price must be a positive number (did {{close}} render?).", "price")
    raw_confidence = payload.get("confidence")
    if raw_confidence in (None, ""):
        raw_confidence = config.get("default_confidence", 1)
    confidence = _decimal(raw_confidence, "confidence", "Confidence must be a number from 0 to 1.")
    if confidence < 0 or confidence > 1:
        raise _bad("Confidence must be a number from 0 to 1.", "confidence")
    text = payload.get("comment") or payload.get("message") or ""
    if not isinstance(text, str):
        raise _bad("Comment must be text.", "comment")
    if payload.get("time") not in (None, ""):
        text = f"{text} (alert time {_time(payload['time']).isoformat()})".strip()
    nonce = payload.get("id") if payload.get("id") not in (None, "") else payload.get("nonce")
    if nonce in (None, ""):
        nonce = None
    elif isinstance(nonce, bool) or not isinstance(nonce, str | int) or len(str(nonce)) > MAX_NONCE:
        raise _bad(f"Id must be text or a number of at most {MAX_NONCE} characters.", "id")
    return Alert(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        side=side,
        kind=kind,
        confidence=confidence.quantize(Decimal("0.0001")),
        price=price,
        reasoning=text,
        nonce=None if nonce is None else str(nonce),
    )


def signature_check(*, secret: str, body: bytes, signature: str, timestamp: str, now: dt.datetime) -> None:
    """The X-Signature of a signed call: HMAC-SHA256 of f"{timestamp}.{body}", inside the window."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        raise WebhookRefused(
            "A signed call needs X-Timestamp in unix seconds.", status=401, field="X-Timestamp", code="unsigned"
        ) from None
    if abs(now.timestamp() - sent_at) > SIGNATURE_WINDOW_S:
        raise WebhookRefused(
            f"X-Timestamp is more than {SIGNATURE_WINDOW_S} s from our clock: check the sender's clock.",
            status=401,
            field="X-Timestamp",
            code="stale",
        )
    expected = hmac.new(secret.encode(), f"{sent_at}.".encode() + body, hashlib.sha256).hexdigest()
    given = signature.strip()
    given = given[len(SIGNATURE_PREFIX) :] if given.lower().startswith(SIGNATURE_PREFIX) else given
    if not secret or not hmac.compare_digest(expected, given.lower()):
        raise WebhookRefused("The signature does not match.", status=401, field="X-Signature", code="bad_signature")


def webhook_source(*, token: str) -> SignalSource:
    """The enabled webhook source whose URL token this is; anything else is the same 404."""
    digest = token_digest(token)
    source = SignalSource.objects.filter(webhook_token_hash=digest).first() if token else None
    # Found by its digest (an index lookup); compared again in constant time all the same.
    if (
        source is None
        or not hmac.compare_digest(source.webhook_token_hash, digest)
        or source.kind != SourceKind.WEBHOOK
        or not source.enabled
    ):
        raise WebhookRefused(
            "No webhook at this URL: the token is unknown or was rotated, or its source is disabled.",
            status=404,
            code="not_found",
        )
    return source


def _receipt_digest(alert: Alert, body: bytes, timestamp: str | None) -> str:
    if alert.nonce is not None:
        return hashlib.sha256(f"nonce:{alert.nonce}".encode()).hexdigest()
    prefix = f"{timestamp}.".encode() if timestamp else b""
    return hashlib.sha256(prefix + body).hexdigest()


def _refusal_record(source: SignalSource, exc: WebhookRefused) -> None:
    """One event per refused call of a real source, so its owner can see why alerts are missing."""
    event_record(
        organization_id=source.organization_id,
        kind="signal.webhook_refused",
        message=f"Webhook call to {source.name!r} refused ({exc.status}): {exc.message}",
        level=EventLevel.WARNING,
        data={"source_id": source.pk, "status": exc.status, "code": exc.code, "field": exc.field},
    )


def webhook_receive(
    *,
    token: str,
    body: bytes,
    signature: str | None = None,
    timestamp: str | None = None,
    now: dt.datetime | None = None,
) -> Signal:
    """Record the signal of one webhook call, or raise `WebhookRefused` with nothing stored (the
    refusal of a real source is written to its event log)."""
    source = webhook_source(token=token)
    try:
        return _receive(source, body=body, signature=signature, timestamp=timestamp, now=now or timezone.now())
    except WebhookRefused as exc:
        _refusal_record(source, exc)
        raise


def _receive(
    source: SignalSource, *, body: bytes, signature: str | None, timestamp: str | None, now: dt.datetime
) -> Signal:
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRefused(
            f"The body is over {MAX_BODY_BYTES // 1024} KB.", status=400, field="body", code="too_large"
        )
    config = source.config if isinstance(source.config, dict) else {}
    if signature:
        signature_check(
            secret=source.webhook_hmac_secret or "", body=body, signature=signature, timestamp=timestamp, now=now
        )
    elif config.get("require_signature") is True:
        raise WebhookRefused(
            "This webhook takes signed calls only: send X-Signature and X-Timestamp.",
            status=401,
            field="X-Signature",
            code="unsigned",
        )
    alert = alert_parse(body, config=config)
    digest = _receipt_digest(alert, body, timestamp if signature else None)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    receipt = WebhookReceipt.objects.create(source=source, digest=digest)
            except IntegrityError:
                raise WebhookRefused(
                    "This alert was already received (same id, or same body and timestamp).",
                    status=409,
                    code="replayed",
                ) from None
            signal = signal_record(
                signal_source=source,
                exchange=alert.exchange,
                symbol=alert.symbol,
                timeframe=alert.timeframe,
                side=alert.side,
                kind=alert.kind,
                confidence=alert.confidence,
                price=alert.price,
                reasoning=alert.reasoning,
                now=now,
            )
            receipt.signal = signal
            receipt.save(update_fields=["signal"])
    except WebhookRefused:
        raise
    except ApplicationError as exc:
        raise WebhookRefused(exc.message, status=400, field=exc.field, code=exc.code) from None
    return signal
