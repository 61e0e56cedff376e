"""Prometheus counters of the bot runtime: ticks and reconciliation (exposed with the rest by
`analytics.prometheus`). Imports only prometheus_client, so the tick path pays nothing for it."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

TICKS = Counter("backoffice_ticks_total", "Bot ticks run, by outcome (ticked, failed).", ["outcome"])
TICK_SECONDS = Histogram(
    "backoffice_tick_seconds",
    "Duration of one bot tick, from taking the bot to releasing it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RECONCILIATION_CORRECTIONS = Counter(
    "backoffice_reconciliation_corrections_total",
    "Differences reconciliation found and repaired, by kind.",
    ["kind"],
)

RECONCILIATION_KINDS = ("orders_updated", "orders_adopted", "orders_missing", "fills_added")


def observe_tick(outcome: str, seconds: float) -> None:
    """Count one tick and its duration (skipped ticks are not ticks)."""
    if outcome == "skipped":
        return
    TICKS.labels(outcome=outcome).inc()
    TICK_SECONDS.observe(seconds)


def observe_reconciliation(report: Any) -> None:
    """Count the corrections of a `bots.reconciliation.ReconcileReport`."""
    for kind in RECONCILIATION_KINDS:
        count = getattr(report, kind, 0)
        if count:
            RECONCILIATION_CORRECTIONS.labels(kind=kind).inc(count)
