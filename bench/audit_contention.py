"""Audit-append contention (``python -m bench.audit_contention``, part of ``make bench``).

K connections (``--connections``, 16) append audit rows for ONE organisation as fast as they
can, each append its own autocommit statement (what every audited ``GET`` does), for
``--duration`` seconds per variant, after ``--warmup`` seconds of the same. Variants:

- ``n1``: ``AFTERCARE_AUDIT_CHAINS=1``, one chain per organisation (the design before chains);
- ``n16``: ``AFTERCARE_AUDIT_CHAINS=16``, chain ``pg_backend_pid() % 16`` per connection;
- ``n16-commit-delay``: ``n16`` with PostgreSQL's group commit nudged (``commit_delay`` 200 µs
  for the bench database: a committing backend waits that long for others to share its WAL
  flush when at least ``commit_siblings`` (5) other transactions are open);
- ``n1-async-commit``: ``n1`` with ``synchronous_commit = off``: NOT a candidate (a crash may
  lose the last audit rows of reads already answered); a reference showing what the single
  chain costs because its head lock is held until the commit's WAL flush.

A sampler on its own connection reads ``pg_stat_activity`` every ``--sample-ms`` (10 ms) and
averages, over the bench's backends: how many wait on a lock (``wait_event_type = 'Lock'``, in
practice ``transactionid``: waiting for the head row's previous updater to commit), how many of
those on ``transactionid``/``tuple``, and how many are flushing the WAL or waiting for another
backend's flush (IO ``WalSync``/``WalWrite`` or LWLock ``WALWrite``; PostgreSQL 17 renamed the IO
events, so they are compared in lower case).
Reported per variant: appends/s, p50/p99 append latency, those averages, the chains used, and
whether every chain then verifies (``verify_chains``, every row accounted for).

PostgreSQL is ``bench/.data/pgdata`` (embedded, durable settings: fsync and synchronous_commit
on) unless ``AFTERCARE_DATABASE_URL`` names a server; the database ``aftercare_bench_audit`` is
created fresh and dropped at the end. Results also go to ``bench/results/audit_contention.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import orjson

from app.db.database import Database
from app.domain.audit import AuditTrail, verify_chains
from bench.run import RESULTS, alter_database, migrated_database, postgres_for_run

DATABASE = "aftercare_bench_audit"
APPLICATION = "aftercare-audit-bench"


@dataclass(frozen=True)
class Variant:
    name: str
    chains: int
    settings: tuple[tuple[str, str], ...] = ()  # ALTER DATABASE … SET for this variant only
    candidate: bool = True


VARIANTS = {
    v.name: v
    for v in (
        Variant("n1", 1),
        Variant("n16", 16),
        Variant("n16-commit-delay", 16, (("commit_delay", "200"),)),
        Variant("n1-async-commit", 1, (("synchronous_commit", "off"),), candidate=False),
    )
}

_SAMPLE = """
    SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock,
           count(*) FILTER (WHERE wait_event_type = 'Lock'
                              AND wait_event IN ('transactionid', 'tuple')) AS row_lock,
           count(*) FILTER (WHERE lower(wait_event) IN ('walsync', 'walwrite')) AS wal,
           count(*) FILTER (WHERE state = 'active') AS active
    FROM pg_stat_activity
    WHERE application_name = $1 AND pid <> pg_backend_pid()
"""


@dataclass
class Result:
    variant: str
    candidate: bool
    chains_setting: int
    connections: int
    seconds: float
    appends: int
    appends_per_s: float
    p50_ms: float
    p99_ms: float
    samples: int
    avg_waiting_lock: float
    avg_waiting_row_lock: float
    avg_waiting_wal: float
    avg_active: float
    chains_used: int
    verified: bool


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _append(db: Database, org_id: UUID, case_id: UUID) -> None:
    session = db.session(transactional=False)  # an audited GET: the append autocommits
    try:
        await AuditTrail(session).record_hub(org_id, "case.read", [case_id], ["general"])
    finally:
        await session.close()


async def _load(
    db: Database, org_id: UUID, connections: int, seconds: float, latencies: list[float] | None
) -> int:
    """``connections`` loops appending for ``seconds``; the number of appends."""
    case_id = uuid4()
    deadline = time.monotonic() + seconds
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await _append(db, org_id, case_id)
            if latencies is not None:
                latencies.append((time.perf_counter() - started) * 1000)
            done += 1

    await asyncio.gather(*[loop() for _ in range(connections)])
    return done


async def _sample(dsn: str, every: float, stop: asyncio.Event) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    samples: list[asyncpg.Record] = []
    try:
        while not stop.is_set():
            samples.append(await conn.fetchrow(_SAMPLE, APPLICATION))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        await conn.close()
    return samples


async def measure(database_url: str, variant: Variant, args: argparse.Namespace) -> Result:
    for name, value in variant.settings:
        await alter_database(database_url, f"SET {name} = {value}")
    db = Database(
        database_url,
        min_size=args.connections,
        max_size=args.connections,
        application_name=APPLICATION,
        audit_chains=variant.chains,
    )
    await db.connect()  # opens all K connections (they keep their pids, hence their chains)
    org_id = uuid4()
    try:
        warm = await _load(db, org_id, args.connections, args.warmup, None)
        latencies: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(db.dsn, args.sample_ms / 1000, stop))
        started = time.monotonic()
        appends = await _load(db, org_id, args.connections, args.duration, latencies)
        seconds = time.monotonic() - started
        stop.set()
        samples = await sampler
        session = db.session(transactional=True)
        try:
            verified = await verify_chains(session)
            await session.commit()
        finally:
            await session.close()
        async with db.pool.acquire() as conn:
            chains_used = await conn.fetchval(
                "SELECT count(*) FROM audit_heads WHERE org_id = $1", org_id
            )
            rows = await conn.fetchval("SELECT count(*) FROM audit_log WHERE org_id = $1", org_id)
    finally:
        await db.close()
        for name, _ in variant.settings:
            await alter_database(database_url, f"RESET {name}")

    def avg(column: str) -> float:
        return round(statistics.fmean(s[column] for s in samples), 2) if samples else 0.0

    return Result(
        variant=variant.name,
        candidate=variant.candidate,
        chains_setting=variant.chains,
        connections=args.connections,
        seconds=round(seconds, 2),
        appends=appends,
        appends_per_s=round(appends / seconds, 1),
        p50_ms=round(percentile(latencies, 0.5), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        samples=len(samples),
        avg_waiting_lock=avg("lock"),
        avg_waiting_row_lock=avg("row_lock"),
        avg_waiting_wal=avg("wal"),
        avg_active=avg("active"),
        chains_used=int(chains_used),
        # every chain follows from its genesis to its head, and no append went missing
        verified=verified.ok and rows == warm + appends,
    )


async def server_facts(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(Database(database_url).dsn)
    try:
        return {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        }
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> tuple[dict[str, str], list[Result]]:
    results: list[Result] = []
    async with contextlib.AsyncExitStack() as stack:
        server_url, _ = await postgres_for_run(stack)
        database_url = await migrated_database(stack, server_url, DATABASE)
        facts = await server_facts(database_url)
        print(
            "PostgreSQL {server_version}: fsync={fsync}, synchronous_commit={synchronous_commit}, "
            "wal_sync_method={wal_sync_method}".format(**facts),
            flush=True,
        )
        for _ in range(args.rounds):
            for name in args.variant:
                result = await measure(database_url, VARIANTS[name], args)
                print(line(result), flush=True)
                results.append(result)
    return facts, results


def line(r: Result) -> str:
    return (
        f"{r.variant:<18} {r.appends_per_s:>8.1f} appends/s  p50 {r.p50_ms:>6.2f} ms  "
        f"p99 {r.p99_ms:>7.2f} ms  waiting on a lock {r.avg_waiting_lock:>5.2f} "
        f"(row {r.avg_waiting_row_lock:.2f})  on WAL {r.avg_waiting_wal:>4.2f}  "
        f"active {r.avg_active:>5.2f}  chains {r.chains_used:>2}  "
        f"{'verified' if r.verified else 'NOT VERIFIED'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_contention", description=__doc__)
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds each")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--sample-ms", type=float, default=10.0, help="pg_stat_activity period")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the variants this often")
    parser.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        help="run only these (repeatable; default: all, in the order above)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "audit_contention.json", help="JSON results"
    )
    args = parser.parse_args(argv)
    args.variant = args.variant or list(VARIANTS)
    if args.connections < 1 or args.duration <= 0 or args.rounds < 1 or args.sample_ms <= 0:
        parser.error("--connections, --duration, --rounds and --sample-ms must be positive")
    try:
        facts, results = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(
        orjson.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "cpus": os.cpu_count(),
                "server": facts,
                "results": [asdict(r) for r in results],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    return 0 if all(r.verified for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
