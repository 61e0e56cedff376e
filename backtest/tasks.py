"""Celery entry point for backtests: thin, it calls the service."""

from celery import shared_task

from backtest.services import backtest_run


@shared_task(acks_late=True, ignore_result=True)
def backtest_run_task(backtest_id: int) -> None:
    """Run one queued backtest. A redelivered message finds it claimed already and does nothing."""
    backtest_run(backtest_id=backtest_id)
