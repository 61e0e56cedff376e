"""Prometheus counters of the risk engine."""

from prometheus_client import Counter

risk_rejections = Counter(
    "backoffice_risk_rejections_total", "Order intents the pre-trade risk check rejected.", ["code"]
)
