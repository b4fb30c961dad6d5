"""GET /metrics: Prometheus text, request counts by route template, no ids in labels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from app.api.metrics import MULTIPROC_ENV, Metrics, prune_dead_processes
from app.worker import WorkerMetrics
from tests.factories import Partner


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    await client.get("/v1/cases/00000000-0000-0000-0000-000000000000", headers=lead.headers)
    await client.get(f"/no/such/path/{case['id']}")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    counts = {
        (labels["method"], labels["route"], labels["status"]): value
        for name, labels, value in got
        if name == "aftercare_http_requests_total"
    }
    assert counts[("GET", "/v1/cases/{case_id}", "200")] == 2
    assert counts[("GET", "/v1/cases/{case_id}", "404")] == 1
    assert counts[("GET", "unmatched", "404")] == 1
    assert any(n == "aftercare_http_request_duration_seconds_bucket" for n, _, _ in got)
    # No concrete path, id or survivor data in any label.
    for _name, labels, _value in got:
        for value in labels.values():
            assert case["id"] not in value and "0000-0000" not in value
    names = {n for n, _, _ in got}
    assert {
        "aftercare_db_pool_connections",
        "aftercare_db_pool_waiting",
        "aftercare_webhook_deliveries_pending",
        "aftercare_webhook_delivery_lag_seconds",
    } <= names


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/healthz")
    text = (await client.get("/metrics")).text
    methods = {
        labels["method"]
        for name, labels, _ in samples(text)
        if name == "aftercare_http_requests_total"
    }
    assert "BREW" not in methods and "OTHER" in methods


def test_several_processes_answer_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prometheus_client's multiprocess mode, three processes simulated in this one (each
    writes its own files): counters and histograms summed over every process, the pool per
    live process, the backlog as last written; a dead process's pool series is dropped."""
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live_a, live_b = os.getpid(), os.getppid()
    current = [live_a]
    simulated = values.MultiProcessValue(lambda: current[0])  # type: ignore[no-untyped-call]
    monkeypatch.setattr(values, "ValueClass", simulated)

    def process(pid: int, requests: int, pool: tuple[int, int, int, int], pending: int) -> Metrics:
        current[0] = pid
        metrics = Metrics()
        assert metrics.multiprocess == tmp_path
        for _ in range(requests):
            metrics.observe("GET", "/v1/cases/{case_id}", 200, 0.02)
        metrics.set_pool(*pool)
        metrics.pending.set(pending)
        return metrics

    process(dead.pid, 1, (1, 1, 10, 0), 9)
    process(live_a, 2, (3, 1, 10, 3), 5)
    last = process(live_b, 4, (4, 4, 10, 0), 7)
    WorkerMetrics()  # a worker process writes into the same directory
    got = samples(last.exposition().decode())
    requests = [v for n, labels, v in got if n == "aftercare_http_requests_total"]
    assert requests == [7]  # a dead process's requests still count
    latency = [v for n, _, v in got if n == "aftercare_http_request_duration_seconds_count"]
    assert latency == [7]
    pool = {
        (labels["pid"], labels["state"]): v
        for n, labels, v in got
        if n == "aftercare_db_pool_connections"
    }
    assert pool == {
        (str(live_a), "busy"): 2,
        (str(live_a), "idle"): 1,
        (str(live_a), "max"): 10,
        (str(live_b), "busy"): 0,
        (str(live_b), "idle"): 4,
        (str(live_b), "max"): 10,
    }
    waiting = {labels["pid"]: v for n, labels, v in got if n == "aftercare_db_pool_waiting"}
    assert waiting == {str(live_a): 3, str(live_b): 0}
    assert [v for n, _, v in got if n == "aftercare_webhook_deliveries_pending"] == [7]
    assert any(n == "aftercare_webhook_attempts_total" for n, _, _ in got)
    # At start-up `serve` clears what processes no longer running left.
    assert prune_dead_processes(tmp_path) >= 1
    assert not list(tmp_path.glob(f"*_{dead.pid}.db"))
    assert list(tmp_path.glob(f"*_{live_a}.db"))


async def test_the_event_loop_lag_shows_a_step_that_held_the_loop() -> None:
    import asyncio
    import time

    metrics = Metrics()
    watching = asyncio.create_task(metrics.watch_event_loop(interval=0.01))
    await asyncio.sleep(0.03)  # a few samples of an idle loop
    time.sleep(0.06)  # noqa: ASYNC251 - one step holding the loop, as long synchronous work would
    await asyncio.sleep(0.03)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)

    def count(le: str) -> float:
        value = metrics.registry.get_sample_value(
            "aftercare_event_loop_lag_seconds_bucket", {"le": le}
        )
        assert value is not None
        return value

    assert count("+Inf") >= 3
    assert count("+Inf") - count("0.025") >= 1  # the held step: late by about 50 ms
    assert b"aftercare_event_loop_lag_seconds_bucket" in metrics.exposition()
