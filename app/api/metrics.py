"""``GET /metrics``: Prometheus text format for operators.

Request counts and latency by route *template* (``/v1/cases/{case_id}``, never a concrete path)
and status, the database pool, and the webhook backlog (pending deliveries, delivery lag). Every
label comes from a bounded set — methods, route templates, status codes, a few fixed words — so
no id and no survivor data can reach a label, and the number of series stays fixed.

Each app has its own registry (tests build many apps in one process). Pool and backlog values
are read when scraped. With several worker processes each process answers for itself; issue
reports and docs/operations.md say how to aggregate.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Scope

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets (seconds) around what partners see: most answers in milliseconds, long polls
# of the change feed up to 30 s.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "aftercare_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aftercare_http_request_duration_seconds",
            "Time to answer, by method and route template",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.pool = Gauge(
            "aftercare_db_pool_connections",
            "Database pool connections of this process, by state (busy, idle, max)",
            ["state"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "aftercare_webhook_deliveries_pending",
            "Webhook deliveries not yet made or still to be retried (the outbox backlog)",
            registry=self.registry,
        )
        self.lag = Gauge(
            "aftercare_webhook_delivery_lag_seconds",
            "How long the oldest due webhook delivery has been waiting",
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "OTHER"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched`` (a 404 for an unknown path must not
    put the path it was asked for into a label)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
