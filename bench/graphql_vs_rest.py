"""GraphQL against REST for the same data, on the same app server, in the same run (issue 6).

A lead organisation with ``CASES`` cases, each referred once or twice (at most ``MAX_REFERRALS``
referrals in all, so one REST page holds them), seeded through the domain services. A client
that wants the page of cases with their referrals asks either

- GraphQL: one ``POST /graphql`` (``QUERY``: the cases, each with its referrals), or
- REST: ``GET /v1/cases?limit=50`` then ``GET /v1/referrals?direction=outgoing&limit=100``
  (in sequence, on one connection), joining the referrals to the cases itself.

Both are checked to return the same case ids and referral ids and statuses, then loaded in
interleaved rounds (graphql, rest, rest, graphql, ...; each a warm-up then a measured run) by an
asyncio + httpx generator with ``--connections`` concurrent workers. One operation is one POST
for GraphQL and the two GETs for REST. Prints the median operations/s of each, their ratio,
and the CPU each operation cost the app server, PostgreSQL and this load generator.

Reuses ``bench/run.py``'s helpers: the embedded PostgreSQL under ``bench/.data/`` (or
``AFTERCARE_DATABASE_URL``), the run lock, the KEK and server environment, the uvicorn server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from app.db.database import Database
from app.domain.keys import KeyRing
from app.domain.organizations import CapacityEntry
from app.domain.referral_rules import Action
from app.domain.referrals import ReferralInput
from app.domain.tokens import TokenConfig
from app.domain.vocabulary import Category, OrganizationKind, ServiceKind, Urgency
from app.settings import Settings
from bench.run import (
    DATA,
    Server,
    alter_database,
    cpu_seconds,
    migrated_database,
    postgres_for_run,
    postmaster_of,
    round_order,
    server_env,
    write_kek,
)
from bench.scenarios import SeedContext, varied_intake

DATABASE = "aftercare_bench_graphql"
CASES = 50
MAX_REFERRALS = 100

QUERY = """
query CasesWithReferrals {
  cases(first: 50) {
    edges { node {
      id reference role visibleCategories ageBand
      referrals { edges { node { id status service } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CASES_PATH = f"/v1/cases?limit={CASES}"
REFERRALS_PATH = f"/v1/referrals?direction=outgoing&limit={MAX_REFERRALS}"

# case id -> {referral id: (status, service)}
Snapshot = dict[str, dict[str, tuple[str, str]]]


# -- seeding --------------------------------------------------------------------------------------
async def seed(ctx: SeedContext) -> str:
    """The lead, two receivers, ``CASES`` cases and their referrals; returns the lead's token."""
    lead_org = await ctx.organization(
        kind=OrganizationKind.NGO_SHELTER,
        services=(ServiceKind.SHELTER, ServiceKind.COUNSELING),
        capacity=[CapacityEntry(ServiceKind.SHELTER, 5, 20)],
    )
    clinic_org = await ctx.organization(
        kind=OrganizationKind.MEDICAL_PROVIDER, services=(ServiceKind.MEDICAL,)
    )
    counsel_org = await ctx.organization(
        kind=OrganizationKind.COUNSELING_PROVIDER, services=(ServiceKind.COUNSELING,)
    )
    lead = await ctx.client(lead_org.id)
    clinic = await ctx.client(clinic_org.id)
    total = 0
    for i in range(CASES):
        case = await ctx.case(lead, varied_intake(i))
        targets = [(clinic_org.id, ServiceKind.MEDICAL)]
        if i % 2 == 0:
            targets.append((counsel_org.id, ServiceKind.COUNSELING))
        for to_org_id, service in targets:
            view = await ctx.referral(
                lead,
                ReferralInput(
                    case_id=case.id,
                    to_org_id=to_org_id,
                    service=service,
                    urgency=(Urgency.ROUTINE, Urgency.HIGH)[i % 2],
                    reason="Follow-up requested by the survivor",
                    shared_categories=[Category.DEMOGRAPHICS],  # no consent needed
                ),
            )
            total += 1
            # A few other statuses than pending, so the check compares more than one.
            if service is ServiceKind.MEDICAL and i % 5 == 1:
                await ctx.act(clinic, view.row.id, Action.DECLINE, reason="No place")
            elif service is ServiceKind.MEDICAL and i % 7 == 3:
                await ctx.act(lead, view.row.id, Action.WITHDRAW, reason="Moved away")
    assert total <= MAX_REFERRALS
    return ctx.token(lead)


# -- one operation each ---------------------------------------------------------------------------
async def graphql_op(client: httpx.AsyncClient) -> list[httpx.Response]:
    return [await client.post("/graphql", json={"query": QUERY})]


async def rest_op(client: httpx.AsyncClient) -> list[httpx.Response]:
    return [await client.get(CASES_PATH), await client.get(REFERRALS_PATH)]


Operation = Callable[[httpx.AsyncClient], Awaitable[list[httpx.Response]]]


def _ok(responses: Sequence[httpx.Response]) -> bool:
    return all(r.status_code == 200 for r in responses)


async def snapshots(client: httpx.AsyncClient) -> tuple[Snapshot, Snapshot]:
    """What each API tells the client: the cases and, per case, its referrals."""
    (gql,) = await graphql_op(client)
    cases, referrals = await rest_op(client)
    for response in (gql, cases, referrals):
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    body = gql.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    connection = body["data"]["cases"]
    if connection["pageInfo"]["hasNextPage"]:
        raise RuntimeError("GraphQL: more than one page of cases")
    from_gql: Snapshot = {
        edge["node"]["id"]: {
            r["node"]["id"]: (r["node"]["status"], r["node"]["service"])
            for r in edge["node"]["referrals"]["edges"]
        }
        for edge in connection["edges"]
    }
    case_page, referral_page = cases.json(), referrals.json()
    if case_page["next_cursor"] is not None or referral_page["next_cursor"] is not None:
        raise RuntimeError("REST: more than one page of cases or referrals")
    from_rest: Snapshot = {str(c["id"]): {} for c in case_page["items"]}
    for r in referral_page["items"]:
        from_rest[str(r["case_id"])][str(r["id"])] = (r["status"], r["service"])
    return from_gql, from_rest


# -- load -----------------------------------------------------------------------------------------
@dataclass
class Round:
    ops: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms: dict[str, float]  # "app", "pg", "client": CPU seconds spent meanwhile, ms per op

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def load(
    base_url: str,
    headers: dict[str, str],
    op: Operation,
    connections: int,
    duration: float,
    watched: dict[str, Sequence[psutil.Process]] | None = None,
) -> Round:
    """``connections`` workers each running ``op`` back to back on keep-alive connections;
    the CPU of the ``watched`` processes (and of this one, "client") is sampled around it."""
    watched = watched or {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        latencies: list[float] = []
        counts = {"ops": 0, "requests": 0, "errors": 0}
        cpu_before = {name: cpu_seconds(ps) for name, ps in watched.items()}
        client_before = time.process_time()
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            while (now := time.perf_counter()) < deadline:
                try:
                    responses = await op(client)
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                latencies.append((time.perf_counter() - now) * 1000)
                counts["requests"] += len(responses)
                if _ok(responses):
                    counts["ops"] += 1
                else:
                    counts["errors"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
        ops = max(1, counts["ops"])
        cpu_ms = {
            name: (cpu_seconds(ps) - cpu_before[name]) / ops * 1000 for name, ps in watched.items()
        }
        cpu_ms["client"] = (time.process_time() - client_before) / ops * 1000
    return Round(counts["ops"], counts["requests"], counts["errors"], elapsed, latencies, cpu_ms)


# -- the run --------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, list[Round]]:
    async with contextlib.AsyncExitStack() as stack:
        server_url, _ = await postgres_for_run(stack)
        database_url = await migrated_database(stack, server_url, DATABASE)

        keys_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-keys-")))
        settings = Settings(
            env="development",
            database_url=database_url,
            data_dir=DATA / "app",
            keys_dir=keys_dir,
            access_token_ttl_seconds=86_400,
            log_level="WARNING",
        )
        keyring = KeyRing(settings.resolved_keys_dir, create=True)
        key_wrapper = write_kek(settings.resolved_keys_dir)
        token_config = TokenConfig(
            issuer=settings.issuer,
            audience=settings.audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        )
        await alter_database(database_url, "SET synchronous_commit = off")
        seed_db = Database(database_url, min_size=0, max_size=2)
        await seed_db.connect()
        try:
            began = time.monotonic()
            token = await seed(SeedContext(seed_db, keyring, token_config, key_wrapper))
            print(f"seeded in {time.monotonic() - began:.1f}s", flush=True)
            async with seed_db.pool.acquire() as conn:
                await conn.execute("ANALYZE")
        finally:
            await seed_db.close()
            await alter_database(database_url, "RESET synchronous_commit")

        app = Server("graphql-vs-rest-app", "app.main:create_app", server_env(settings))
        stack.callback(app.stop)
        app.start()
        await app.wait_ready("/readyz")
        assert app.process is not None
        print(f"app: pid {app.process.pid}, {app.url('')}", flush=True)

        base_url = app.url("")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
            from_gql, from_rest = await snapshots(client)
        if from_gql != from_rest:
            raise RuntimeError(f"the APIs disagree:\n graphql {from_gql}\n rest    {from_rest}")
        referrals = sum(len(r) for r in from_gql.values())
        statuses = sorted({s for r in from_gql.values() for s, _ in r.values()})
        print(
            f"same {len(from_gql)} cases and {referrals} referrals "
            f"(ids, statuses {', '.join(statuses)}) from both",
            flush=True,
        )

        watched: dict[str, Sequence[psutil.Process]] = {"app": [psutil.Process(app.process.pid)]}
        if (postmaster := await postmaster_of(database_url)) is not None:
            watched["pg"] = [postmaster]
        targets: list[tuple[str, Operation]] = [("graphql", graphql_op), ("rest", rest_op)]
        results: dict[str, list[Round]] = {label: [] for label, _ in targets}
        for r, i in round_order(args.rounds, len(targets)):
            label, op = targets[i]
            if args.warmup > 0:
                await load(base_url, headers, op, args.connections, args.warmup)
            result = await load(base_url, headers, op, args.connections, args.duration, watched)
            cpu = "  ".join(f"{name} {ms:.2f}" for name, ms in result.cpu_ms.items())
            print(
                f"  round {r + 1}/{args.rounds}  {label:<8} {result.ops_per_s:>8.1f} ops/s"
                f"  {result.requests / result.seconds:>8.1f} req/s"
                f"  p50 {result.percentile(0.5):.1f} ms  p99 {result.percentile(0.99):.1f} ms"
                f"  CPU ms/op: {cpu}",
                flush=True,
            )
            if result.errors:
                raise RuntimeError(
                    f"{label}: {result.errors} failed operations; see {app.log_path}"
                )
            results[label].append(result)
        return results


def report(results: dict[str, list[Round]], args: argparse.Namespace) -> str:
    def median(label: str, value: Callable[[Round], float]) -> float:
        return statistics.median(value(r) for r in results[label])

    what = {
        "graphql": "POST /graphql (cases(first: 50) with referrals)",
        "rest": f"GET {CASES_PATH} + GET {REFERRALS_PATH}",
    }
    lines = [
        "",
        f"GraphQL vs REST: {args.rounds} rounds x {args.duration:g}s (+{args.warmup:g}s warm-up), "
        f"{args.connections} connections, httpx, {os.cpu_count()} CPUs; medians",
        "",
        f"| {'target':<8} | {'operation':<71} | {'ops/s':>7} | {'req/s':>7} | "
        f"{'p50 ms':>7} | {'p99 ms':>7} | {'CPU ms/op app, PG, client':>25} |",
        f"|{'-' * 10}|{'-' * 73}|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 26}:|",
    ]
    for label in results:
        cpu = ", ".join(
            f"{statistics.median(r.cpu_ms[name] for r in results[label]):.2f}"
            for name in results[label][0].cpu_ms
        )
        lines.append(
            f"| {label:<8} | {what[label]:<71} | {median(label, lambda r: r.ops_per_s):>7.1f} | "
            f"{median(label, lambda r: r.requests / r.seconds):>7.1f} | "
            f"{median(label, lambda r: r.percentile(0.5)):>7.1f} | "
            f"{median(label, lambda r: r.percentile(0.99)):>7.1f} | {cpu:>25} |"
        )
    a = median("graphql", lambda r: r.ops_per_s)
    b = median("rest", lambda r: r.ops_per_s)
    lines += [
        "",
        f"ratio graphql-vs-rest  graphql/rest = {a / b:.2f} ({a:.1f} ops/s / {b:.1f} ops/s)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.graphql_vs_rest",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per target")
    parser.add_argument("--connections", type=int, default=32, help="concurrent workers")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    started = time.monotonic()
    try:
        results = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(report(results, args))
    print(f"\n(took {time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
