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

import httpx
import pytest
from fastapi import FastAPI

from app.db.database import Database
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig
from app.settings import Settings
from bench.scenarios import SeedContext
from bench.soak.mix import OPERATIONS, Answer, Exchange, Mix
from bench.soak.run import current_plan, parse_args
from bench.soak.seed import seed


async def test_the_soak_mix_runs_without_an_error(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    database_url: str,
    keyring: KeyRing,
    settings: Settings,
) -> None:
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
    exchange = Exchange(await current_plan(database_url, credentials))
    # the history (2 referrals a case, declined) is in no inbox and in no plan
    assert sum(len(p.pending_in) for p in exchange.partners.values()) == 6
    assert sum(len(p.accepted_out) for p in exchange.partners.values()) == 6
    async with database.pool.acquire() as conn:
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM referrals GROUP BY status"))
        assert statuses == {"pending": 6, "accepted": 6, "declined": 12}
        assert await conn.fetchval("SELECT count(*) FROM goals") == 12

    loop = asyncio.get_running_loop()
    seen: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []

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
