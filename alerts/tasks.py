"""Celery tasks for alerts: one per delivery (retried with backoff), and the daily summary.
They take ids and call alerts.services."""

from __future__ import annotations

import logging

from celery import shared_task

from alerts import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def alert_deliver(self, delivery_id: int) -> str:
    """Send one delivery; retry after the far side's Retry-After or with exponential backoff
    until ALERTS_MAX_ATTEMPTS, then record the failure. Permanent refusals are not retried."""
    attempt = services.delivery_attempt(delivery_id=delivery_id, retries=self.request.retries)
    if attempt.retry_in is not None:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.status


@shared_task(acks_late=True)
def daily_summary() -> int:
    """Beat job (00:05 UTC): yesterday's summary to every rule subscribed to summary.daily."""
    return len(services.summaries_send())
