"""The soak's mix (bench/soak): seeded as the runner seeds it, every operation answers what the
mix expects (no error), with each partner's own token from ``POST /oauth/token``.

The mix is synchronous (locust's users run on gevent); here it runs in a thread, its requests
handed to the test's event loop and the app in process (``httpx.ASGITransport``).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.db.database import Database
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig
from app.settings import Settings
from bench.scenarios import SeedContext
from bench.soak.mix import OPERATIONS, Answer, Exchange, Mix, next_due
from bench.soak.run import current_plan, parse_args
from bench.soak.seed import seed

Http = Callable[..., Answer]


@pytest.fixture
async def exchange(
    app: FastAPI, database: Database, database_url: str, keyring: KeyRing, settings: Settings
) -> Exchange:
    """The runner's seeding in small: three partners, two cases each, and their history."""
    ctx = SeedContext(
        database,
        keyring,
        TokenConfig(settings.issuer, settings.audience, settings.access_token_ttl_seconds),
        app.state.ctx.key_wrapper,
    )
    plan = await seed(
        ctx,
        "http://127.0.0.1:9/hook",
        partners=3,
        cases=2,
        goals=1,
        history_referrals=2,
        history_goals=1,
    )
    credentials = [
        {"org_id": p.org_id, "client_id": p.client_id, "client_secret": p.client_secret}
        for p in plan.partners
    ]
    return Exchange(await current_plan(database_url, credentials))


def _http(client: httpx.AsyncClient, seen: Counter[tuple[str, int]], failures: list[str]) -> Http:
    """The mix's synchronous HTTP call, run on the test's event loop (the mix runs in a thread)."""
    loop = asyncio.get_running_loop()

    def http(
        method: str,
        path: str,
        *,
        name: str,
        expect: int,
        headers: dict[str, str],
        body: bytes | None = None,
        check: Callable[[Answer], str | None] | None = None,
    ) -> Answer:
        response = asyncio.run_coroutine_threadsafe(
            client.request(method, path, headers=headers, content=body), loop
        ).result()
        answer = Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )
        seen[name, response.status_code] += 1
        problem = (
            f"{response.status_code} {response.text[:300]}"
            if response.status_code != expect
            else (check(answer) if check else None)
        )
        if problem:
            failures.append(f"{method} {path} ({name}): {problem}")
        return answer

    return http


async def test_the_soak_mix_runs_without_an_error(
    client: httpx.AsyncClient, database: Database, exchange: Exchange
) -> None:
    # the history (2 referrals a case, declined) is in no inbox and in no plan
    assert sum(len(p.pending_in) for p in exchange.partners.values()) == 6
    assert sum(len(p.accepted_out) for p in exchange.partners.values()) == 6
    async with database.pool.acquire() as conn:
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM referrals GROUP BY status"))
        assert statuses == {"pending": 6, "accepted": 6, "declined": 12}
        assert await conn.fetchval("SELECT count(*) FROM goals") == 12

    seen: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    http = _http(client, seen, failures)

    def drive() -> None:
        rng = random.Random(7)
        users = [
            Mix(exchange, partner, http, random.Random(n))
            for n, partner in enumerate(exchange.partners.values())
        ]
        operations = list(OPERATIONS)
        # Every operation at least twice, then a weighted random mix, as locust would send it.
        schedule = operations * 2 + rng.choices(
            operations, weights=[w for _, w in OPERATIONS.values()], k=60
        )
        for operation in schedule:
            rng.choice(users).run(operation)

    await asyncio.to_thread(drive)
    assert failures == []
    names = {name for name, _ in seen}
    assert {"case", "care-plan", "inbox", "events", "update", "goal", "case-patch"} <= names
    assert {"referral-create", "graphql", "token"} <= names
    assert names & {"referral-accept", "referral-decline", "referral-withdraw"}
    # The weights are percentages (the locustfile, not imported here: locust patches the
    # standard library with gevent on import, lists each operation as often as its weight).
    assert sum(w for _, w in OPERATIONS.values()) == 100


async def test_no_audited_statement_of_the_mix_is_planned_again_on_every_execution(
    client: httpx.AsyncClient, database: Database, exchange: Exchange
) -> None:
    """PostgreSQL plans a prepared statement for its parameters five times, then keeps a generic
    plan unless that one is costed above the custom ones; when it is, the statement is planned
    again on every execution. Every audit append was (0.6 ms of PostgreSQL's CPU each, on every
    audited request): its series of chain numbers was sized by a parameter, which the generic
    plan cannot cost. Each operation of the soak's mix runs eight times, one request at a time
    (so on one pooled connection or few), and no statement that appends an audit row may have
    had six custom plans and no generic one on any connection. (Which plan wins for the other
    statements depends on the data: on this handful of rows two list pages keep custom plans,
    on the bench's data they do not.)"""
    seen: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    http = _http(client, seen, failures)

    def drive() -> None:
        partners = list(exchange.partners.values())
        users = [Mix(exchange, p, http, random.Random(n)) for n, p in enumerate(partners)]
        for operation in OPERATIONS:
            for n in range(8):
                users[n % len(users)].run(operation)

    await asyncio.to_thread(drive)
    assert failures == []
    replanned: list[str] = []
    connections = [await database.pool.acquire() for _ in range(database.pool.get_max_size())]
    try:
        for conn in connections:
            for row in await conn.fetch(
                "SELECT statement, custom_plans FROM pg_prepared_statements "
                "WHERE generic_plans = 0 AND custom_plans > 5 AND statement LIKE '%audit_heads%'"
            ):
                statement = " ".join(row["statement"].split())
                replanned.append(f"{row['custom_plans']} custom plans: {statement}")
    finally:
        for conn in connections:
            await database.pool.release(conn)
    assert replanned == [], "\n".join(replanned)


def test_server_settings_for_a_run_are_plain_names_and_values() -> None:
    args = parse_args(["--pg-setting", "wal_compression=lz4", "--pg-setting", "commit_delay=-1"])
    assert args.pg_setting == [("wal_compression", "lz4"), ("commit_delay", "-1")]
    for bad in ("wal_compression", "x=1; DROP TABLE cases", "Name=1", "a='b'"):
        with pytest.raises(SystemExit):
            parse_args(["--pg-setting", bad])
    assert parse_args(["--load-nice", "-10"]).load_nice == -10
    with pytest.raises(SystemExit):
        parse_args(["--load-nice", "-21"])


def test_a_run_without_part_of_the_mix_is_a_diagnostic_that_fails_the_verdict() -> None:
    from bench.soak.run import verdict

    assert parse_args([]).without == []
    assert parse_args(["--without", "graphql"]).without == ["graphql"]
    with pytest.raises(SystemExit):
        parse_args(["--without", "referral-accept"])  # an operation of the mix, not a request
    soak = {
        "operations": {"case": {"class": "read-single", "p99_ms": 10.0}},
        "whole_run": {"all": {"errors": 0}},
    }
    whole = verdict({"soak": soak, "memory": {}, "meta": {"without": []}})
    assert whole["ok"]
    partial = verdict({"soak": soak, "memory": {}, "meta": {"without": ["graphql"]}})
    assert not partial["ok"]
    assert {"check": "the whole mix", "value": ["graphql"], "ok": False} in partial["checks"]


def test_graphql_has_a_pool_of_its_own_by_default_at_a_lower_priority() -> None:
    from bench.soak.run import topology

    args = parse_args([])
    assert (args.app_processes, args.graphql_processes, args.graphql_nice) == (2, 1, 10)
    assert parse_args(["--graphql-processes", "0"]).graphql_processes == 0
    assert parse_args(["--graphql-alternate", "30"]).graphql_alternate == 30
    for bad in (
        ["--graphql-nice", "-1"],  # (a higher priority than the single reads': not this knob)
        ["--graphql-nice", "20"],
        ["--graphql-processes", "-1"],
        ["--graphql-processes", "0", "--graphql-alternate", "30"],  # nowhere to alternate to
        ["--graphql-alternate", "-5"],
    ):
        with pytest.raises(SystemExit):
            parse_args(bad)
    meta = {"app_processes": 2, "graphql_processes": 1, "graphql_nice": 10}
    assert topology(meta) == "2 app process(es); GraphQL's own pool: 1 process(es) at nice 10"
    assert topology({**meta, "graphql_processes": 0}) == "2 app process(es), serving GraphQL too"
    assert topology({**meta, "graphql_alternate_s": 30.0}).endswith(
        "/graphql sent to each in turn, 30 s each"
    )


def test_alternation_splits_the_requests_by_where_graphql_went() -> None:
    """Even periods of the clock: /graphql to the app processes; odd: to its pool (the rule the
    locustfile routes by); each period's first second (requests sent before the switch) left
    out."""
    from bench.soak.mix import odd_period
    from bench.soak.run import Request, alternation

    assert [odd_period(t, 30.0) for t in (0.0, 29.9, 30.0, 59.9, 60.0)] == [
        False,
        False,
        True,
        True,
        False,
    ]

    def at(end: float, ms: float) -> Request:
        return Request(end, "case", ms, 200, False)

    requests = [at(60.5, 99.0), at(61.0, 10.0), at(65.0, 30.0), at(95.0, 5.0), at(119.9, 7.0)]
    halves = alternation(requests, 30.0)
    app, pool = halves["app"]["read-single"], halves["pool"]["read-single"]
    assert (app["per_second"], pool["per_second"]) == (round(2 / 29, 2),) * 2  # one period each
    assert (app["count"], app["p99_ms"], app["over_25_ms_pct"]) == (2, 30.0, 50.0)
    assert (pool["count"], pool["p50_ms"], pool["over_25_ms_pct"]) == (2, 5.0, 0.0)
    # --pacing-alternate's halves, by the same rule: constant throughput, then Poisson
    paced = alternation(requests, 30.0, ("constant", "poisson"))
    assert paced["constant"] == halves["app"] and paced["poisson"] == halves["pool"]


def test_a_latency_line_says_whether_its_request_opened_a_connection(tmp_path: Path) -> None:
    from bench.soak.run import read_latencies

    path = tmp_path / "latencies.tsv"
    path.write_text("1.0\tcase\t3.5\t200\t0\t1\n2.0\tcase\t4.0\t200\t0\t0\n3.0\tcase\t5.0\t0\t1\n")
    fresh = [r.fresh for r in read_latencies(path)]
    assert fresh == [True, False, False]  # (a line of before the column: not known, not fresh)


def _dispersion(starts: list[float], duration: float, width: float = 0.005) -> float:
    """Variance over mean of the requests started per ``width`` seconds (1 for a Poisson
    stream; more: clustered)."""
    counts = Counter(int(t / width) for t in starts)
    bins = [counts.get(i, 0) for i in range(int(duration / width))]
    mean = sum(bins) / len(bins)
    return sum((c - mean) ** 2 for c in bins) / len(bins) / mean


def _simulated_starts(pacing: str, *, users: int = 40, period: float = 0.18) -> list[float]:
    """40 users for 300 s, answers in 5 ms, except that every 5 s the service stalls for 300 ms,
    longer than a user's period (every request sent meanwhile ends at the stall's end, as a
    queue drains): the start times of their requests, paced as ``pacing`` says."""
    rng = random.Random(7)
    starts: list[float] = []
    for _ in range(users):
        due = start = rng.uniform(0, period)
        while start < 300:
            starts.append(start)
            stall = start % 5.0
            end = start - stall + 0.3 if stall < 0.3 else start + 0.005
            if pacing == "constant_throughput":  # locust's: the period less the task's time
                start = max(start + period, end)
            else:
                due = next_due(due, end, rng.expovariate(1 / period))
                start = due
    return starts


def test_paced_users_do_not_fall_into_step() -> None:
    """Locust's constant throughput keeps each user at a fixed phase, and moves the phase of a
    user whose answer came late to that answer's end: users held up together leave together,
    and stay in step. The soak's pacing (exponential gaps on an absolute schedule) does not."""
    locked = _dispersion(_simulated_starts("constant_throughput"), 300)
    poisson = _dispersion(_simulated_starts("poisson"), 300)
    assert locked > 5, locked
    assert 0.8 < poisson < 1.5, poisson
    # on schedule when the previous answer came in time; at once, without a burst, if late
    assert next_due(10.0, 10.05, 0.2) == pytest.approx(10.2)
    assert next_due(10.0, 10.5, 0.2) == 10.5
