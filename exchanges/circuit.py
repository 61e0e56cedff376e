"""Per-account circuit breaker: closed -> open after repeated failures -> half-open after a cooldown
-> closed on the first success (or open again on a failure).

State lives on the ExchangeAccount row (visible in admin) and changes with conditional UPDATEs, so
every worker process sees and respects the same breaker.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from exchanges.errors import CircuitOpenError
from exchanges.models import CircuitState, ExchangeAccount


def _threshold() -> int:
    return settings.EXCHANGE_CIRCUIT_THRESHOLD


def _cooldown() -> dt.timedelta:
    return dt.timedelta(seconds=settings.EXCHANGE_CIRCUIT_COOLDOWN_SECONDS)


def circuit_check(account: ExchangeAccount) -> None:
    """Raise CircuitOpenError while the breaker is open; move it to half-open after the cooldown."""
    if account.circuit_state != CircuitState.OPEN:
        return
    now = timezone.now()
    if account.circuit_changed_at and now - account.circuit_changed_at >= _cooldown():
        ExchangeAccount.objects.filter(pk=account.pk, circuit_state=CircuitState.OPEN).update(
            circuit_state=CircuitState.HALF_OPEN, circuit_changed_at=now
        )
        account.circuit_state, account.circuit_changed_at = CircuitState.HALF_OPEN, now
        return
    raise CircuitOpenError(f"{account.label}: the exchange kept failing; calls paused until the cooldown ends.")


def circuit_record_success(account: ExchangeAccount) -> None:
    if account.circuit_state == CircuitState.CLOSED and account.consecutive_failures == 0:
        return  # the hot path writes nothing
    now = timezone.now()
    ExchangeAccount.objects.filter(pk=account.pk).update(
        circuit_state=CircuitState.CLOSED, consecutive_failures=0, circuit_changed_at=now
    )
    account.circuit_state, account.consecutive_failures, account.circuit_changed_at = CircuitState.CLOSED, 0, now


def circuit_record_failure(account: ExchangeAccount) -> None:
    """Count a failure that says the exchange is unhealthy (network, 5xx, rate limit)."""
    now = timezone.now()
    ExchangeAccount.objects.filter(pk=account.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    account.refresh_from_db(fields=["consecutive_failures", "circuit_state", "circuit_changed_at"])
    trip = account.circuit_state == CircuitState.HALF_OPEN or account.consecutive_failures >= _threshold()
    if trip and account.circuit_state != CircuitState.OPEN:
        ExchangeAccount.objects.filter(pk=account.pk).exclude(circuit_state=CircuitState.OPEN).update(
            circuit_state=CircuitState.OPEN, circuit_changed_at=now
        )
        account.circuit_state, account.circuit_changed_at = CircuitState.OPEN, now
