"""First-page cost on a large data set against a small one (``make bench-large``; minutes).

Builds two databases on the bench's PostgreSQL (embedded under ``bench/.data/``, or the server of
``AFTERCARE_DATABASE_URL``) with ``aftercare demo seed``'s code (``app.demo_seed``): a small one
(10,000 cases, 100,000 referrals by default) and a large one (100,000 cases, 1,000,000 referrals),
the same twenty fictional partners and the same mix of statuses. Then, for four first pages a
partner polls, it runs the app's exact statement for that request shape (the repositories' per-
shape statements, with the parameters the app binds) on both:

- ``inbox``: ``GET /v1/referrals?direction=incoming&limit=50`` (``referrals.page_query``),
- ``testimony``: ``GET /v1/legal/testimony?limit=50`` (``legal.testimony_query``), by a legal
  partner,
- ``cases``: ``GET /v1/cases?limit=50`` (``cases.list_query``),
- ``events``: ``GET /v1/events?limit=50`` (``events._PAGE``).

Each statement is prepared and executed ten times first (so PostgreSQL's plan cache may move to
its generic plan, as on the app's pooled connections), then ``EXPLAIN (ANALYZE, BUFFERS, TIMING
OFF)`` of the prepared statement is run ``--executions`` times on each database, small and large
interleaved; the cost is the median of planning + execution time as PostgreSQL reports it (the
buffers touched and the statement's round trip from asyncpg are shown beside it). The plans (large
set) and the ratios large/small are printed; the run fails (exit 1) when a ratio exceeds ``--max-
ratio`` (1.2). The same four requests are then timed through the app in process (httpx ASGI
transport; token verification, policy, audit row and JSON included), reported but not judged: they
write an audit row each, whose commit time dominates and varies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson

from app.db.database import Database
from app.db.migrations import upgrade_async
from app.db.query import Query
from app.db.repositories import cases, events, legal, referrals
from app.demo_seed import seed
from app.domain.crypto import KEK_FILE
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings
from bench.run import (
    DATA,
    alter_database,
    postgres_for_run,
    recreate_database,
    sql_literal,
    with_database,
    write_kek,
)

SMALL, LARGE = "aftercare_bench_small", "aftercare_bench_large"
PAGE = 50


@dataclass(frozen=True)
class FirstPage:
    name: str
    path: str
    partner: str  # the demo partner (app.demo.SEED_PARTNERS key) that asks
    query: Query
    params: dict[str, Any]  # besides org_id


FIRST_PAGES = (
    FirstPage(
        "inbox",
        f"/v1/referrals?direction=incoming&limit={PAGE}",
        "ngo_shelter",
        referrals.page_query("incoming", False, False),
        {"limit": PAGE + 1},
    ),
    FirstPage(
        "testimony",
        f"/v1/legal/testimony?limit={PAGE}",
        "legal_partner",
        legal.testimony_query(False, False),
        {"limit": PAGE + 1},
    ),
    FirstPage(
        "cases",
        f"/v1/cases?limit={PAGE}",
        "ngo_shelter",
        cases.list_query(None, False, False, False),
        {"limit": PAGE + 1},
    ),
    FirstPage(
        "events",
        f"/v1/events?limit={PAGE}",
        "ngo_shelter",
        events._PAGE,
        {"after_txid": 0, "after_seq": 0, "limit": PAGE},
    ),
)


@dataclass
class DataSet:
    label: str
    url: str
    data_dir: Path
    partners: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    seed_seconds: float | None = None


def _bar(label: str) -> Any:
    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != "cases" or done in (0, total) or now - last[0] >= 5:
            last[0] = now
            print(f"  {label}: {phase} {done:,}/{total:,}", flush=True)

    return progress


async def build(data: DataSet, keys_dir: Path, *, cases_n: int, per_case: int, reuse: bool) -> None:
    from app.domain.crypto import KeyWrapper, load_index_secret, load_kek

    db = Database(data.url, min_size=0, max_size=2)
    await db.connect()
    try:
        async with db.pool.acquire() as conn:
            existing = await conn.fetchval("SELECT count(*) FROM cases")
        credentials = data.data_dir / "demo-credentials.json"
        if reuse and existing == cases_n and credentials.exists():
            print(f"{data.label}: reusing {existing:,} cases", flush=True)
        else:
            wrapper = KeyWrapper(
                load_kek(None, keys_dir, create=False),
                index_secret=load_index_secret(None, keys_dir, create=True),
            )
            began = time.monotonic()
            result = await seed(
                db,
                data.data_dir,
                wrapper,
                cases=cases_n,
                referrals_per_case=per_case,
                batch_size=1000,
                progress=_bar(data.label),
            )
            data.seed_seconds = time.monotonic() - began
            print(
                f"{data.label}: seeded {result.cases:,} cases, {result.referrals:,} referrals, "
                f"{result.members:,} memberships, {result.legal_records:,} legal records, "
                f"{result.events:,} events in {data.seed_seconds:.0f} s",
                flush=True,
            )
        data.partners = {e["partner"]: e for e in orjson.loads(credentials.read_bytes()).values()}
        async with db.pool.acquire() as conn:
            for table in ("cases", "referrals", "case_members", "legal_records", "events"):
                data.counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await db.close()


def _args(page: FirstPage, data: DataSet) -> tuple[Any, ...]:
    values = {"org_id": UUID(data.partners[page.partner]["org_id"]), **page.params}
    return page.query.args(values)


async def _explain(conn: asyncpg.Connection, execute: str) -> dict[str, Any]:
    # TIMING OFF: the total is measured, not each node (whose clock calls would weigh on plans
    # with many small nodes).
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {execute}")
    plan: dict[str, Any] = (orjson.loads(raw) if isinstance(raw, str | bytes) else raw)[0]
    return plan


def _buffers(node: dict[str, Any]) -> int:
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


@dataclass
class Cost:
    ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    buffers: list[int] = field(default_factory=list)
    rows: int = 0
    plan: list[str] = field(default_factory=list)
    generic: bool = False

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms)

    @property
    def median_client_ms(self) -> float:
        return statistics.median(self.client_ms)


async def measure(page: FirstPage, sets: Sequence[DataSet], executions: int) -> dict[str, Cost]:
    # The app's own pool settings and codecs (jsonb decoded by orjson, as in the app).
    pools = {d.label: Database(d.url, min_size=1, max_size=1) for d in sets}
    for pool in pools.values():
        await pool.connect()
    conns = {label: await pool.pool.acquire() for label, pool in pools.items()}
    costs = {d.label: Cost() for d in sets}
    try:
        executes = {}
        for d in sets:
            conn = conns[d.label]
            await conn.execute(f"PREPARE first_page AS {page.query.sql}")
            execute = f"EXECUTE first_page({', '.join(map(sql_literal, _args(page, d)))})"
            for _ in range(10):  # the plan cache settles (generic plan after five, if cheaper)
                await conn.execute(execute)
            executes[d.label] = execute
        statements = {d.label: await conns[d.label].prepare(page.query.sql) for d in sets}
        for _ in range(10):
            for d in sets:
                await statements[d.label].fetch(*_args(page, d))
        for _ in range(executions):  # interleaved, so drift of the machine hits both alike
            for d in sets:
                # As the app runs it: asyncpg's prepared statement, rows decoded.
                began = time.perf_counter()
                await statements[d.label].fetch(*_args(page, d))
                costs[d.label].client_ms.append((time.perf_counter() - began) * 1000)
                plan = await _explain(conns[d.label], executes[d.label])
                cost = costs[d.label]
                cost.ms.append(plan["Planning Time"] + plan["Execution Time"])
                cost.buffers.append(_buffers(plan["Plan"]) + _buffers(plan.get("Planning", {})))
                cost.rows = int(plan["Plan"].get("Actual Rows", 0))
        for d in sets:
            conn = conns[d.label]
            cost = costs[d.label]
            cost.plan = [
                r[0]
                for r in await conn.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {executes[d.label]}"
                )
            ]
            generic = await conn.fetchval(
                "SELECT generic_plans FROM pg_prepared_statements WHERE name = 'first_page'"
            )
            cost.generic = bool(generic)
            await conn.execute("DEALLOCATE first_page")
    finally:
        for label, pool in pools.items():
            await pool.pool.release(conns[label])
            await pool.close()
    return costs


async def http_medians(
    data: DataSet, settings: Settings, keyring: KeyRing, requests: int
) -> dict[str, float]:
    """Median wall time of each first page through the app in process (ms)."""
    database = Database(data.url, min_size=1, max_size=4)
    await database.connect()
    app = create_app(
        settings.model_copy(update={"database_url": data.url, "data_dir": data.data_dir}),
        database=database,
        keyring=keyring,
    )
    out: dict[str, float] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            tokens: dict[str, str] = {}
            for page in FIRST_PAGES:
                entry = data.partners[page.partner]
                if page.partner not in tokens:
                    answer = await client.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=(entry["client_id"], entry["client_secret"]),
                    )
                    answer.raise_for_status()
                    tokens[page.partner] = answer.json()["access_token"]
                headers = {"Authorization": f"Bearer {tokens[page.partner]}"}
                times = []
                for i in range(requests + 3):
                    began = time.perf_counter()
                    response = await client.get(page.path, headers=headers)
                    elapsed = (time.perf_counter() - began) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{page.path}: {response.status_code} {response.text}")
                    if not response.json()["items"]:
                        raise RuntimeError(f"{page.path}: an empty first page on {data.label}")
                    if i >= 3:
                        times.append(elapsed)
                out[page.name] = statistics.median(times)
    finally:
        await app.state.ctx.close()
        await database.close()
    return out


async def run(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        server_url, _ = await postgres_for_run(stack)
        keys_dir = DATA / "large-keys"
        reuse = args.reuse and (keys_dir / KEK_FILE).exists()
        if not reuse:  # fresh databases, a fresh test KEK and fresh demo credentials
            shutil.rmtree(keys_dir, ignore_errors=True)
            keys_dir.mkdir(parents=True)
            write_kek(keys_dir)
        sets = []
        for label, name, n in (("small", SMALL, args.small_cases), ("large", LARGE, args.cases)):
            data_dir = DATA / f"large-{label}"
            if reuse:
                url = with_database(server_url, name)
            else:
                url = await recreate_database(server_url, name)
                shutil.rmtree(data_dir, ignore_errors=True)
            if not args.keep:
                stack.push_async_callback(recreate_database, server_url, name, drop_only=True)
            data = DataSet(label, url, data_dir)
            await upgrade_async(url)
            # One transaction of COPY per set: no reason to wait for the flush of its commit.
            await alter_database(url, "SET synchronous_commit = off")
            try:
                await build(
                    data, keys_dir, cases_n=n, per_case=args.referrals_per_case, reuse=reuse
                )
            finally:
                await alter_database(url, "RESET synchronous_commit")
            sets.append(data)

        print("", flush=True)
        for d in sets:
            print(
                f"{d.label}: "
                + ", ".join(f"{v:,} {k}" for k, v in d.counts.items())
                + (f"; seeded in {d.seed_seconds:.0f} s" if d.seed_seconds else ""),
                flush=True,
            )
        failures = []
        results = []
        for page in FIRST_PAGES:
            costs = await measure(page, sets, args.executions)
            small, large = costs["small"], costs["large"]
            ratio = large.median_ms / small.median_ms
            buffers = statistics.median(large.buffers) / max(1, statistics.median(small.buffers))
            results.append((page, small, large, ratio, buffers))
            print(
                f"\n{page.name}: {page.path} as {page.partner}"
                f" ({'generic' if large.generic else 'custom'} plan on the large set):",
                flush=True,
            )
            for line in large.plan:
                print(f"    {line}", flush=True)
            if ratio > args.max_ratio:
                failures.append(page.name)
        print(
            "\nfirst page, large / small: median planning + execution time (EXPLAIN ANALYZE), "
            "buffers touched, and the statement's round trip from asyncpg (informational):"
        )
        for page, small, large, ratio, buffers in results:
            verdict = "ok" if ratio <= args.max_ratio else f"FAIL (> {args.max_ratio})"
            small_buffers = statistics.median(small.buffers)
            large_buffers = statistics.median(large.buffers)
            print(
                f"  {page.name:<10} small {small.median_ms:7.3f} ms ({small_buffers:.0f} buffers)"
                f"  large {large.median_ms:7.3f} ms ({large_buffers:.0f} buffers)"
                f"  ratio {ratio:5.2f}  buffers x{buffers:.2f}"
                f"  round trip {small.median_client_ms:.3f} / {large.median_client_ms:.3f} ms"
                f" = {large.median_client_ms / small.median_client_ms:.2f}  {verdict}",
                flush=True,
            )
        if args.http_requests > 0:
            keyring = KeyRing(keys_dir, create=True)
            settings = Settings(env="development", keys_dir=keys_dir, log_level="WARNING")
            http = {
                d.label: await http_medians(d, settings, keyring, args.http_requests) for d in sets
            }
            print("\nthrough the app in process (median wall time; informational):")
            for page in FIRST_PAGES:
                s, lg = http["small"][page.name], http["large"][page.name]
                print(
                    f"  {page.name:<10} small {s:7.2f} ms  large {lg:7.2f} ms  ratio {lg / s:5.2f}"
                )
        if failures:
            print(
                f"\nbench-large failed: ratio above {args.max_ratio} for {', '.join(failures)}",
                file=sys.stderr,
            )
            return 1
        return 0
    return 1  # pragma: no cover - the stack does not swallow exceptions


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.large", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the large set")
    parser.add_argument(
        "--small-cases",
        type=int,
        default=10_000,
        help="cases in the small set (default 10,000: large enough to hold a whole first-page "
        "walk, see bench/README.md)",
    )
    parser.add_argument("--referrals-per-case", type=int, default=10)
    parser.add_argument("--executions", type=int, default=30, help="measured runs per statement")
    parser.add_argument("--max-ratio", type=float, default=1.2)
    parser.add_argument(
        "--http-requests", type=int, default=20, help="requests per first page through the app"
    )
    parser.add_argument("--keep", action="store_true", help="keep both databases afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse databases kept by --keep (no seeding)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
