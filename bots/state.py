"""The bot state machine as plain data, so every caller checks the same table.

stopped -> starting -> running -> stopping -> stopped; running <-> degraded; any -> error.
From error a bot is reset (stopped) or started again.
"""

from __future__ import annotations

from django.db import models


class BotStatus(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    DEGRADED = "degraded", "Degraded"
    STOPPING = "stopping", "Stopping"
    ERROR = "error", "Error"


TRANSITIONS: dict[str, frozenset[str]] = {
    BotStatus.STOPPED: frozenset({BotStatus.STARTING, BotStatus.ERROR}),
    BotStatus.STARTING: frozenset({BotStatus.RUNNING, BotStatus.STOPPING, BotStatus.ERROR}),
    BotStatus.RUNNING: frozenset({BotStatus.DEGRADED, BotStatus.STOPPING, BotStatus.ERROR}),
    BotStatus.DEGRADED: frozenset({BotStatus.RUNNING, BotStatus.STOPPING, BotStatus.ERROR}),
    BotStatus.STOPPING: frozenset({BotStatus.STOPPED, BotStatus.ERROR}),
    BotStatus.ERROR: frozenset({BotStatus.STOPPED, BotStatus.STARTING}),
}

# Statuses in which the bot trades and the dispatcher ticks it.
ACTIVE_STATUSES = frozenset({BotStatus.RUNNING, BotStatus.DEGRADED})


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())
