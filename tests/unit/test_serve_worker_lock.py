"""`serve --workers N`: the in-process worker runs in one server process only, the one holding
the lock file; when that process goes away another one takes over."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import cast

import pytest

import app.main
from app.main import _run_worker
from app.worker import Worker


class StubWorker:
    def __init__(self) -> None:
        self.ran = False
        self._stop = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def wait_stopping(self, timeout: float) -> None:  # noqa: ASYNC109
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout)

    async def run(self) -> None:
        self.ran = True
        await self._stop.wait()


async def test_one_holder_runs_the_worker_and_a_successor_takes_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.main, "WORKER_LOCK_RETRY_SECONDS", 0.05)
    lock = tmp_path / "in-process-worker.lock"
    first, second = StubWorker(), StubWorker()
    # flock is per open file: two opens in one process contend like two processes.
    one = asyncio.create_task(_run_worker(cast(Worker, first), lock))
    await asyncio.sleep(0.1)
    two = asyncio.create_task(_run_worker(cast(Worker, second), lock))
    await asyncio.sleep(0.2)
    assert first.ran and not second.ran
    first.stop()  # the holder goes away: the lock is released
    await one
    await asyncio.sleep(0.2)
    assert second.ran
    second.stop()
    await asyncio.wait_for(two, 2)


async def test_without_a_lock_the_worker_just_runs() -> None:
    worker = StubWorker()
    task = asyncio.create_task(_run_worker(cast(Worker, worker), None))
    await asyncio.sleep(0.05)
    assert worker.ran
    worker.stop()
    await task
