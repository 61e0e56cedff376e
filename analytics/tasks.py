"""Celery beat jobs of the analytics app; they call services and hold no rules."""

from __future__ import annotations

import time

from celery import shared_task

from analytics.prometheus import SNAPSHOTS_LAST_RUN
from analytics.snapshots import snapshots_downsample, snapshots_take


@shared_task(ignore_result=True)
def take_snapshots() -> int:
    """Beat job, every minute: one metric snapshot per running bot."""
    written = len(snapshots_take())
    SNAPSHOTS_LAST_RUN.set(time.time())
    return written


@shared_task(ignore_result=True)
def downsample_snapshots() -> dict[str, int]:
    """Beat job, hourly: roll old snapshots up into hourly and daily rows."""
    return snapshots_downsample()
