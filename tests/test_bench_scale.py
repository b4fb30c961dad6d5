"""The scale bench (``python -m bench.run --scale``, ``make bench-scale``) measures what it says:
its options, the app servers it starts, its lock-wait sampler against a real lock, its CPU
meter and its report. A whole run starts four servers and wrk: run it by hand (bench/README.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import asyncpg
import pytest

from app.db.database import asyncpg_dsn
from app.settings import Settings
from bench.run import RESULTS, LoadResult, app_server, parse_args
from bench.scale import (
    Activity,
    Config,
    Cpu,
    CpuMeter,
    Round,
    ScaleMeasurement,
    report,
    sample_activity,
)


def test_options() -> None:
    plain = parse_args([])
    assert (plain.scale, plain.app_processes, plain.output) == (
        False,
        1,
        RESULTS / "latest.json",
    )
    assert parse_args(["--app-processes", "3"]).app_processes == 3
    scale = parse_args(["--scale"])
    assert (scale.app_processes, scale.output) == (2, RESULTS / "scale.json")
    for wrong in (["--scale", "--app-processes", "1"], ["--scale", "--scenario", "inbox"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)


def test_app_server_in_one_process_or_several_as_serve_runs_them(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url="postgresql://x/y", data_dir=tmp_path)
    with contextlib.ExitStack() as stack:
        one = app_server(settings, stack)
        two = app_server(settings, stack, processes=2, label="two")
        assert one.target == "app.main:create_app" and one.workers == 1
        assert "PROMETHEUS_MULTIPROC_DIR" not in one.env
        assert two.target == "app.main:app_from_env" and two.workers == 2
        assert Path(two.env["PROMETHEUS_MULTIPROC_DIR"]).is_dir()
        command = two.command()
        assert command[command.index("--workers") + 1] == "2" and "--factory" in command
    assert not Path(two.env["PROMETHEUS_MULTIPROC_DIR"]).exists()  # removed with the stack


async def test_sampler_counts_a_backend_waiting_on_a_lock(database_url: str) -> None:
    dsn = asyncpg_dsn(database_url)
    holder, waiter = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await holder.execute("SELECT pg_advisory_lock(14)")
        waiting = asyncio.create_task(waiter.execute("SELECT pg_advisory_lock(14)"))
        await asyncio.sleep(0.1)
        stop, connected = asyncio.Event(), asyncio.Event()
        sampler = asyncio.create_task(sample_activity(dsn, 0.01, stop, connected=connected))
        # (on a busy machine opening the connection alone took longer than the sampling time)
        await asyncio.wait_for(connected.wait(), 30)
        await asyncio.sleep(0.3)
        stop.set()
        activity = await sampler
        await holder.execute("SELECT pg_advisory_unlock(14)")
        await waiting
    finally:
        await holder.close()
        await waiter.close()
    assert activity.samples >= 5
    assert activity.lock_waiting == 1.0 and activity.active >= 1.0
    assert activity.lock_events == {"advisory": 1.0} and activity.row_lock_waiting == 0


def test_cpu_meter_measures_this_process() -> None:
    meter = CpuMeter(os.getpid(), [])
    meter.start()
    spent = 0.0
    while spent < 2e6:  # some CPU work
        spent += 1
    cpu = meter.stop()
    assert cpu.app > 0 and cpu.machine > 0 and cpu.postgres == 0


def test_report_shows_the_ratios_and_the_lock_waits() -> None:
    def measured(chains: int, processes: int, rps: float, waiting: float) -> ScaleMeasurement:
        load = LoadResult(requests_per_s=rps, requests=int(rps), p50_ms=2.0, p99_ms=9.0)
        events = {"transactionid": waiting * 0.75, "tuple": waiting * 0.25}
        r = Round(load, Activity(100, waiting, 3.0, 0.5, events), Cpu(2.0, 1.2, 0.5, 0.2))
        return ScaleMeasurement(Config(chains, processes), [r])

    meta = {
        "scenario": "case-read",
        "load_generator": "wrk",
        "connections": 32,
        "rounds": 1,
        "duration": 5.0,
        "warmup": 2.0,
        "sample_ms": 10.0,
        "app_processes": 2,
        "pool_max_size": 10,
        "cpus": 2,
        "load_average_before": (1.0, 1.0, 1.0),
        "load_average_after": (2.0, 1.0, 1.0),
        "audit": {
            "rows": 10,
            "chains": 3,
            "verified": True,
            "busy_org_chains": 3,
            "busy_org_chain_numbers": [0, 1, 2],
        },
    }
    text = report(
        [
            measured(1, 1, 1000, 0.7),
            measured(1, 2, 1100, 0.8),
            measured(16, 1, 1000, 0.0),
            measured(16, 2, 1500, 0.01),
        ],
        meta,
    )
    assert "ratio 2 processes / 1 process, chains=1: 1.10" in text
    assert "ratio 2 processes / 1 process, chains=16: 1.50" in text
    assert (
        "lock-waiting backends, 2 processes: chains=1 0.80 (on a row lock 0.80), chains=16 0.01"
        in text
    )
    assert "3 chains, verified" in text and "Load average before 1.00 1.00 1.00" in text
