"""Prometheus counters of the exchange layer (exposed with the rest by `analytics.prometheus`)."""

from prometheus_client import Counter

EXCHANGE_ERRORS = Counter(
    "backoffice_exchange_errors_total",
    "Failed exchange calls, by error kind (network, timeout, rate_limit, authentication, ...).",
    ["kind"],
)
