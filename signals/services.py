"""Writes of the signals app: sources, watched markets and signals, each audited in the event log.

`signal_record` is the one way a signal is stored, whoever produced it (the factor engine, the AI
factor, sentiment, a webhook, a person): it validates the values, stores the row, writes a
`signal.recorded` event when the source's alert threshold is met (alert rules match it like any
event) and sends `signal_recorded` once the transaction commits (live frames, followers).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.events import EventLevel, EventSource, event_record
from exchanges.market_data import TIMEFRAME_MS
from organizations.models import Organization, Role
from organizations.permissions import require_role
from signals.models import Signal, SignalKind, SignalSide, SignalSource, SourceKind, WatchedMarket
from signals.signals import signal_recorded

SOURCE_FIELDS = ("name", "kind", "weight", "enabled", "config", "alert_min_confidence")
# A signal with no explicit validity lasts this many bars of its timeframe.
DEFAULT_VALID_BARS = 3
MAX_REASONING = 4000


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _confidence(value: Any) -> Decimal:
    try:
        c = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ApplicationError("Confidence must be a number from 0 to 1.", field="confidence") from None
    if not c.is_finite() or c < 0 or c > 1:
        raise ApplicationError("Confidence must be a number from 0 to 1.", field="confidence")
    return c.quantize(Decimal("0.0001"))


def _weight(value: Any) -> Decimal:
    try:
        w = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ApplicationError("Weight must be a number from 0 to 100.", field="weight") from None
    if not w.is_finite() or w < 0 or w > 100:
        raise ApplicationError("Weight must be a number from 0 to 100.", field="weight")
    return w.quantize(Decimal("0.001"))


def _timeframe(value: str) -> str:
    if value not in TIMEFRAME_MS:
        raise ApplicationError(f"Timeframe must be one of {', '.join(TIMEFRAME_MS)}.", field="timeframe")
    return value


def _symbol(value: Any) -> str:
    s = str(value or "").strip().upper()
    if not s or len(s) > 32 or "/" not in s:
        raise ApplicationError("Symbol must look like BASE/QUOTE (e.g. BTC/USDT).", field="symbol")
    return s


# -- sources ----------------------------------------------------------------------------------------
def _source_values(values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    unknown = set(values) - set(SOURCE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    out: dict[str, Any] = {}
    if "name" in values or not partial:
        name = str(values.get("name") or "").strip()
        if not name or len(name) > 64:
            raise ApplicationError("Give the source a name of 1 to 64 characters.", field="name")
        out["name"] = name
    if "kind" in values or not partial:
        if values.get("kind") not in SourceKind.values:
            raise ApplicationError(f"Kind must be one of {', '.join(SourceKind.values)}.", field="kind")
        out["kind"] = values["kind"]
    if "weight" in values:
        out["weight"] = _weight(values["weight"])
    if "enabled" in values:
        if not isinstance(values["enabled"], bool):
            raise ApplicationError("Enabled must be true or false.", field="enabled")
        out["enabled"] = values["enabled"]
    if "config" in values:
        if not isinstance(values["config"], dict):
            raise ApplicationError("Config must be a JSON object.", field="config")
        out["config"] = values["config"]
    if "alert_min_confidence" in values:
        v = values["alert_min_confidence"]
        out["alert_min_confidence"] = None if v in (None, "") else _confidence(v)
    return out


def source_create(*, organization: Organization, user=None, source: str = EventSource.SYSTEM, **values) -> SignalSource:
    """A new signal source. A webhook source gets its URL token with `webhook_token_rotate`."""
    if user is not None:
        require_role(user=user, organization=organization, role=Role.ADMIN, action="add a signal source")
    clean = _source_values(values, partial=False)
    try:
        with transaction.atomic():
            row = SignalSource.objects.create(organization=organization, **clean)
            event_record(
                organization_id=organization.pk,
                kind="signal.source_created",
                message=f"Signal source {row.name!r} ({row.kind}) added.",
                actor=user,
                source=source,
                data={"source_id": row.pk},
            )
    except IntegrityError:
        raise ApplicationError(f"A source named {clean['name']!r} already exists.", field="name") from None
    return row


def source_update(
    *, signal_source: SignalSource, user=None, source: str = EventSource.SYSTEM, **values
) -> SignalSource:
    """Change a source's fields; the kind is fixed once made."""
    if user is not None:
        require_role(
            user=user, organization=signal_source.organization_id, role=Role.ADMIN, action="change a signal source"
        )
    clean = _source_values(values, partial=True)
    if "kind" in clean and clean["kind"] != signal_source.kind:
        raise ApplicationError("A source's kind cannot change; add a new source instead.", field="kind")
    changed = {k: v for k, v in clean.items() if getattr(signal_source, k) != v}
    if not changed:
        return signal_source
    for k, v in changed.items():
        setattr(signal_source, k, v)
    try:
        with transaction.atomic():
            signal_source.save(update_fields=[*changed, "updated_at"])
            event_record(
                organization_id=signal_source.organization_id,
                kind="signal.source_changed",
                message=f"Signal source {signal_source.name!r} changed: {', '.join(sorted(changed))}.",
                actor=user,
                source=source,
                data={"source_id": signal_source.pk, "fields": sorted(changed)},
            )
    except IntegrityError:
        raise ApplicationError(f"A source named {signal_source.name!r} already exists.", field="name") from None
    return signal_source


def source_delete(*, signal_source: SignalSource, user=None, source: str = EventSource.SYSTEM) -> None:
    """Remove a source with its signals."""
    require_role(
        user=user, organization=signal_source.organization_id, role=Role.ADMIN, action="remove a signal source"
    )
    _delete_audited(
        signal_source,
        kind="signal.source_deleted",
        message=f"Signal source {signal_source.name!r} removed.",
        user=user,
        source=source,
        source_id=signal_source.pk,
    )


def _delete_audited(row, *, kind: str, message: str, user, source: str, **data) -> None:
    """Delete `row` with its audit event, in one transaction."""
    with transaction.atomic():
        event_record(
            organization_id=row.organization_id, kind=kind, message=message, actor=user, source=source, data=data
        )
        row.delete()


def webhook_token_rotate(
    *, signal_source: SignalSource, user=None, source: str = EventSource.SYSTEM
) -> tuple[str, str]:
    """A new secret URL token and HMAC secret for a webhook source; returned once, stored as the
    token's digest and the encrypted secret. The old URL stops working at once."""
    if signal_source.kind != SourceKind.WEBHOOK:
        raise ApplicationError("Only a webhook source has a URL token.", field="kind")
    if user is not None:
        require_role(
            user=user, organization=signal_source.organization_id, role=Role.ADMIN, action="rotate a webhook secret"
        )
    token = secrets.token_urlsafe(32)
    hmac_secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        signal_source.webhook_token_hash = token_digest(token)
        signal_source.webhook_hmac_secret = hmac_secret
        signal_source.save(update_fields=["webhook_token_hash", "webhook_hmac_secret", "updated_at"])
        event_record(
            organization_id=signal_source.organization_id,
            kind="signal.webhook_rotated",
            message=f"Webhook URL and signing secret of {signal_source.name!r} rotated.",
            actor=user,
            source=source,
            data={"source_id": signal_source.pk},
        )
    return token, hmac_secret


# -- watched markets --------------------------------------------------------------------------------
def watched_market_add(
    *,
    signal_source: SignalSource,
    exchange: str,
    symbol: str,
    timeframe: str,
    user=None,
    source: str = EventSource.SYSTEM,
) -> WatchedMarket:
    """Have the beat compute `signal_source`'s signals on this market at each candle close."""
    if signal_source.kind != SourceKind.ENGINE and signal_source.kind != SourceKind.AI:
        raise ApplicationError("Only a factor-engine or AI source computes signals on candles.", field="source")
    if user is not None:
        require_role(user=user, organization=signal_source.organization_id, role=Role.TRADER, action="watch a market")
    exchange = str(exchange or "").strip().lower()
    if not exchange or len(exchange) > 32:
        raise ApplicationError("Give the exchange whose candles are read.", field="exchange")
    symbol, timeframe = _symbol(symbol), _timeframe(timeframe)
    try:
        with transaction.atomic():
            row = WatchedMarket.objects.create(
                organization_id=signal_source.organization_id,
                source=signal_source,
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
            )
            event_record(
                organization_id=signal_source.organization_id,
                kind="signal.market_watched",
                message=f"{signal_source.name!r} watches {exchange} {symbol} {timeframe}.",
                actor=user,
                source=source,
                data={"source_id": signal_source.pk, "watched_market_id": row.pk},
            )
    except IntegrityError:
        raise ApplicationError(
            f"{signal_source.name!r} already watches {symbol} {timeframe}.", field="symbol"
        ) from None
    return row


def watched_market_remove(*, watched_market: WatchedMarket, user=None, source: str = EventSource.SYSTEM) -> None:
    """Stop computing signals on this market; its past signals stay."""
    require_role(
        user=user, organization=watched_market.organization_id, role=Role.TRADER, action="stop watching a market"
    )
    _delete_audited(
        watched_market,
        kind="signal.market_unwatched",
        message=f"{watched_market.exchange} {watched_market.symbol} {watched_market.timeframe} no longer watched.",
        user=user,
        source=source,
        source_id=watched_market.source_id,
        watched_market_id=watched_market.pk,
    )


# -- signals ----------------------------------------------------------------------------------------
def signal_record(
    *,
    signal_source: SignalSource,
    symbol: str,
    timeframe: str,
    side: str,
    confidence: Any,
    kind: str = SignalKind.DIRECTIONAL,
    exchange: str = "",
    factors: dict[str, Any] | None = None,
    reasoning: str = "",
    price: Decimal | None = None,
    bar_ts: datetime | None = None,
    valid_until: datetime | None = None,
    now: datetime | None = None,
    user=None,
    source: str = EventSource.SYSTEM,
) -> Signal:
    """Store one signal of `signal_source`. A second signal of the source for the same candle is
    refused (the beat may run twice), as is any value out of range; nothing is stored then."""
    if not signal_source.enabled:
        raise ApplicationError(f"Signal source {signal_source.name!r} is disabled.", field="source")
    if side not in SignalSide.values:
        raise ApplicationError(f"Side must be one of {', '.join(SignalSide.values)}.", field="side")
    if kind not in SignalKind.values:
        raise ApplicationError(f"Kind must be one of {', '.join(SignalKind.values)}.", field="kind")
    symbol, timeframe = _symbol(symbol), _timeframe(timeframe)
    conf = _confidence(confidence)
    if factors is not None and not isinstance(factors, dict):
        raise ApplicationError("Factors must be a JSON object.", field="factors")
    if price is not None:
        try:
            price = Decimal(str(price))
        except (InvalidOperation, ValueError):
            raise ApplicationError("Price must be a number.", field="price") from None
        if not price.is_finite() or price <= 0:
            raise ApplicationError("Price must be a positive number.", field="price")
    now = now or timezone.now()
    if valid_until is None:
        valid_until = now + timedelta(milliseconds=TIMEFRAME_MS[timeframe] * DEFAULT_VALID_BARS)
    elif valid_until <= now:
        raise ApplicationError("valid_until is already past.", field="valid_until")
    try:
        with transaction.atomic():
            row = Signal.objects.create(
                organization_id=signal_source.organization_id,
                source=signal_source,
                exchange=str(exchange or "")[:32],
                symbol=symbol,
                timeframe=timeframe,
                side=side,
                kind=kind,
                confidence=conf,
                factors=factors or {},
                reasoning=str(reasoning or "")[:MAX_REASONING],
                price=price,
                bar_ts=bar_ts,
                valid_until=valid_until,
            )
            threshold = signal_source.alert_min_confidence
            if threshold is not None and side != SignalSide.NEUTRAL and conf >= threshold:
                event_record(
                    organization_id=signal_source.organization_id,
                    kind="signal.recorded",
                    message=f"{signal_source.name}: {side} {symbol} {timeframe} at confidence {conf}.",
                    level=EventLevel.WARNING,
                    actor=user,
                    source=source,
                    data={
                        "signal_id": row.pk,
                        "source_id": signal_source.pk,
                        "symbol": symbol,
                        "side": side,
                        "confidence": str(conf),
                        "timeframe": timeframe,
                    },
                )
            transaction.on_commit(lambda: signal_recorded.send(sender=Signal, row=row))
    except IntegrityError:
        raise ApplicationError(
            f"{signal_source.name!r} already has a signal for {symbol} {timeframe} at that candle.", field="bar_ts"
        ) from None
    return row
