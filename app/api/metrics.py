"""``GET /metrics``: Prometheus text format for operators.

Request counts and latency by route *template* (``/v1/cases/{case_id}``, never a concrete path)
and status, the event loop's lag, the database pool, and the webhook backlog (pending
deliveries, delivery lag). Every
label comes from a bounded set — methods, route templates, status codes, a few fixed words — so
no id and no survivor data can reach a label, and the number of series stays fixed.

Each app has its own registry (tests build many apps in one process). Pool and backlog values
are read when scraped.

Several processes (``aftercare serve --workers N``, or any server whose environment has
``PROMETHEUS_MULTIPROC_DIR``): prometheus_client's multiprocess mode. Every process, the
``aftercare worker`` processes given the same directory included, writes its values into files
there, and ``/metrics`` answers for all of them (:meth:`Metrics.exposition`): counters and
histograms summed, the pool per live process (a ``pid`` label), the backlog as last read.
docs/operations.md, "Running several processes".
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import Scope

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets (seconds) around what partners see: most answers in milliseconds, long polls
# of the change feed up to 30 s. Finer between 10 and 60 ms, where the latency objectives lie
# (the soak's budgets: p99 25 ms for a single read, 60 ms for a write), so a percentile read
# off the histogram says which side of them it is.
_BUCKETS = (
    0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
# Event-loop lag buckets (seconds): a healthy loop runs a due timer within a millisecond or two.
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LOOP_PROBE_SECONDS = 0.1  # how often the event loop's lag is sampled


def multiprocess_dir() -> Path | None:
    """The directory of prometheus_client's multiprocess mode, when this process is in it.

    prometheus_client decides when it is first imported: the variable must be in the
    environment before that (``aftercare serve --workers N`` sets it for its children)."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def _pid_of(file: Path) -> int | None:
    """The process a multiprocess file belongs to (``counter_123.db``, ``gauge_liveall_123.db``)."""
    tail = file.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def prune_dead_processes(directory: Path) -> int:
    """Remove every file of processes that are no longer running (at start-up: the directory
    then holds only what the live processes, e.g. running workers, wrote). Returns how many."""
    removed = 0
    for file in directory.glob("*.db"):
        pid = _pid_of(file)
        if pid is not None and not psutil.pid_exists(pid):
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def forget_dead_gauges(directory: Path) -> None:
    """``mark_process_dead`` for every process whose live gauges are still there (a server
    process that crashed, and was replaced, says nothing about itself)."""
    for file in directory.glob("gauge_live*.db"):
        pid = _pid_of(file)
        if pid is not None and not psutil.pid_exists(pid):
            forget_process(pid, directory)


def forget_process(pid: int, directory: Path) -> None:
    """Drop the live gauges of ``pid`` (a process that stops, or stopped)."""
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir()
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
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
        self.loop_lag = Histogram(
            "aftercare_event_loop_lag_seconds",
            f"How late this process's event loop ran a timer due every {LOOP_PROBE_SECONDS} s "
            "(how long other work held the loop)",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.pool = Gauge(
            "aftercare_db_pool_connections",
            "Database pool connections of this process, by state (busy, idle, max)",
            ["state"],
            registry=self.registry,
            # several processes: one series per live process (a pid label); sum by state
            multiprocess_mode="liveall",
        )
        self.pool_waiting = Gauge(
            "aftercare_db_pool_waiting",
            "Requests of this process waiting for a database connection (every one is busy)",
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.pending = Gauge(
            "aftercare_webhook_deliveries_pending",
            "Webhook deliveries not yet made or still to be retried (the outbox backlog)",
            registry=self.registry,
            # the database's value, read by whichever process was scraped last
            multiprocess_mode="mostrecent",
        )
        self.lag = Gauge(
            "aftercare_webhook_delivery_lag_seconds",
            "How long the oldest due webhook delivery has been waiting",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

    async def watch_event_loop(self, interval: float = LOOP_PROBE_SECONDS) -> None:
        """Until cancelled: how late the running event loop wakes a timer due every
        ``interval`` seconds, into ``aftercare_event_loop_lag_seconds``. Every request in
        flight in this process waits that long whenever one step of another request (a GraphQL
        page completing, a large answer encoded) holds the loop."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, loop.time() - due))

    def set_pool(self, size: int, idle: int, most: int, waiting: int) -> None:
        self.pool.labels("busy").set(size - idle)
        self.pool.labels("idle").set(idle)
        self.pool.labels("max").set(most)
        self.pool_waiting.set(waiting)

    def exposition(self) -> bytes:
        """The text format: this app's registry, or with several processes all of them."""
        if self.multiprocess is None:
            return generate_latest(self.registry)
        forget_dead_gauges(self.multiprocess)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess))  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        name = method if method in _METHODS else "OTHER"
        key = (name, route, status)
        series = self._series.get(key)
        if series is None:
            # A labelled child is looked up under a lock on every call; the set of
            # (method, route template, status) is small and fixed, so each is looked up once.
            series = self._series[key] = (
                self.requests.labels(name, route, str(status)),
                self.latency.labels(name, route),
            )
        series[0].inc()
        series[1].observe(seconds)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched`` (a 404 for an unknown path must not
    put the path it was asked for into a label)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
