"""Prometheus metrics of the back office.

Two kinds:
- counters and histograms that the code increments where things happen, each defined in the app
  that owns the event: ticks and reconciliation corrections (`bots.prometheus`), exchange errors
  (`exchanges.prometheus`), risk rejections (`risk.metrics`). Under several processes (web
  workers, Celery workers) prometheus_client's multiprocess mode keeps each process's values in
  files under PROMETHEUS_MULTIPROC_DIR, and a scrape sums them.
- gauges read from the database at scrape time (`DatabaseCollector`): bots by status, working
  orders, circuit breakers, Hummingbot instances, heartbeat ages. The database is the one truth
  every process shares, so these need no multiprocess bookkeeping.

This module imports only prometheus_client at the top, so any process can import the metric
objects cheaply; Django is loaded inside the collector.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

# The counters each app increments where things happen, imported here so that one import of this
# module registers every metric the back office exposes.
import risk.metrics  # noqa: F401 - backoffice_risk_rejections_total
from bots.prometheus import (  # noqa: F401
    RECONCILIATION_CORRECTIONS,
    TICK_SECONDS,
    TICKS,
    observe_reconciliation,
    observe_tick,
)
from exchanges.prometheus import EXCHANGE_ERRORS  # noqa: F401

SNAPSHOTS_LAST_RUN = Gauge(
    "backoffice_metric_snapshots_last_run_timestamp_seconds",
    "When the snapshot job last wrote its rows (Unix time).",
    multiprocess_mode="max",  # the newest run of any worker process, dead ones included
)
ORDERS = Counter("backoffice_orders_total", "Orders that reached a status, by status.", ["status"])


class DatabaseCollector(Collector):
    """Gauges computed from the database at each scrape: four small aggregate queries."""

    def describe(self) -> list:
        return []  # no queries when the collector is registered

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count, Min, Q
        from django.utils import timezone

        from bots.models import OPEN_ORDER_STATUSES, Order
        from bots.models import Bot as BotModel
        from bots.state import BotStatus
        from exchanges.models import CircuitState, ExchangeAccount
        from hummingbot.models import HummingbotInstance, InstanceStatus

        now = timezone.now()
        trading = (BotStatus.RUNNING, BotStatus.DEGRADED)

        bots = GaugeMetricFamily("backoffice_bots", "Bots by status.", labels=["status"])
        rows = BotModel.objects.values("status").annotate(
            n=Count("id"),
            beat=Min("last_heartbeat_at"),
            # A running bot that never beat counts from when it started.
            silent_since=Min("status_changed_at", filter=Q(last_heartbeat_at__isnull=True)),
        )
        by_status = {r["status"]: r for r in rows}
        for status in BotStatus.values:
            bots.add_metric([status], by_status.get(status, {}).get("n", 0))
        yield bots

        age = GaugeMetricFamily(
            "backoffice_bot_heartbeat_age_seconds_max",
            "Age of the oldest heartbeat among running and degraded bots (0 when none run).",
        )
        marks = [
            when
            for status in trading
            for when in (by_status.get(status, {}).get("beat"), by_status.get(status, {}).get("silent_since"))
            if when is not None
        ]
        age.add_metric([], (now - min(marks)).total_seconds() if marks else 0.0)
        yield age

        orders = GaugeMetricFamily("backoffice_orders_working", "Working orders, by status.", labels=["status"])
        open_counts = dict(
            Order.objects.filter(status__in=OPEN_ORDER_STATUSES)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        for status in OPEN_ORDER_STATUSES:
            orders.add_metric([str(status)], open_counts.get(status, 0))
        yield orders

        circuits = GaugeMetricFamily(
            "backoffice_exchange_circuit_accounts", "Exchange accounts by circuit breaker state.", labels=["state"]
        )
        states = dict(
            ExchangeAccount.objects.values("circuit_state").annotate(n=Count("id")).values_list("circuit_state", "n")
        )
        for state in CircuitState.values:
            circuits.add_metric([state], states.get(state, 0))
        yield circuits

        instances = GaugeMetricFamily(
            "backoffice_hummingbot_instances", "Hummingbot instances by status.", labels=["status"]
        )
        rows = HummingbotInstance.objects.values("status").annotate(n=Count("id"), beat=Min("last_heartbeat_at"))
        by_status = {r["status"]: r for r in rows}
        for status in InstanceStatus.values:
            instances.add_metric([status], by_status.get(status, {}).get("n", 0))
        yield instances
        online = by_status.get(InstanceStatus.ONLINE, {})
        up = GaugeMetricFamily("backoffice_hummingbot_instances_up", "Hummingbot instances online.")
        up.add_metric([], online.get("n", 0))
        yield up
        beat = GaugeMetricFamily(
            "backoffice_hummingbot_heartbeat_age_seconds_max",
            "Age of the oldest heartbeat among online Hummingbot instances (0 when none is online).",
        )
        beat.add_metric([], (now - online["beat"]).total_seconds() if online.get("beat") else 0.0)
        yield beat


DATABASE_REGISTRY = CollectorRegistry(auto_describe=False)
DATABASE_REGISTRY.register(DatabaseCollector())


def exposition(*, multiprocess_dir: str = "") -> bytes:
    """The text a scrape returns: the process metrics (summed over every process's files in
    multiprocess mode, this process's own otherwise) followed by the database gauges."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(DATABASE_REGISTRY)
