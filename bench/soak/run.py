"""The mixed-load soak (``make soak``, ``python -m bench.soak.run``); not part of ``make bench``.

Real processes on 127.0.0.1: the embedded PostgreSQL under ``bench/.data/`` (or the server named
by ``AFTERCARE_DATABASE_URL``), ``aftercare serve --no-worker`` (the app, ``--app-processes``
server processes), GraphQL's own pool (``--graphql-processes``, another ``aftercare serve`` at
``--graphql-nice``, to which the load tool sends ``/graphql`` as a load balancer routing the path
would: docs/deployment.md, "GraphQL in a pool of its own"; ``--graphql-processes 0`` serves
GraphQL with everything else), one ``aftercare worker`` and a webhook receiver (``python -m
bench.receiver --count-only``). A fresh database
``aftercare_soak`` is seeded (``bench/soak/seed.py``: 20 partners with their clients, webhook
subscriptions, cases, consents, goals and referrals), then locust (``bench/soak/locustfile.py``)
runs the mix of ``bench/soak/mix.py`` (70 % reads, 20 % writes, 10 % GraphQL), each user with its
own partner's token from ``POST /oauth/token``:

1. **capacity**: a closed loop (every user sends its next request as soon as the last one is
   answered) for ``--capacity-duration`` seconds; capacity = requests per second after the
   first 5 s;
2. **soak**: the same mix at ``--load-fraction`` (default half) of that rate (each user's
   requests a Poisson process, their sum that of many independent clients:
   ``bench/soak/locustfile.py``), for ``--duration`` seconds (default 600), while the runner
   samples every ``--interval`` seconds the memory of every process (the app, the worker,
   PostgreSQL's postmaster and backends summed, locust, the receiver) and the outbox (pending
   webhook deliveries, age of the oldest due one).

Results go to ``bench/results/soak-<timestamp>/``: ``summary.json`` (exact p50/p99/p99.9 per
operation from every request's latency, recorded by the locustfile), ``samples.csv``,
``latencies.tsv``, ``soak.png`` and locust's own CSVs and log. The verdict at the end: p99 of each
single-resource read (``case``, ``care-plan``) <= 25 ms, of each write <= 60 ms, no error, memory
flat (see ``flatness``); the exit code is 1 when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil

from app.db.database import Database, asyncpg_dsn
from app.db.query import Query
from app.db.repositories.events import delivery_backlog
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig
from app.settings import Settings
from bench.run import (
    HOST,
    RESULTS,
    ROOT,
    alter_database,
    fetch,
    free_port,
    migrated_database,
    postgres_for_run,
    server_env,
    write_kek,
)
from bench.scenarios import SeedContext
from bench.soak import seed as soak_seed
from bench.soak.mix import OPERATIONS, READ_SINGLE, REQUEST_CLASS, WRITE, odd_period

DATABASE = "aftercare_soak"
LOCUSTFILE = ROOT / "bench" / "soak" / "locustfile.py"
BUDGET_MS = {READ_SINGLE: 25.0, WRITE: 60.0}  # p99 of each operation of the class
FLAT_MB = 20.0  # memory is flat when the last minute's median is within this ...
FLAT_FRACTION = 0.10  # ... or this share (whichever is larger) of the minute after warm-up
WINDOW_S = 10.0  # latency-over-time windows in the plot
RAMP_S = 5.0  # locust starts the users over this many seconds (each gets its token first)
CAPACITY_SKIP_S = 10.0  # the capacity is counted after this many seconds of the closed loop


# -- processes ------------------------------------------------------------------------------------
@dataclass
class Proc:
    label: str
    command: list[str]
    env: dict[str, str] | None
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        proc, self.process = self.process, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode


async def ready(proc: Proc, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (await fetch(url + "/readyz", {}))[0] != 200:
        if proc.process is None or proc.process.poll() is not None:
            raise RuntimeError(f"{proc.label} exited during start-up; see {proc.log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.label} is not ready after {timeout:g} s; see {proc.log}")
        await asyncio.sleep(0.3)


def renice(pid: int, nice: int) -> None:
    """Every thread of ``pid`` and of its children (setpriority on a pid reaches only its main
    thread)."""
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(FileNotFoundError):  # (a process that has just ended)
            for task in Path(f"/proc/{process.pid}/task").iterdir():
                with contextlib.suppress(ProcessLookupError):
                    os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def serve_supports_workers() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    return "--workers" in done.stdout


class Receiver:
    """``python -m bench.receiver --count-only`` (answers 204, keeps nothing but a count)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", "--count-only", "--out", str(self.out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().split()[1])

    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    def stop(self) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        process.terminate()
        process.wait(timeout=30)
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(self.out.read_text().split("\t")[1])
        return 0


# -- the plan the load starts from ----------------------------------------------------------------
async def current_plan(database_url: str, credentials: list[dict[str, str]]) -> dict[str, Any]:
    """The plan for the next locust run, read from the database (so what an earlier run did,
    finished or cut short, is taken into account): each partner's cases with their ETags, the
    pending referrals to it and its accepted ones."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        cases = await conn.fetch("SELECT id, lead_org_id, version FROM cases WHERE status = 'open'")
        referrals = await conn.fetch(
            "SELECT id, from_org_id, to_org_id, status FROM referrals "
            "WHERE status IN ('pending', 'accepted') AND NOT transfer_lead "
            "AND (respond_by IS NULL OR respond_by > now() + interval '1 hour') ORDER BY created_at"
        )
    finally:
        await conn.close()
    partners: dict[str, dict[str, Any]] = {
        c["org_id"]: {**c, "cases": {}, "pending_in": [], "accepted_out": []} for c in credentials
    }
    for row in cases:
        partners[str(row["lead_org_id"])]["cases"][str(row["id"])] = f'"{row["version"]}"'
    plan_referrals = {}
    for row in referrals:
        rid, sender, receiver = str(row["id"]), str(row["from_org_id"]), str(row["to_org_id"])
        plan_referrals[rid] = (sender, receiver)
        if row["status"] == "pending":
            partners[receiver]["pending_in"].append(rid)
        else:
            partners[sender]["accepted_out"].append(rid)
    return {"partners": list(partners.values()), "referrals": plan_referrals}


# -- sampling --------------------------------------------------------------------------------------
def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _runqueue_wait(pid: int) -> float:
    """Seconds the threads of ``pid`` have spent runnable but waiting for a CPU (the second
    field of ``/proc/<pid>/task/<tid>/schedstat``): on a shared machine, the time other
    processes kept a request's work off the CPU."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def memory_of(pid: int, *, pss: bool = False) -> tuple[float, float, float, float, float] | None:
    """(MB resident or, with ``pss``, proportional; MB resident; MB unique to each process;
    CPU seconds; seconds waiting for a CPU) of ``pid`` and its descendants, or None once it is
    gone. The proportional set size splits shared pages between the processes that map them:
    PostgreSQL's backends add up to it without counting the shared buffers each has touched
    once per backend. The unique set size (with ``pss`` only) leaves shared pages out: for
    PostgreSQL, its backends' private memory without the shared buffers filling up."""
    tree = _tree(pid)
    if not tree:
        return None
    total = rss = uss = cpu = wait = 0.0
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = proc.memory_full_info() if pss else proc.memory_info()
            rss += info.rss
            total += getattr(info, "pss", info.rss)
            uss += getattr(info, "uss", 0.0)
            times = proc.cpu_times()
            cpu += times.user + times.system
            wait += _runqueue_wait(proc.pid)
    return total / 2**20, rss / 2**20, uss / 2**20, cpu, wait


_ACTIVITY = """
SELECT state, coalesce(wait_event_type || ':' || wait_event, 'running') AS waiting, count(*) AS n
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND state <> 'idle'
GROUP BY 1, 2
"""


@dataclass
class WaitSampler:
    """What the database's client backends are doing, every ``interval`` seconds (from
    ``pg_stat_activity``, leaving out idle ones): on average how many are active or idle in a
    transaction, and on what they wait (a lock, the WAL flush of a commit, the client's next
    statement: ``Client:ClientRead`` while the app works between two statements)."""

    database_url: str
    counts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    samples: int = 0

    async def run(self, interval: float = 0.1) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            while True:
                for row in await conn.fetch(_ACTIVITY):
                    self.counts[f"{row['state']} / {row['waiting']}"] += row["n"]
                self.samples += 1
                await asyncio.sleep(interval)
        finally:
            await conn.close()

    def averages(self) -> dict[str, float]:
        return {
            key: round(n / max(1, self.samples), 3)
            for key, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
        }


_DELIVERED = Query("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")


@dataclass
class Sampler:
    groups: dict[str, int]  # label -> root pid
    pss: set[str]
    database: Database
    started: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    async def sample(self) -> None:
        row: dict[str, Any] = {"t": round(time.time() - self.started, 1)}
        for label, pid in self.groups.items():
            measured = await asyncio.to_thread(memory_of, pid, pss=label in self.pss)
            if measured is not None:
                row[f"{label}_mb"] = round(measured[0], 1)
                if label in self.pss:  # the plain sum of RSS and the private memory beside it
                    row[f"{label}_rss_mb"] = round(measured[1], 1)
                    row[f"{label}_uss_mb"] = round(measured[2], 1)
                row[f"{label}_cpu_s"] = round(measured[3], 2)
                row[f"{label}_runq_s"] = round(measured[4], 2)
        session = self.database.session(transactional=False)
        try:
            pending, lag = await delivery_backlog(session)
            # Deliveries made so far (the plot shows their rate): the worker keeps up or not.
            delivered = await session.fetchval(_DELIVERED)
        finally:
            await session.close()
        row["outbox_pending"] = pending
        row["outbox_lag_s"] = round(lag, 3)
        row["deliveries_succeeded"] = int(delivered)
        row["load_1m"] = round(os.getloadavg()[0], 2)
        machine = psutil.cpu_times()  # the whole machine's, every process of every user
        row["machine_idle_s"] = round(machine.idle, 1)
        row["machine_iowait_s"] = round(getattr(machine, "iowait", 0.0), 1)
        # Linux's pressure stall information: seconds in which some runnable task (any user's)
        # waited for a CPU; its rate is the share of time the machine's CPUs were contended.
        with contextlib.suppress(OSError, ValueError, IndexError):
            some = Path("/proc/pressure/cpu").read_text().split("\n")[0]
            row["machine_cpu_pressure_s"] = round(int(some.rsplit("total=", 1)[1]) / 1e6, 2)
        self.rows.append(row)

    async def run(self, interval: float) -> None:
        while True:
            began = time.monotonic()
            await self.sample()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))


async def drain(database: Database, timeout: float = 120.0) -> float:
    """Wait until the worker has made every pending webhook delivery (what the seeding and the
    capacity run queued), so the soak starts from an empty outbox; the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        session = database.session(transactional=False)
        try:
            pending, _ = await delivery_backlog(session)
        finally:
            await session.close()
        if pending == 0:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - began


_BUCKET = re.compile(r"^aftercare_http_request_duration_seconds_bucket\{(.*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')
_LAG_BUCKET = re.compile(r'^aftercare_event_loop_lag_seconds_bucket\{le="([^"]*)"\} (\S+)$', re.M)
# The event loop's lag histogram, reported beside the routes under this name.
LOOP_LAG = ("(event loop)", "lag of a 0.1 s timer")


async def scrape(url: str) -> dict[tuple[str, str, float], float]:
    """The app's latency histogram (``GET /metrics``): (method, route, bucket) -> count; and
    its event loop's lag histogram under ``LOOP_LAG``."""
    status, _, body = await fetch(url + "/metrics", {})
    if status != 200:
        return {}
    text = body.decode(errors="replace")
    out = {}
    for labels, n in _BUCKET.findall(text):
        label = dict(_LABEL.findall(labels))
        out[label["method"], label["route"], float(label["le"])] = float(n)
    for le, n in _LAG_BUCKET.findall(text):
        out[(*LOOP_LAG, float(le))] = float(n)
    return out


def server_side(
    before: dict[tuple[str, str, float], float], after: dict[tuple[str, str, float], float]
) -> dict[str, Any]:
    """What the app itself measured over the soak, per route (from its middleware's first byte
    to its last; the load tool's latency adds the network, uvicorn's parsing and the load
    tool's own waits): requests, the share answered within 25 and 50 ms, and the bucket
    bounds within which the p50 and the p99 lie (the histogram's resolution)."""
    counts: dict[str, dict[float, float]] = defaultdict(dict)
    for (method, route, le), n in after.items():
        counts[f"{method} {route}"][le] = n - before.get((method, route, le), 0.0)
    out = {}
    for name, buckets in sorted(counts.items()):
        total = buckets.get(float("inf"), 0.0)
        if total <= 0 or route_is_probe(name):
            continue
        bounds = sorted(buckets)

        def bound(q: float, bounds: list[float] = bounds, buckets: dict[float, float] = buckets,
                  total: float = total) -> float:  # fmt: skip
            return next(le for le in bounds if buckets[le] >= q * total)

        out[name] = {
            "requests": int(total),
            "within_25ms": round(buckets.get(0.025, 0.0) / total, 4),
            "within_50ms": round(buckets.get(0.05, 0.0) / total, 4),
            "p50_at_most_s": bound(0.5),
            "p99_at_most_s": bound(0.99),
        }
    return out


def route_is_probe(name: str) -> bool:
    return name.split(" ", 1)[1] in ("/metrics", "/readyz", "/healthz")


# -- locust ------------------------------------------------------------------------------------
async def run_locust(
    *,
    phase: str,
    out: Path,
    plan: dict[str, Any],
    url: str,
    users: int,
    rate_per_user: float,
    duration: float,
    nice: int = 0,
    without: Sequence[str] = (),
    graphql_url: str = "",
    graphql_alternate: float = 0.0,
    pacing_alternate: float = 0.0,
) -> tuple[Path, float, float, int | None]:
    """One headless locust run; (its latencies file, start, end, exit code). ``nice``: the
    scheduling priority of locust's threads (negative: ahead of the app and PostgreSQL);
    ``without``: operations left out of the mix."""
    plan_path = out / f"plan-{phase}.json"
    plan_path.write_bytes(orjson.dumps(plan))
    latencies = out / f"latencies-{phase}.tsv"
    env = {
        **os.environ,
        "SOAK_PLAN": str(plan_path),
        "SOAK_RATE_PER_USER": repr(rate_per_user),
        "SOAK_LATENCIES": str(latencies),
        "SOAK_ERRORS": str(out / f"errors-{phase}.jsonl"),
        "SOAK_WITHOUT": ",".join(without),
        "SOAK_GRAPHQL_URL": graphql_url,
        "SOAK_GRAPHQL_ALTERNATE": repr(graphql_alternate),
        "SOAK_PACING_ALTERNATE": repr(pacing_alternate),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--users", str(users), "--spawn-rate", f"{users / RAMP_S:g}",
        "--run-time", f"{round(duration)}s",
        "--host", url, "--csv", str(out / f"locust-{phase}"), "--csv-full-history",
        "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10",
    ]  # fmt: skip
    log = out / f"locust-{phase}.log"
    proc = Proc(f"locust-{phase}", command, env, log)
    started = time.time()
    proc.start()
    if nice and proc.process is not None:
        renice(proc.process.pid, nice)
    try:
        code = await asyncio.to_thread(proc.process.wait) if proc.process else None
    except asyncio.CancelledError:
        proc.stop(signal.SIGINT)
        raise
    return latencies, started, time.time(), code


@dataclass(frozen=True)
class Request:
    end: float
    name: str
    ms: float
    status: int
    failed: bool
    fresh: bool = False  # sent on a new connection


def read_latencies(path: Path) -> list[Request]:
    out: list[Request] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        end, name, ms, status, failed, *fresh = line.split("\t")
        out.append(Request(float(end), name, float(ms), int(status), failed == "1", fresh == ["1"]))
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or below it."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 1))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def stats(requests: Sequence[Request], seconds: float) -> dict[str, Any]:
    values = sorted(r.ms for r in requests)
    return {
        "count": len(values),
        "per_second": round(len(values) / seconds, 2) if seconds > 0 else None,
        "errors": sum(r.failed for r in requests),
        "p50_ms": round(percentile(values, 0.50), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "p99_9_ms": round(percentile(values, 0.999), 2),
        "max_ms": round(values[-1], 2) if values else None,
        "mean_ms": round(statistics.fmean(values), 2) if values else None,
        # (the single reads' budget: how many missed it, whatever the p99)
        "over_25_ms_pct": round(
            100 * sum(v > BUDGET_MS[READ_SINGLE] for v in values) / len(values), 2
        )
        if values
        else None,
    }


def by_operation(requests: Sequence[Request], seconds: float) -> dict[str, Any]:
    groups: dict[str, list[Request]] = defaultdict(list)
    for r in requests:
        groups[r.name].append(r)
    return {
        "operations": {
            name: {"class": REQUEST_CLASS.get(name, "other"), **stats(rs, seconds)}
            for name, rs in sorted(groups.items())
        },
        "classes": {name: stats(rs, seconds) for name, rs in sorted(by_class(requests).items())},
        "all": stats(requests, seconds),
    }


def alternation(
    requests: Sequence[Request], period: float, names: tuple[str, str] = ("app", "pool")
) -> dict[str, Any]:
    """``--graphql-alternate`` (and ``--pacing-alternate``): the classes' latencies in even
    periods of the clock (``/graphql`` to the app processes; constant-throughput pacing) and in
    odd ones (GraphQL's pool; the Poisson pacing), named by ``names``, each
    period's first second left out (requests sent before the switch)."""
    halves: dict[str, list[Request]] = {names[0]: [], names[1]: []}
    for r in requests:
        if r.end % period >= 1.0:
            halves[names[1] if odd_period(r.end, period) else names[0]].append(r)
    # (each half's seconds: its periods, less their first seconds)
    seconds = {
        where: len({int(r.end // period) for r in half}) * (period - 1.0)
        for where, half in halves.items()
    }
    return {
        where: {
            name: stats(of_class, seconds[where])
            for name, of_class in sorted(by_class(half).items())
        }
        for where, half in halves.items()
    }


def by_class(requests: Sequence[Request]) -> dict[str, list[Request]]:
    classes: dict[str, list[Request]] = defaultdict(list)
    for r in requests:
        classes[REQUEST_CLASS.get(r.name, "other")].append(r)
    return classes


def timeline(requests: Sequence[Request], started: float) -> list[dict[str, Any]]:
    """Per window of ``WINDOW_S`` seconds and class: p50, p99 and the rate."""
    windows: dict[tuple[int, str], list[float]] = defaultdict(list)
    for r in requests:
        windows[int((r.end - started) // WINDOW_S), REQUEST_CLASS.get(r.name, "other")].append(r.ms)
    rows = []
    for (w, cls), values in sorted(windows.items()):
        values.sort()
        rows.append(
            {
                "t": (w + 0.5) * WINDOW_S,
                "class": cls,
                "count": len(values),
                "p50_ms": percentile(values, 0.5),
                "p99_ms": percentile(values, 0.99),
            }
        )
    return rows


def flatness(
    samples: Sequence[dict[str, Any]], labels: Sequence[str], duration: float
) -> dict[str, Any]:
    """Per process group: the median of the minute after warm-up (the first ``warmup`` seconds:
    a minute, or a quarter of a shorter run) against the median of the last minute (or
    quarter); flat when the growth is at most ``FLAT_MB`` or ``FLAT_FRACTION`` of the first,
    whichever is larger. Also the least-squares slope after warm-up, in MB per minute."""
    span = min(60.0, duration / 4)
    out: dict[str, Any] = {}
    for label in labels:
        key = f"{label}_mb"
        shared: dict[str, Any] = {}
        if any(s.get(f"{label}_uss_mb") for s in samples):
            # PostgreSQL: judged on its processes' private memory. Their proportional size also
            # holds the shared buffers they have touched, which fill up (to shared_buffers) as
            # the soak's writes grow the tables: a cache warming, reported beside it.
            with_shared = [s[key] for s in samples if s.get(key)]
            shared = {
                "with_shared_buffers_mb": [round(with_shared[0], 1), round(with_shared[-1], 1)]
            }
            key = f"{label}_uss_mb"
        series = [(s["t"], s[key]) for s in samples if s.get(key)]
        first = [v for t, v in series if span <= t < 2 * span]
        last = [v for t, v in series if t >= duration - span]
        if not first or not last:
            out[label] = {"flat": None, "why": "too few samples"}
            continue
        a, b = statistics.median(first), statistics.median(last)
        after = [(t, v) for t, v in series if t >= span]
        slope = (
            statistics.linear_regression([t for t, _ in after], [v for _, v in after]).slope * 60
            if len(after) >= 2
            else 0.0
        )
        allowed = max(FLAT_MB, FLAT_FRACTION * a)
        out[label] = {
            "after_warmup_mb": round(a, 1),
            "last_mb": round(b, 1),
            "growth_mb": round(b - a, 1),
            "allowed_mb": round(allowed, 1),
            "slope_mb_per_min": round(slope, 2),
            "max_mb": round(max(v for _, v in series), 1),
            "flat": b - a <= allowed,
            **({"private": True, **shared} if shared else {}),
        }
    return out


def cpu_use(samples: Sequence[dict[str, Any]], labels: Sequence[str], requests: int) -> Any:
    """Per process group over the soak: the share of a core it used, its CPU time per request
    of the load and the time its threads waited for a CPU per request (from the first to the
    last sample that has it)."""
    out: dict[str, Any] = {}
    for label in labels:
        have = [s for s in samples if f"{label}_cpu_s" in s]
        if len(have) < 2:
            continue
        first, last = have[0], have[-1]
        cpu = last[f"{label}_cpu_s"] - first[f"{label}_cpu_s"]
        wait = last[f"{label}_runq_s"] - first[f"{label}_runq_s"]
        out[label] = {
            "cores": round(cpu / max(1e-9, last["t"] - first["t"]), 3),
            "cpu_ms_per_request": round(cpu * 1000 / max(1, requests), 2),
            "runqueue_wait_ms_per_request": round(wait * 1000 / max(1, requests), 2),
        }
    return out


def machine_use(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The whole machine over the soak (every process, ours and the neighbours'): idle and
    I/O-wait cores, and the share of time some runnable task waited for a CPU."""
    first, last = samples[0], samples[-1]
    seconds = max(1e-9, last["t"] - first["t"])

    def rate(key: str) -> float | None:
        if key not in first or key not in last:
            return None
        value: float = round(float(last[key] - first[key]) / seconds, 3)
        return value

    return {
        "cpus": os.cpu_count(),
        "idle_cores": rate("machine_idle_s"),
        "iowait_cores": rate("machine_iowait_s"),
        "cpu_pressure_some": rate("machine_cpu_pressure_s"),
        "load_1m_median": statistics.median(s["load_1m"] for s in samples),
    }


# -- the plot --------------------------------------------------------------------------------------
def plot(
    path: Path, lines: list[dict[str, Any]], samples: list[dict[str, Any]], labels: Sequence[str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, mem, box) = plt.subplots(3, 1, figsize=(11, 11), sharex=True)
    colours = {"read-single": "C0", "read-list": "C1", "write": "C2", "graphql": "C3", "auth": "C7"}
    for cls, colour in colours.items():
        rows = [r for r in lines if r["class"] == cls]
        if not rows:
            continue
        ts = [r["t"] for r in rows]
        lat.plot(ts, [r["p99_ms"] for r in rows], color=colour, label=f"{cls} p99")
        lat.plot(ts, [r["p50_ms"] for r in rows], color=colour, ls=":", label=f"{cls} p50")
    for cls, budget in BUDGET_MS.items():
        lat.axhline(budget, color=colours[cls], ls="--", lw=0.8, alpha=0.6)
    lat.set_yscale("log")
    lat.set_ylabel(f"latency, ms ({WINDOW_S:g} s windows)")
    lat.set_title("Soak: latency per operation class (dashed: p99 budgets 25 / 60 ms)")
    lat.legend(ncol=4, fontsize=7)
    lat.grid(True, which="both", alpha=0.3)
    ts = [s["t"] for s in samples]
    for label in labels:
        mem.plot(ts, [s.get(f"{label}_mb") for s in samples], label=label)
    mem.set_ylabel("memory, MB (PostgreSQL: PSS)")
    mem.set_title("Memory of each process (with its children)")
    mem.legend(fontsize=7, ncol=3)
    mem.grid(True, alpha=0.3)
    box.plot(ts, [s["outbox_pending"] for s in samples], color="C4", label="pending deliveries")
    rate = [
        (b["deliveries_succeeded"] - a["deliveries_succeeded"]) / max(1e-9, b["t"] - a["t"])
        for a, b in itertools.pairwise(samples)
    ]
    box.plot(ts[1:], rate, color="C6", ls=":", label="deliveries made per s")
    box.set_ylabel("pending webhook deliveries")
    twin = box.twinx()
    twin.plot(ts, [s["outbox_lag_s"] for s in samples], color="C5", label="oldest due, s")
    twin.set_ylabel("age of the oldest due delivery, s")
    box.set_xlabel("seconds since the soak started")
    box.set_title("Outbox")
    box.legend(loc="upper left", fontsize=7)
    twin.legend(loc="upper right", fontsize=7)
    box.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the run ------------------------------------------------------------------------------------
async def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    if max(args.app_processes, args.graphql_processes) > 1 and not serve_supports_workers():
        raise RuntimeError("--app-processes > 1 needs `aftercare serve --workers` (not here yet)")
    summary: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "partners": args.partners,
            "cases_per_partner": args.cases,
            "users": args.partners * args.users_per_partner,
            "app_processes": args.app_processes,
            "token_ttl_s": args.token_ttl,
            "postgresql_settings": dict(args.pg_setting),
            "load_nice": args.load_nice,
            "graphql_processes": args.graphql_processes,
            "graphql_nice": args.graphql_nice if args.graphql_processes else None,
            "worker_nice": args.worker_nice,
            "graphql_alternate_s": args.graphql_alternate or None,
            "without": args.without,
        }
    }
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        server_url, embedded = await postgres_for_run(stack)
        postmaster: int | None = None
        if embedded is None:
            print("  (its memory is not sampled)", flush=True)
        else:
            postmaster = int((embedded.pgdata / "postmaster.pid").read_text().split()[0])
            print(f"  postmaster pid {postmaster}", flush=True)
        database_url = await migrated_database(stack, server_url, DATABASE)
        for name, value in args.pg_setting:
            # The server's own setting (ALTER SYSTEM, reloaded), put back when the run ends.
            before = await alter_system(server_url, name, value)
            stack.push_async_callback(alter_system, server_url, name, before)
            print(f"  PostgreSQL: {name} = {value}", flush=True)

        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-soak-")))
        keys_dir = tmp / "keys"
        keys_dir.mkdir()
        port = free_port()
        settings = Settings(
            env="development",
            database_url=database_url,
            data_dir=tmp,
            keys_dir=keys_dir,
            issuer=f"http://{HOST}:{port}",
            access_token_ttl_seconds=args.token_ttl,
            log_level="WARNING",
        )
        key_wrapper = write_kek(keys_dir)
        keyring = KeyRing(keys_dir, create=True)
        env = {**server_env(settings), "AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}

        receiver = Receiver(out / "receiver.txt")
        receiver.start()
        stack.callback(lambda: summary.setdefault("webhooks_received", receiver.stop()))

        began = time.monotonic()
        await alter_database(database_url, "SET synchronous_commit = off")
        seed_db = Database(database_url, min_size=0, max_size=2)
        await seed_db.connect()
        try:
            ctx = SeedContext(
                seed_db,
                keyring,
                TokenConfig(settings.issuer, settings.audience, args.token_ttl),
                key_wrapper,
            )
            plan = await soak_seed.seed(
                ctx,
                receiver.url(),
                partners=args.partners,
                cases=args.cases,
                history_referrals=args.history_referrals,
                history_goals=args.history_goals,
            )
            async with seed_db.pool.acquire() as conn:
                await conn.execute("ANALYZE")
        finally:
            await seed_db.close()
            await alter_database(database_url, "RESET synchronous_commit")
        credentials = [
            {"org_id": p.org_id, "client_id": p.client_id, "client_secret": p.client_secret}
            for p in plan.partners
        ]
        print(f"seeded in {time.monotonic() - began:.1f}s", flush=True)

        serve = [sys.executable, "-m", "app", "serve", "--no-worker", "--host", HOST]
        serve += ["--port", str(port)]
        if args.app_processes > 1:
            serve += ["--workers", str(args.app_processes)]
        app = Proc("app", serve, env, logs / "app.log")
        worker = Proc("worker", [sys.executable, "-m", "app", "worker"], env, logs / "worker.log")
        stack.callback(worker.stop)
        stack.callback(app.stop)
        app.start()
        worker.start()
        url = f"http://{HOST}:{port}"
        await ready(app, url)
        print(f"app: pid {app.pid}, {url}; worker: pid {worker.pid}", flush=True)
        graphql_app: Proc | None = None
        graphql_url = ""
        if args.graphql_processes:
            # GraphQL's own pool (a load balancer routing /graphql to it), at a lower priority.
            graphql_port = free_port()
            graphql_serve = [*serve[: serve.index("--port")], "--port", str(graphql_port)]
            if args.graphql_processes > 1:
                graphql_serve += ["--workers", str(args.graphql_processes)]
            graphql_app = Proc("graphql-app", graphql_serve, env, logs / "graphql-app.log")
            stack.callback(graphql_app.stop)
            graphql_app.start()
            graphql_url = f"http://{HOST}:{graphql_port}"
            await ready(graphql_app, graphql_url)
            print(
                f"GraphQL's pool: pid {graphql_app.pid}, {graphql_url}, "
                f"{args.graphql_processes} process(es), at nice {args.graphql_nice} for the soak",
                flush=True,
            )

        users = args.partners * args.users_per_partner
        capacity_users = args.capacity_users or args.partners
        rate = args.rate
        capacity: dict[str, Any] | None = None
        if rate is None:
            print(
                f"\ncapacity: closed loop, {capacity_users} users, {args.capacity_duration:g} s",
                flush=True,
            )
            path, started, ended, _ = await run_locust(
                phase="capacity",
                out=out,
                plan=await current_plan(database_url, credentials),
                url=url,
                users=capacity_users,
                rate_per_user=0.0,
                duration=args.capacity_duration,
                without=args.without,
                # GraphQL served by the app processes, as without a pool: a closed loop through a
                # pool of one process measures that process's queue, not the machine (its users
                # wait for their pages there: 281-311 requests/s where the machine gave ~400),
                # and the soak's rate, half the capacity, would be lower for the new topology
                # than for the old. The rate is the same share of the same measurement for both.
                graphql_url="",
            )
            requests = [r for r in read_latencies(path) if r.end >= started + CAPACITY_SKIP_S]
            seconds = max(1.0, ended - started - CAPACITY_SKIP_S)
            capacity = by_operation(requests, seconds)
            rate = capacity["all"]["per_second"] * args.load_fraction
            summary["capacity"] = {
                "duration_s": args.capacity_duration,
                "users": capacity_users,
                "requests_per_s": capacity["all"]["per_second"],
                **capacity,
            }
            print(
                f"capacity: {capacity['all']['per_second']:.0f} req/s "
                f"(p50 {capacity['all']['p50_ms']} ms, p99 {capacity['all']['p99_ms']} ms, "
                f"{capacity['all']['errors']} errors)",
                flush=True,
            )
        assert rate is not None
        if graphql_app is not None:
            renice(graphql_app.pid, args.graphql_nice)  # for the soak
        if args.worker_nice:
            renice(worker.pid, args.worker_nice)
        sample_db = Database(database_url, min_size=0, max_size=1)
        await sample_db.connect()
        stack.push_async_callback(sample_db.close)
        waited = await drain(sample_db)
        print(f"outbox drained in {waited:.1f}s (seeding and capacity run's webhooks)", flush=True)
        share = "as asked" if args.rate is not None else f"{args.load_fraction:g} of capacity"
        print(
            f"\nsoak: {rate:.1f} req/s ({share}), {users} users, "
            f"{args.duration:g} s; sampling every {args.interval:g} s",
            flush=True,
        )
        groups = {"app": app.pid, "worker": worker.pid}
        if graphql_app is not None:
            groups["graphql-app"] = graphql_app.pid
        groups["receiver"] = receiver.process.pid if receiver.process else 0
        if postmaster:
            groups["postgres"] = postmaster
        soak_plan = await current_plan(database_url, credentials)
        metrics_before = await scrape(url)
        graphql_metrics_before = await scrape(graphql_url) if graphql_app is not None else {}
        started = time.time()
        sampler = Sampler(groups, {"postgres"}, sample_db, started)
        locust_task = asyncio.create_task(
            run_locust(
                phase="soak",
                out=out,
                plan=soak_plan,
                url=url,
                users=users,
                rate_per_user=rate / users,
                duration=args.duration,
                nice=args.load_nice,
                without=args.without,
                graphql_url=graphql_url,
                graphql_alternate=args.graphql_alternate,
                pacing_alternate=args.pacing_alternate,
            )
        )
        await asyncio.sleep(1)  # locust's process is up: sample it too
        locust_pid = next(
            (
                p.pid
                for p in psutil.Process().children()
                if "locust" in " ".join(p.cmdline()) and "soak" in " ".join(p.cmdline())
            ),
            None,
        )
        if locust_pid:
            sampler.groups["locust"] = locust_pid
        sampling = asyncio.create_task(sampler.run(args.interval))
        waits = WaitSampler(database_url)
        watching = asyncio.create_task(waits.run())
        try:
            path, started, ended, locust_code = await locust_task
        finally:
            for task in (sampling, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        summary["database_backends"] = {"samples": waits.samples, "average": waits.averages()}
        summary["server_side"] = server_side(metrics_before, await scrape(url))
        if graphql_app is not None:
            # (prefixed: both pools have the loop-lag row, and /graphql under --graphql-alternate)
            pool = server_side(graphql_metrics_before, await scrape(graphql_url))
            summary["server_side"].update({f"GraphQL's pool: {k}": v for k, v in pool.items()})
        await sampler.sample()  # one right after the load
        drained_after = await drain(sample_db)
        summary["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        requests = [r for r in read_latencies(path) if r.end >= started]
        steady = [r for r in requests if r.end >= started + args.warmup]
        seconds = ended - started
        summary["soak"] = {
            "target_per_s": round(rate, 2),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "locust_exit_code": locust_code,
            # After the warm-up (the users' ramp and first tokens): what the verdict judges.
            **by_operation(steady, seconds - args.warmup),
            "whole_run": by_operation(requests, seconds),
        }
        summary["timeline"] = timeline(requests, started)
        if args.graphql_alternate:
            summary["alternation"] = alternation(steady, args.graphql_alternate)
        if args.pacing_alternate:
            summary["pacing_alternation"] = alternation(
                steady, args.pacing_alternate, ("constant", "poisson")
            )
        labels = list(sampler.groups)
        summary["memory"] = flatness(sampler.rows, labels, args.duration)
        summary["cpu"] = cpu_use(sampler.rows, labels, len(requests))
        summary["machine"] = machine_use(sampler.rows)
        summary["outbox"] = {
            "pending_max": max(s["outbox_pending"] for s in sampler.rows),
            "pending_median": statistics.median(s["outbox_pending"] for s in sampler.rows),
            "lag_max_s": max(s["outbox_lag_s"] for s in sampler.rows),
            "lag_median_s": statistics.median(s["outbox_lag_s"] for s in sampler.rows),
            "pending_after_load": sampler.rows[-1]["outbox_pending"],
            "drained_after_load_s": round(drained_after, 1),
        }
        with (out / "samples.csv").open("w", newline="") as fh:
            fields = list(dict.fromkeys(k for row in sampler.rows for k in row))
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(sampler.rows)
        plot(out / "soak.png", summary["timeline"], sampler.rows, labels)
        worker_code = worker.stop()
        app_code = app.stop(signal.SIGTERM)
        summary["exit_codes"] = {"worker": worker_code, "app": app_code}
        if graphql_app is not None:
            summary["exit_codes"]["graphql-app"] = graphql_app.stop(signal.SIGTERM)
    summary["verdict"] = verdict(summary)
    return summary


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    soak = summary["soak"]
    checks: list[dict[str, Any]] = []
    for name, op in soak["operations"].items():
        budget = BUDGET_MS.get(op["class"])
        if budget is not None:
            checks.append(
                {
                    "check": f"p99 {name} <= {budget:g} ms",
                    "value": op["p99_ms"],
                    "ok": op["p99_ms"] <= budget,
                }
            )
    left_out = summary.get("meta", {}).get("without")
    if left_out:  # a diagnostic run, not the soak
        checks.append({"check": "the whole mix", "value": left_out, "ok": False})
    errors = soak["whole_run"]["all"]["errors"] + summary.get("capacity", {}).get("all", {}).get(
        "errors", 0
    )
    checks.append(
        {"check": "errors == 0 (capacity run and soak)", "value": errors, "ok": not errors}
    )
    for label, mem in summary["memory"].items():
        checks.append(
            {
                "check": f"memory of {label} flat",
                "value": mem.get("growth_mb"),
                "ok": bool(mem.get("flat")),
            }
        )
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def topology(meta: dict[str, Any]) -> str:
    app = f"{meta['app_processes']} app process(es)"
    if not meta.get("graphql_processes"):
        return f"{app}, serving GraphQL too" + _worker(meta)
    pool = (
        f"{app}; GraphQL's own pool: {meta['graphql_processes']} process(es) at nice "
        f"{meta['graphql_nice']}"
    )
    if meta.get("graphql_alternate_s"):
        pool += f", /graphql sent to each in turn, {meta['graphql_alternate_s']:g} s each"
    return pool + _worker(meta)


def _worker(meta: dict[str, Any]) -> str:
    nice = meta.get("worker_nice")
    return f"; the worker at nice {nice}" if nice else ""


def report(summary: dict[str, Any]) -> str:
    soak = summary["soak"]
    lines = [
        "",
        f"soak: {soak['whole_run']['all']['count']} requests in {soak['duration_s']:g} s, "
        f"{soak['whole_run']['all']['per_second']} req/s (target {soak['target_per_s']}), "
        f"{soak['whole_run']['all']['errors']} errors; load average "
        f"{summary['meta']['load_average_at_start']} -> {summary['meta']['load_average_at_end']}",
        topology(summary["meta"]),
        "",
        f"after the first {soak['warmup_s']:g} s (latencies in ms):",
        f"{'operation':<20} {'class':<12} {'count':>7} {'err':>4} {'p50':>8} {'p99':>8} "
        f"{'p99.9':>8} {'max':>8}",
    ]
    for name, op in soak["operations"].items():
        lines.append(
            f"{name:<20} {op['class']:<12} {op['count']:>7} {op['errors']:>4} "
            f"{op['p50_ms']:>8.1f} {op['p99_ms']:>8.1f} {op['p99_9_ms']:>8.1f} {op['max_ms']:>8.1f}"
        )
    for key, title in (
        ("alternation", "by where /graphql went (--graphql-alternate)"),
        ("pacing_alternation", "by the users' pacing (--pacing-alternate)"),
    ):
        if key not in summary:
            continue
        lines.append("")
        lines.append(f"{title}, p50 / p99 / share over 25 ms:")
        for where, classes in summary[key].items():
            lines.append(
                f"  {where:<8} "
                + "; ".join(
                    f"{name} {c['p50_ms']:.1f} / {c['p99_ms']:.1f} / {c['over_25_ms_pct']:.1f} %"
                    for name, c in classes.items()
                )
            )
    lines.append("")
    for label, mem in summary["memory"].items():
        shared = mem.get("with_shared_buffers_mb")
        lines.append(
            f"memory {label:<9} {'private ' if mem.get('private') else ''}"
            f"{mem.get('after_warmup_mb')} -> {mem.get('last_mb')} MB "
            f"(growth {mem.get('growth_mb')}, allowed {mem.get('allowed_mb')}, slope "
            f"{mem.get('slope_mb_per_min')} MB/min): {'flat' if mem.get('flat') else 'NOT flat'}"
            + (
                f"; with the shared buffers it touched {shared[0]} -> {shared[1]} MB"
                if shared
                else ""
            )
        )
    lines.append(
        "CPU per process group: "
        + ", ".join(
            f"{label} {c['cores']:.2f} cores ({c['cpu_ms_per_request']} ms/request, "
            f"{c['runqueue_wait_ms_per_request']} ms/request waiting for a CPU)"
            for label, c in summary["cpu"].items()
        )
        + f"; load average {summary['meta']['load_average_at_end']} at the end"
    )
    m = summary.get("machine", {})
    lines.append(
        f"machine (everyone's processes): {m.get('idle_cores')} of {m.get('cpus')} cores idle, "
        f"{m.get('iowait_cores')} in I/O wait, some task waiting for a CPU "
        f"{m.get('cpu_pressure_some')} of the time, load average median {m.get('load_1m_median')}"
    )
    backends = summary.get("database_backends", {})
    lines.append(
        f"database backends not idle, on average ({backends.get('samples')} samples of "
        "pg_stat_activity, state / wait event):"
    )
    for key, n in list(backends.get("average", {}).items())[:8]:
        lines.append(f"  {n:6.3f}  {key}")
    lines.append(
        "server side (the app's /metrics histograms over the soak; the event loop's lag counts "
        "timer samples, not requests):"
    )
    for route, s in summary.get("server_side", {}).items():
        lines.append(
            f"  {route:<48} {s['requests']:>7}  within 25 ms {s['within_25ms']:.1%}, "
            f"50 ms {s['within_50ms']:.1%}; p50 <= {s['p50_at_most_s'] * 1000:g} ms, "
            f"p99 <= {s['p99_at_most_s'] * 1000:g} ms"
        )
    box = summary["outbox"]
    lines.append(
        f"outbox: pending median {box['pending_median']}, max {box['pending_max']}; oldest due "
        f"median {box['lag_median_s']} s, max {box['lag_max_s']} s; "
        f"{box['pending_after_load']} pending after the load (none after "
        f"{box['drained_after_load_s']} s)"
    )
    lines.append("")
    for check in summary["verdict"]["checks"]:
        lines.append(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['check']}: {check['value']}")
    lines.append(f"verdict: {'PASS' if summary['verdict']['ok'] else 'FAIL'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak.run", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--duration", type=float, default=600.0, help="soak seconds (600)")
    parser.add_argument("--capacity-duration", type=float, default=40.0, help="seconds (40)")
    parser.add_argument(
        "--rate", type=float, default=None, help="requests/s for the soak (skips the capacity run)"
    )
    parser.add_argument("--load-fraction", type=float, default=0.5, help="of capacity (0.5)")
    parser.add_argument("--partners", type=int, default=soak_seed.PARTNERS)
    parser.add_argument("--cases", type=int, default=soak_seed.CASES, help="per partner")
    parser.add_argument(
        "--users-per-partner", type=int, default=2, help="locust users per partner (2)"
    )
    parser.add_argument(
        "--history-referrals",
        type=int,
        default=soak_seed.HISTORY_REFERRALS,
        help="closed referrals seeded per case, as the soak adds them "
        f"({soak_seed.HISTORY_REFERRALS}; 0: the lists start nearly empty and fill during the run)",
    )
    parser.add_argument(
        "--history-goals",
        type=int,
        default=soak_seed.HISTORY_GOALS,
        help=f"goals seeded per case beyond {soak_seed.GOALS} ({soak_seed.HISTORY_GOALS})",
    )
    parser.add_argument(
        "--capacity-users",
        type=int,
        default=None,
        help="users of the closed loop (default: one per partner; many more only queue for "
        "the app's database pool, whose acquire timeout answers 503)",
    )
    parser.add_argument(
        "--app-processes",
        type=int,
        default=2,
        help="app processes (more than 1 needs `aftercare serve --workers`)",
    )
    parser.add_argument(
        "--graphql-processes",
        type=int,
        default=1,
        help="server processes of GraphQL's own pool, to which the load tool sends /graphql, as "
        "a load balancer routing the path would (1; 0: GraphQL is served by the app processes "
        "with everything else)",
    )
    parser.add_argument(
        "--graphql-nice",
        type=int,
        default=10,
        help="scheduling priority of GraphQL's pool, 0..19 (10: a page of cases yields the "
        "CPU to single reads and writes)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="scheduling priority of the worker (webhook deliveries, timed jobs) during the "
        "soak, 0..19 (0): background work that can yield the CPU to requests",
    )
    parser.add_argument(
        "--graphql-alternate",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a diagnostic with --graphql-processes: /graphql goes to the app processes and to "
        "GraphQL's pool in turn, SECONDS each (periods of the clock), so that the two "
        "topologies are compared on the same machine in the same minutes",
    )
    parser.add_argument(
        "--pacing-alternate",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a diagnostic: each user sends a request every period at a phase of its own "
        "(constant throughput) and as a Poisson process (the soak's) in turn, SECONDS each "
        "(periods of the clock), and the report splits the latencies by pacing",
    )
    parser.add_argument("--interval", type=float, default=5.0, help="sampling interval, s (5)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds at the start of the soak left out of the latency verdict (30; errors "
        "count from the first second)",
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=300,
        help="AFTERCARE_ACCESS_TOKEN_TTL_SECONDS (300: tokens are renewed during the soak)",
    )
    parser.add_argument(
        "--pg-setting",
        type=pg_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL server setting for this run (ALTER SYSTEM and a reload, put back "
        "afterwards; repeatable; one that needs a restart is refused), e.g. wal_compression=lz4",
    )
    parser.add_argument(
        "--load-nice",
        type=int,
        default=0,
        help="scheduling priority of the soak's locust process, -20..19 (0; negative needs "
        "root): a load generator sharing the machine's cores with what it measures counts its "
        "own waits for a CPU as latency",
    )
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=sorted(OPERATIONS),
        metavar="OPERATION",
        help="leave an operation out of the mix (repeatable; a diagnostic: the verdict then "
        f"fails, as this is not the soak's mix); one of {', '.join(sorted(OPERATIONS))}",
    )
    parser.add_argument("--output", type=Path, default=None, help="results directory")
    args = parser.parse_args(argv)
    if args.duration < 20 or args.partners < 2 or args.users_per_partner < 1:
        parser.error("--duration >= 20, --partners >= 2, --users-per-partner >= 1")
    if not -20 <= args.load_nice <= 19:
        parser.error("--load-nice: -20 to 19")
    if not 0 <= args.worker_nice <= 19:
        parser.error("--worker-nice: 0 to 19")
    if not 0 <= args.graphql_nice <= 19 or args.graphql_processes < 0:
        parser.error("--graphql-nice: 0 to 19; --graphql-processes >= 0")
    if args.pacing_alternate < 0:
        parser.error("--pacing-alternate: seconds > 0")
    if args.graphql_alternate < 0 or (args.graphql_alternate and not args.graphql_processes):
        parser.error("--graphql-alternate: seconds > 0, with --graphql-processes")
    return args


_SETTING = re.compile(r"([a-z_][a-z0-9_.]*)=(-?[A-Za-z0-9_.]+)")


def pg_setting(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--pg-setting``: a setting's name and a plain value."""
    match = _SETTING.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError("NAME=VALUE: a setting name and a plain value")
    return match[1], match[2]


async def alter_system(server_url: str, name: str, value: str | None) -> str | None:
    """``ALTER SYSTEM SET name = value`` (``RESET`` for None), then reload the configuration and
    make sure it took effect (a setting that needs a restart is refused). Returns the value
    ``postgresql.auto.conf`` held before, to be put back with a second call."""
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        before = await conn.fetchval(
            "SELECT setting FROM pg_file_settings WHERE name = $1 "
            "AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1",
            name,
        )
        if value is None:
            await conn.execute(f"ALTER SYSTEM RESET {name}")
        else:
            await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await asyncio.sleep(0.5)  # the reload is asynchronous; a new session then sees it
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        pending = await conn.fetchval(
            "SELECT pending_restart FROM pg_settings WHERE name = $1", name
        )
    finally:
        await conn.close()
    if pending:
        await alter_system(server_url, name, before)
        raise SystemExit(f"--pg-setting {name}: takes a server restart, not set for this run")
    return str(before) if before is not None else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    out = args.output or RESULTS / f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        summary = asyncio.run(run(args, out))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"soak failed: {exc}", file=sys.stderr)
        return 1
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(report(summary))
    print(f"\nresults: {out}")
    return 0 if summary["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
