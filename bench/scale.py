"""One partner's audited reads with 1 and N app processes (``make bench-scale``, that is
``python -m bench.run --scale``).

Issue 14 asks whether a second server process helps ONE partner's audited reads, and whether
that partner's requests still queue on its audit chain. This mode seeds the ``case-read``
scenario (one organisation, one case; every request carries that organisation's token, so
every request appends to that organisation's audit chains) and starts four app servers, each on
its own port, all on one database:

- ``AFTERCARE_AUDIT_CHAINS=1`` (one chain per organisation: the design before chains) and the
  default chains, each
- in 1 process (``app.main:create_app``) and in ``--app-processes`` processes (uvicorn
  ``--workers N`` with ``app.main:app_from_env`` and a prometheus_client multiprocess
  directory, as ``aftercare serve --workers N`` runs them).

It loads them in interleaved rounds (the order reversed every round, so none always goes
first), each a warm-up and then a measured run, with the same load as ``bench.run``. During
each measured run a sampler on its own connection reads ``pg_stat_activity`` every
``--sample-ms`` (10 ms) and averages, over the client backends of the bench database: how many
wait on a lock (``wait_event_type = 'Lock'``), how many are active, how many flush the WAL or
wait for another backend's flush. The CPU used meanwhile is read from ``/proc`` (psutil): the
whole machine's busy share, the app's processes, and the database's backends.

Reported: the median requests/s of each configuration, the ratio N processes / 1 process per
chain setting (the issue's target: 1.6), the mean lock-waiting backends with 1 chain and with
the default (target: under 0.05), the CPU, the load average before and after, and the audit
chains of the organisation after the run, which must all verify. The servers idle between
their rounds (a keyset refresh a second); idle pool connections never wait on a lock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import psutil

from app.db.database import Database, asyncpg_dsn
from app.domain.audit import verify_chains
from app.settings import Settings
from bench.run import (
    LoadGenerator,
    LoadResult,
    Server,
    app_server,
    fetch,
    pick_load_generator,
    prepare,
    round_order,
    server_env,
)
from bench.scenarios import SCENARIOS

SCENARIO = "case-read"

_SAMPLE = r"""
    SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock,
           count(*) FILTER (WHERE state = 'active') AS active,
           count(*) FILTER (WHERE lower(wait_event) IN ('walsync', 'walwrite')) AS wal,
           coalesce(array_agg(wait_event) FILTER (WHERE wait_event_type = 'Lock'), '{}')
               AS lock_events,
           coalesce(array_agg(left(regexp_replace(query, '\s+', ' ', 'g'), 60))
                    FILTER (WHERE wait_event_type = 'Lock'), '{}') AS lock_queries
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()
"""
_BACKENDS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()
"""


@dataclass(frozen=True)
class Config:
    chains: int
    processes: int

    @property
    def label(self) -> str:
        return f"app-chains{self.chains}-p{self.processes}"


@dataclass
class Activity:
    """Means of the ``pg_stat_activity`` samples of one measured run."""

    samples: int = 0
    lock_waiting: float = 0.0
    active: float = 0.0
    wal: float = 0.0
    # lock_waiting by wait_event: ``transactionid`` (a row lock's holder, e.g. an audit head's
    # previous updater), ``tuple`` (queued behind another waiter for a row), ``extend`` (a
    # table or index growing), ``relation``, ``advisory``...
    lock_events: dict[str, float] = field(default_factory=dict)
    # lock_waiting by the start of the waiting statement (which statements wait)
    lock_queries: dict[str, float] = field(default_factory=dict)

    @property
    def row_lock_waiting(self) -> float:
        """Waiting for a row lock (``transactionid`` or ``tuple``): the audit heads' queue."""
        return round(
            self.lock_events.get("transactionid", 0.0) + self.lock_events.get("tuple", 0.0), 3
        )


@dataclass
class Cpu:
    """CPU used during one measured run, in cores (1.0 = one CPU busy the whole time)."""

    machine: float = 0.0  # every process on the machine (other users of it included)
    app: float = 0.0  # the app server's processes
    postgres: float = 0.0  # the bench database's backends
    load: float = 0.0  # this process (the sampler's client) and the load generator (wrk)

    @property
    def other(self) -> float:
        """The rest: PostgreSQL's own processes (WAL writer, checkpointer...), idle servers,
        and whatever else runs on the machine."""
        return round(self.machine - self.app - self.postgres - self.load, 2)


@dataclass
class Round:
    load: LoadResult
    activity: Activity
    cpu: Cpu


@dataclass
class ScaleMeasurement:
    config: Config
    rounds: list[Round] = field(default_factory=list)

    def median(self, value: str) -> float:
        """The median over the rounds of ``value``: ``rps``, ``p50``, ``p99``, an ``Activity``
        field or ``cpu.<field>``."""
        return statistics.median(_pick(r, value) for r in self.rounds)


def _pick(r: Round, value: str) -> float:
    if value == "rps":
        return r.load.requests_per_s
    if value in ("p50", "p99"):
        found = getattr(r.load, f"{value}_ms")
        return float(found) if found is not None else float("nan")
    if value.startswith("cpu."):
        used: float = getattr(r.cpu, value.removeprefix("cpu."))
        return float(used)
    if value == "extend":
        return r.activity.lock_events.get("extend", 0.0)
    return float(getattr(r.activity, value))


# -- sampling -------------------------------------------------------------------------------------
async def sample_activity(
    dsn: str, every: float, stop: asyncio.Event, *, connected: asyncio.Event | None = None
) -> Activity:
    """``pg_stat_activity`` of the database of ``dsn`` every ``every`` seconds until ``stop``
    (``connected`` is set once its connection is open and sampling starts)."""
    conn = await asyncpg.connect(dsn)
    if connected is not None:
        connected.set()
    rows: list[asyncpg.Record] = []
    try:
        while not stop.is_set():
            rows.append(await conn.fetchrow(_SAMPLE))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        await conn.close()
    if not rows:
        return Activity()

    def mean(column: str) -> float:
        return round(statistics.fmean(r[column] for r in rows), 3)

    def by(column: str) -> dict[str, float]:
        counts: dict[str, int] = {}
        for r in rows:
            for value in r[column]:
                counts[value] = counts.get(value, 0) + 1
        return {value: round(n / len(rows), 3) for value, n in sorted(counts.items())}

    return Activity(
        len(rows), mean("lock"), mean("active"), mean("wal"), by("lock_events"), by("lock_queries")
    )


def _processes(pids: Iterable[int], *, children: bool) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            found.append(process)
            if children:
                found += process.children(recursive=True)
    return found


def _cpu_seconds(processes: Iterable[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def _own_seconds() -> float:
    """CPU seconds of this process and of its children that have exited (wrk's runs)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    idle = float(times.idle) + float(getattr(times, "iowait", 0.0))
    return float(sum(times)) - idle


class CpuMeter:
    """CPU seconds of the machine, of the processes under ``app_pid`` and of ``backend_pids``
    between ``start`` and ``stop``, per second of wall time."""

    def __init__(self, app_pid: int, backend_pids: Iterable[int]) -> None:
        self._app = _processes([app_pid], children=True)
        self._backends = _processes(backend_pids, children=False)

    def start(self) -> None:
        self._began = time.monotonic()
        self._machine = _busy_seconds()
        self._own = _own_seconds()
        self._app_seconds = _cpu_seconds(self._app)
        self._backend_seconds = _cpu_seconds(self._backends)

    def stop(self) -> Cpu:
        elapsed = max(time.monotonic() - self._began, 1e-9)

        def used(before: dict[int, float], processes: list[psutil.Process]) -> float:
            after = _cpu_seconds(processes)
            return sum(after[pid] - before[pid] for pid in after.keys() & before.keys())

        return Cpu(
            machine=round((_busy_seconds() - self._machine) / elapsed, 2),
            app=round(used(self._app_seconds, self._app) / elapsed, 2),
            postgres=round(used(self._backend_seconds, self._backends) / elapsed, 2),
            load=round((_own_seconds() - self._own) / elapsed, 2),
        )


# -- the run --------------------------------------------------------------------------------------
async def measure_round(
    server: Server,
    url: str,
    headers: dict[str, str],
    load: LoadGenerator,
    args: argparse.Namespace,
    dsn: str,
) -> Round:
    """A warm-up, then a measured run of ``server`` with the sampler and the CPU meter."""
    if args.warmup > 0:
        await load.run(url, headers, connections=args.connections, duration=args.warmup)
    conn = await asyncpg.connect(dsn)
    try:
        backends = [r["pid"] for r in await conn.fetch(_BACKENDS)]
    finally:
        await conn.close()
    assert server.process is not None
    meter = CpuMeter(server.process.pid, backends)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_activity(dsn, args.sample_ms / 1000, stop))
    meter.start()
    try:
        result = await load.run(url, headers, connections=args.connections, duration=args.duration)
    finally:
        cpu = meter.stop()
        stop.set()
        activity = await sampler
    if result.non_2xx or result.socket_errors:
        raise RuntimeError(
            f"{server.label} had {result.non_2xx} non-2xx responses and "
            f"{result.socket_errors} socket errors; see {server.log_path}"
        )
    return Round(result, activity, cpu)


async def audit_state(database_url: str) -> dict[str, Any]:
    """The organisations' chains after the run (the busy one first) and whether all verify."""
    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    try:
        async with db.pool.acquire() as conn:
            orgs = await conn.fetch(
                "SELECT org_id, count(*) AS chains, sum(seq) AS rows, array_agg(chain "
                "ORDER BY chain) AS numbers FROM audit_heads GROUP BY org_id ORDER BY rows DESC"
            )
        session = db.session(transactional=True)
        try:
            verified = await verify_chains(session)
            await session.commit()
        finally:
            await session.close()
    finally:
        await db.close()
    busy = orgs[0] if orgs else None
    return {
        "verified": verified.ok,
        "rows": verified.rows,
        "chains": verified.chains,
        "busy_org_chains": int(busy["chains"]) if busy else 0,
        "busy_org_chain_numbers": list(busy["numbers"]) if busy else [],
        "busy_org_rows": int(busy["rows"]) if busy else 0,
    }


async def run(args: argparse.Namespace) -> tuple[list[ScaleMeasurement], dict[str, Any]]:
    default_chains = Settings.model_fields["audit_chains"].default
    configs = [
        Config(chains, processes)
        for chains in dict.fromkeys(args.chains or (1, default_chains))
        for processes in (1, args.app_processes)
    ]
    async with contextlib.AsyncExitStack() as stack:
        database_url, settings, prepared = await prepare(stack, args, [SCENARIOS[SCENARIO]])
        case_read = prepared[SCENARIO]
        servers: dict[Config, Server] = {}
        for config in configs:
            env = {**server_env(settings), "AFTERCARE_AUDIT_CHAINS": str(config.chains)}
            server = app_server(
                settings, stack, processes=config.processes, label=config.label, env=env
            )
            stack.callback(server.stop)
            server.start()
            servers[config] = server
        for config, server in servers.items():
            await server.wait_ready("/readyz")
            status, _, body = await fetch(server.url(case_read.path), case_read.headers)
            if status != 200:
                raise RuntimeError(f"{server.label} answered {status}: {body[:300]!r}")
            assert server.process is not None
            print(
                f"{server.label}: {config.processes} process(es), AFTERCARE_AUDIT_CHAINS="
                f"{config.chains}, pid {server.process.pid}, {server.url('')}",
                flush=True,
            )
        load = pick_load_generator(args.load_generator, args.threads, args.timeout)
        dsn = asyncpg_dsn(database_url)
        load_before = os.getloadavg()
        print(f"load average before: {_loadavg(load_before)}", flush=True)
        measurements = {config: ScaleMeasurement(config) for config in configs}
        for r, i in round_order(args.rounds, len(configs)):
            config = configs[i]
            server = servers[config]
            got = await measure_round(
                server, server.url(case_read.path), case_read.headers, load, args, dsn
            )
            measurements[config].rounds.append(got)
            print(f"  round {r + 1}/{args.rounds}  {round_line(config, got)}", flush=True)
        load_after = os.getloadavg()
        print(f"load average after: {_loadavg(load_after)}", flush=True)
        for server in servers.values():
            server.stop()
        audit = await audit_state(database_url)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": SCENARIO,
        "load_generator": load.name,
        "connections": args.connections,
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "sample_ms": args.sample_ms,
        "app_processes": args.app_processes,
        "default_chains": default_chains,
        "pool_max_size": settings.db_pool_max_size,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "audit": audit,
    }
    return list(measurements.values()), meta


def _loadavg(values: Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _ms(value: float | None) -> str:
    return f"{value:6.2f} ms" if value is not None else "     - ms"


def round_line(config: Config, r: Round) -> str:
    return (
        f"chains {config.chains:>3}  processes {config.processes}  "
        f"{r.load.requests_per_s:>7.0f} req/s  p50 {_ms(r.load.p50_ms)}  "
        f"p99 {_ms(r.load.p99_ms)}  lock-waiting {r.activity.lock_waiting:5.2f} "
        f"(row {r.activity.row_lock_waiting:.2f}, extend "
        f"{r.activity.lock_events.get('extend', 0.0):.2f})  "
        f"active {r.activity.active:5.2f}  CPU machine {r.cpu.machine:.2f}: "
        f"app {r.cpu.app:.2f} db {r.cpu.postgres:.2f} load {r.cpu.load:.2f} "
        f"other {r.cpu.other:.2f}"
    )


def report(measurements: Sequence[ScaleMeasurement], meta: dict[str, Any]) -> str:
    """A Markdown table and the ratios (pasted into bench/README.md as they are)."""
    header = (
        "chains", "app processes", "req/s", "p50", "p99", "lock-waiting backends",
        "on a row lock", "on extend", "active backends", "CPU: machine", "app", "db backends",
        "load", "other",
    )  # fmt: skip
    rows = [header]
    for m in measurements:
        rows.append(
            (
                str(m.config.chains),
                str(m.config.processes),
                f"{m.median('rps'):.0f}",
                f"{m.median('p50'):.1f} ms",
                f"{m.median('p99'):.1f} ms",
                f"{m.median('lock_waiting'):.2f}",
                f"{m.median('row_lock_waiting'):.2f}",
                f"{m.median('extend'):.2f}",
                f"{m.median('active'):.2f}",
                f"{m.median('cpu.machine'):.2f}",
                f"{m.median('cpu.app'):.2f}",
                f"{m.median('cpu.postgres'):.2f}",
                f"{m.median('cpu.load'):.2f}",
                f"{m.median('cpu.other'):.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def cells(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"

    by = {(m.config.chains, m.config.processes): m for m in measurements}
    chains = sorted({m.config.chains for m in measurements})
    n = meta["app_processes"]
    audit = meta["audit"]
    lines = [
        "",
        f"{meta['scenario']}, one partner: {meta['load_generator']}, {meta['connections']} "
        f"connections, {meta['rounds']} interleaved rounds of {meta['duration']:g} s per "
        f"configuration (each after {meta['warmup']:g} s of warm-up), pg_stat_activity every "
        f"{meta['sample_ms']:g} ms; {meta['cpus']} CPUs, pool of {meta['pool_max_size']} "
        f"connections per process; medians of the rounds (CPU in cores).",
        f"Load average before {_loadavg(meta['load_average_before'])}, after "
        f"{_loadavg(meta['load_average_after'])}.",
        "",
        cells(rows[0]),
        "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|",
        *(cells(row) for row in rows[1:]),
        "",
        *(
            f"ratio {n} processes / 1 process, chains={c}: "
            f"{by[c, n].median('rps') / by[c, 1].median('rps'):.2f} "
            f"({by[c, n].median('rps'):.0f} / {by[c, 1].median('rps'):.0f} req/s; target 1.6)"
            for c in chains
        ),
        *(
            f"lock-waiting backends, {p} process{'es' if p > 1 else ''}: "
            + ", ".join(
                f"chains={c} {by[c, p].median('lock_waiting'):.2f} "
                f"(on a row lock {by[c, p].median('row_lock_waiting'):.2f})"
                for c in chains
            )
            + " (target under 0.05 with the default)"
            for p in (1, n)
        ),
        f"audit log after the run: {audit['rows']} rows in {audit['chains']} chains, "
        f"{'verified' if audit['verified'] else 'NOT VERIFIED'}; the partner's chains: "
        f"{audit['busy_org_chains']} ({audit['busy_org_chain_numbers']})",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        measurements, meta = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    print(report(measurements, meta))
    print(f"\n(took {meta['elapsed_s']}s)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(
        orjson.dumps(
            {
                "meta": meta,
                "configurations": [
                    {
                        **asdict(m.config),
                        "median_rps": m.median("rps"),
                        "median_lock_waiting": m.median("lock_waiting"),
                        "median_row_lock_waiting": m.median("row_lock_waiting"),
                        "rounds": [
                            {
                                **asdict(r),
                                "cpu": {**asdict(r.cpu), "other": r.cpu.other},
                                "row_lock_waiting": r.activity.row_lock_waiting,
                            }
                            for r in m.rounds
                        ],
                    }
                    for m in measurements
                ],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    return 0 if meta["audit"]["verified"] else 1
