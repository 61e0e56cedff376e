"""Alert severities and how an event's level maps onto them."""

from __future__ import annotations

from django.db import models


class AlertLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}

# Events have five levels, alerts three: an `error` event (a bot put in error, a failed tick) is
# something to act on, so it alerts as critical; debug events never alert.
FROM_EVENT_LEVEL = {
    "info": AlertLevel.INFO,
    "warning": AlertLevel.WARNING,
    "error": AlertLevel.CRITICAL,
    "critical": AlertLevel.CRITICAL,
}


def alert_level_for(event_level: str) -> str | None:
    """The alert severity of an event level, or None for levels that never alert."""
    return FROM_EVENT_LEVEL.get(event_level)


def at_least(level: str, minimum: str) -> bool:
    return RANK[AlertLevel(level)] >= RANK[AlertLevel(minimum)]
