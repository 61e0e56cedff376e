"""The event log's vocabulary and its one entry point for the apps below `bots`.

The log itself (`bots.BotEvent`, the black box and the audit trail) lives in `bots`, but lower
apps must write to it too: an exchange account verified, a kill switch engaged. They call
`event_record` here; `bots` installs the writer when it starts (`BotsConfig.ready`). With no
writer installed the call raises rather than dropping an audit entry on the floor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models


class EventLevel(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


class EventSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    DASHBOARD = "dashboard", "Dashboard"
    SYSTEM = "system", "System"
    HUMMINGBOT = "hummingbot", "Hummingbot"
    CLI = "cli", "Command line"
    TELEGRAM = "telegram", "Telegram"


EventWriter = Callable[..., Any]

_writer: EventWriter | None = None


def event_writer_install(writer: EventWriter) -> None:
    """Called once by the app that owns the event log. The writer takes the keyword arguments of
    `event_record` and returns the stored event."""
    global _writer
    _writer = writer


def event_record(
    *,
    organization_id: int,
    kind: str,
    message: str,
    level: str = EventLevel.INFO,
    data: dict[str, Any] | None = None,
    actor: Any = None,
    source: str = EventSource.SYSTEM,
) -> Any:
    """Append an organization-level entry (no bot) to the event log. Never put a secret in
    `message` or `data`."""
    if _writer is None:
        raise ImproperlyConfigured("No event log is installed: add the 'bots' app to INSTALLED_APPS.")
    return _writer(
        organization_id=organization_id,
        kind=kind,
        message=message,
        level=level,
        data=data,
        actor=actor,
        source=source,
    )
