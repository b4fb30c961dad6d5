"""Real `aftercare worker` processes against one database and one receiver on 127.0.0.1.

Marked ``multiprocess`` (they start processes; still part of ``make test``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.db.database import Database
from app.domain.crypto import KeyWrapper
from bench.receiver import Receiver
from tests.factories import Factory
from tests.worker.conftest import add_webhook, emit, rows

pytestmark = pytest.mark.multiprocess
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def spawn(
    database_url: str, keys_dir: Path, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    started: list[asyncio.subprocess.Process] = []

    async def start(
        *extra: str, concurrency: int = 16, lease: float = 30.0, attempt_timeout: float = 1.0
    ) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            "AFTERCARE_DATABASE_URL": database_url,
            "AFTERCARE_KEYS_DIR": str(keys_dir),
            "AFTERCARE_DATA_DIR": str(tmp_path),
            "AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "AFTERCARE_WEBHOOK_TIMEOUT_SECONDS": str(attempt_timeout),
            "AFTERCARE_WEBHOOK_LEASE_SECONDS": str(lease),
            "AFTERCARE_WEBHOOK_RETRY_SCHEDULE": "1,1,1",
            "AFTERCARE_LOG_LEVEL": "WARNING",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "worker",
            "--concurrency",
            str(concurrency),
            *extra,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def all_settled(database: Database, count: int, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [row] = await rows(
            database,
            "SELECT count(*) FILTER (WHERE status = 'succeeded') AS done, count(*) AS total "
            "FROM webhook_deliveries",
        )
        if row["total"] == count and row["done"] == count:
            return True
        await asyncio.sleep(0.1)
    return False


async def stop(process: asyncio.subprocess.Process, timeout: float = 10.0) -> int:  # noqa: ASYNC109
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), timeout)


async def test_two_workers_deliver_each_of_500_events_exactly_once(
    factory: Factory,
    database: Database,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
    spawn: Callable[..., Any],
) -> None:
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    first, second = await spawn(), await spawn()
    event_ids: list[str] = []
    for _ in range(5):
        event_ids += [str(e) for e in await emit(database, org.id, count=100)]
    assert await receiver.wait_for(500, timeout=30), len(receiver.requests)
    assert await all_settled(database, 500, timeout=10)
    await asyncio.sleep(0.5)  # anything delivered twice would have arrived by now
    received = [r.webhook_id for r in receiver.requests]
    assert len(received) == 500
    assert sorted(received) == sorted(event_ids)
    assert await stop(first) == 0
    assert await stop(second) == 0
    attempts = await rows(database, "SELECT count(*) AS n FROM webhook_attempts")
    assert attempts == [{"n": 500}]


async def test_a_worker_killed_mid_batch_loses_nothing(
    factory: Factory,
    database: Database,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
    spawn: Callable[..., Any],
) -> None:
    receiver.delay = 0.2  # attempts stay in flight long enough to be killed
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    event_ids = {str(e) for e in await emit(database, org.id, count=200)}
    doomed = await spawn(concurrency=20, lease=2.0)
    assert await receiver.wait_for(30, timeout=20)
    doomed.kill()  # SIGKILL: no drain, no recording of what was in flight
    await doomed.wait()
    survivor = await spawn(concurrency=50, lease=2.0)
    receiver.delay = 0.0
    assert await all_settled(database, 200, timeout=30)
    assert {r.webhook_id for r in receiver.requests} == event_ids  # each at least once
    assert await stop(survivor) == 0


async def test_sigterm_finishes_the_attempts_in_flight_and_exits_0(
    factory: Factory,
    database: Database,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
    spawn: Callable[..., Any],
) -> None:
    receiver.delay = 0.8
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    await emit(database, org.id, count=10)
    # A timeout well above the receiver's delay: with 1 s, a slow, busy machine timed the
    # answers out (failed attempts, retried later) instead of draining them.
    worker = await spawn(concurrency=10, attempt_timeout=5.0)
    assert await receiver.wait_for(10, timeout=20)  # all ten in flight, none answered yet
    assert await stop(worker) == 0
    states = await rows(database, "SELECT status, attempts FROM webhook_deliveries")
    assert states == [{"status": "succeeded", "attempts": 1}] * 10
    assert len(receiver.requests) == 10


async def test_a_worker_serves_its_metrics_on_metrics_port(
    factory: Factory,
    database: Database,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
    spawn: Callable[..., Any],
) -> None:
    receiver.script = lambda r: 204 if len(receiver.requests) <= 3 else 500
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    await emit(database, org.id, count=5)
    port = free_port()
    worker = await spawn("--metrics-port", str(port))
    assert await all_attempted(database, 5, timeout=20)
    async with httpx.AsyncClient(timeout=5) as http:
        deadline = time.monotonic() + 10
        while True:
            try:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
                continue
            outcomes = {
                s.labels["outcome"]: s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "aftercare_webhook_attempts_total"
            }
            if outcomes.get("delivered", 0) + outcomes.get("http_status", 0) >= 5:
                break
            assert time.monotonic() < deadline, outcomes
            await asyncio.sleep(0.1)
    # the 500s are retried a second later: there may be more of those by now
    assert outcomes["delivered"] == 3 and outcomes["http_status"] >= 2
    assert await stop(worker) == 0


async def all_attempted(database: Database, count: int, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [row] = await rows(
            database, "SELECT count(*) AS n FROM webhook_deliveries WHERE attempts > 0"
        )
        if row["n"] >= count:
            return True
        await asyncio.sleep(0.1)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_a_lease_no_longer_than_an_attempt_is_a_settings_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AFTERCARE_DATA_DIR": str(tmp_path),
        "AFTERCARE_WEBHOOK_TIMEOUT_SECONDS": "10",
        "AFTERCARE_WEBHOOK_LEASE_SECONDS": "10",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert b"AFTERCARE_WEBHOOK_LEASE_SECONDS must be longer" in err
