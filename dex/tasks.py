"""Celery beat jobs of the dex app; they call services and hold no rules."""

from __future__ import annotations

from celery import shared_task

from dex.swaps import swaps_refresh_due


@shared_task(ignore_result=True)
def refresh_swaps() -> int:
    """Beat job, every 5 seconds: poll each submitted swap; returns how many are still pending."""
    return swaps_refresh_due()


@shared_task(ignore_result=True)
def run_snipers() -> int:
    """Beat job, every 10 seconds: one run of each enabled sniper; returns how many ran."""
    from dex.sniper import snipers_run_due

    return snipers_run_due()
