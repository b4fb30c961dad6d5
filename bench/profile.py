"""The app's own work per request, measured in process (``python -m bench.profile``).

The ratios of ``bench.run`` and ``bench.graphql_vs_rest`` need a quiet machine: on a shared one
they move by ±30 % from run to run. This measures what does not depend on the neighbours: the
app is called as an ASGI application, without a server or a socket of its own (uvicorn,
httptools and the load generator are left out), on the embedded PostgreSQL under
``bench/.data/profile`` with each scenario's data seeded as the bench seeds it (``update-post``
is a write: each call adds an update, answered 201), and reports per
request (per operation for ``graphql`` and ``rest``, the two calls of ``bench.graphql_vs_rest``;
``graphql-soak`` is the soak's GraphQL page, 20 cases with 10 referrals each, on a small copy of
the soak's exchange seeded as ``bench/soak/seed.py`` seeds it):

- **Python calls**: function calls counted by ``cProfile`` (deterministic: the same code makes
  the same calls whatever else the machine does; C work such as pydantic-core, asyncpg's
  protocol and the cryptography is one call each);
- **CPU ms**: the process's CPU time, minimum and median over ``--reps`` repetitions (four
  concurrent callers each); still inflated when the machine is busy, less than wall time is;
- **PG CPU ms**: the CPU time PostgreSQL's processes (the postmaster and its children: the
  app's backends, WAL writer, checkpointer…) spent meanwhile, median per request: the database's
  share of the same work, which an HTTP bench on one machine pays too;
- **longest turn ms**: the longest the event loop ran this request's code without looking at
  its sockets (one turn of the loop: the callbacks and task resumptions it runs between two
  ``select`` calls), median and maximum over requests made one at a time. A request arriving
  at its server process meanwhile (or a database answer for another) waits for the turn's end,
  so this is what one request adds to the others' tail, beyond the CPU it uses.

``--profile DIR`` also writes each scenario's ``cProfile`` statistics to ``DIR/<name>.prof``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
from fastapi import FastAPI

from app.db.database import Database
from app.db.embedded import EmbeddedPostgres
from app.db.migrations import upgrade_async
from app.domain.clients import ClientService
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig
from app.main import create_app
from app.settings import Settings
from bench import graphql_vs_rest
from bench.run import DATA, cpu_seconds, postmaster_of, recreate_database, write_kek
from bench.scenarios import SCENARIOS, Prepared, SeedContext
from bench.soak import mix as soak_mix
from bench.soak import seed as soak_seed

DATABASE = "aftercare_bench_profile"
NAMES = (
    "org-me",
    "case-read",
    "inbox",
    "care-plan",
    "update-post",
    "graphql",
    "rest",
    "graphql-soak",
    "events",
    "case-list",
)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str
    json: dict[str, Any] | None = None
    status: int = 200


async def asgi_call(app: FastAPI, call: Call) -> None:
    """One request straight into the ASGI app; any status but the call's stops the
    measurement."""
    path, _, query = call.path.partition("?")
    body = orjson.dumps(call.json) if call.json is not None else b""
    headers = [(b"authorization", f"Bearer {call.token}".encode()), (b"host", b"bench")]
    if call.json is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": call.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [call.status]:
        raise RuntimeError(f"{call.method} {call.path} answered {status}")


class LongestTurn:
    """The longest turn of the event loop while installed: the callbacks it ran between two
    looks at its sockets (asyncio's ``Handle._run``, which runs every callback and every
    resumption of a task, timed and summed until the loop's next ``select``). Data that arrives
    during a turn waits for its end, whoever's callbacks the turn is made of."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._turn = 0.0

    def _end_turn(self) -> None:
        if self._turn > self.longest:
            self.longest = self._turn
        self._turn = 0.0

    @contextlib.contextmanager
    def installed(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        original_run = asyncio.events.Handle._run
        selector = loop._selector  # type: ignore[attr-defined]
        original_select = selector.select
        clock = time.perf_counter

        def timed(handle: asyncio.events.Handle) -> None:
            began = clock()
            try:
                original_run(handle)
            finally:
                self._turn += clock() - began

        def select(timeout: float | None = None) -> Any:
            self._end_turn()
            return original_select(timeout)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
        selector.select = select
        try:
            yield
        finally:
            asyncio.events.Handle._run = original_run  # type: ignore[method-assign]
            selector.select = original_select
            self._end_turn()


async def measure(
    app: FastAPI,
    calls: Sequence[Call],
    ops: int,
    reps: int,
    profile: Path | None,
    name: str,
    postmaster: psutil.Process,
) -> tuple[float, list[float], list[float], list[float]]:
    async def op() -> None:
        for call in calls:
            await asgi_call(app, call)

    async def worker(count: int) -> None:
        for _ in range(count):
            await op()

    for _ in range(max(5, ops // 10)):  # warm-up: memos, prepared statements, caches
        await op()
    profiler = cProfile.Profile()
    profiler.enable()
    await worker(ops // 4)
    profiler.disable()
    calls_per_op = pstats.Stats(profiler).total_calls / (ops // 4)  # type: ignore[attr-defined]
    steps: list[float] = []
    turns = LongestTurn()
    with turns.installed(asyncio.get_running_loop()):
        for _ in range(max(20, ops // 4)):
            turns.longest = 0.0
            await op()
            steps.append(turns.longest * 1000)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile / f"{name}.prof")
    cpu: list[float] = []
    pg_cpu: list[float] = []
    for _ in range(reps):
        began, pg_began = time.process_time(), cpu_seconds([postmaster])
        await asyncio.gather(*(worker(ops // 4) for _ in range(4)))
        cpu.append((time.process_time() - began) / (ops // 4 * 4) * 1000)
        pg_cpu.append((cpu_seconds([postmaster]) - pg_began) / (ops // 4 * 4) * 1000)
    return calls_per_op, cpu, pg_cpu, steps


async def run(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        embedded = EmbeddedPostgres(DATA / "profile" / "pgdata")
        stack.callback(embedded.stop)
        server_url = await asyncio.to_thread(embedded.start)
        database_url = await recreate_database(server_url, DATABASE)
        stack.push_async_callback(recreate_database, server_url, DATABASE, drop_only=True)
        await upgrade_async(database_url)
        keys_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-keys-")))
        settings = Settings(
            env="development",
            database_url=database_url,
            data_dir=DATA / "profile" / "app",
            keys_dir=keys_dir,
            access_token_ttl_seconds=86_400,
            log_level="WARNING",
            rate_limit="1000000000/minute",  # as the bench: the limiter runs, never refuses
        )
        keyring = KeyRing(settings.resolved_keys_dir, create=True)
        key_wrapper = write_kek(settings.resolved_keys_dir)
        token_config = TokenConfig(
            issuer=settings.issuer, audience=settings.audience, ttl_seconds=86_400
        )
        seed_db = Database(database_url, min_size=0, max_size=2)
        await seed_db.connect()
        try:
            seed = SeedContext(seed_db, keyring, token_config, key_wrapper)
            org_me = await SCENARIOS["org-me"].setup(seed)
            case_read = await SCENARIOS["case-read"].setup(seed)
            inbox = await SCENARIOS["inbox"].setup(seed)
            care_plan = await SCENARIOS["care-plan"].setup(seed)
            update_post = await SCENARIOS["update-post"].setup(seed)
            lead = await graphql_vs_rest.seed(seed)
            soak_lead = ""
            if {"graphql-soak", "events", "case-list"} & set(args.scenario or NAMES):
                soak_lead = await _soak_page(seed)
        finally:
            await seed_db.close()

        def call(prepared: Prepared) -> Call:
            """The bench scenario's request as it is sent over HTTP."""
            return Call(
                prepared.method,
                prepared.path,
                prepared.headers["Authorization"].removeprefix("Bearer "),
                orjson.loads(prepared.body) if prepared.body is not None else None,
                prepared.status,
            )

        scenarios = {
            "org-me": [call(org_me)],
            "case-read": [call(case_read)],
            "inbox": [call(inbox)],
            "care-plan": [call(care_plan)],
            "update-post": [call(update_post)],
            "graphql": [Call("POST", "/graphql", lead, {"query": graphql_vs_rest.QUERY})],
            "rest": [
                Call("GET", "/v1/cases?limit=50", lead),
                Call("GET", "/v1/referrals?direction=outgoing&limit=100", lead),
            ],
            "graphql-soak": [
                Call("POST", "/graphql", soak_lead, {"query": soak_mix.GRAPHQL_QUERY})
            ],
            # The soak's feed read (the first page: the same 50 events each time) and a case
            # list, as the soak's first partner.
            "events": [Call("GET", "/v1/events?limit=50", soak_lead)],
            "case-list": [Call("GET", "/v1/cases?limit=50", soak_lead)],
        }
        postmaster = await postmaster_of(database_url)
        assert postmaster is not None, "the embedded PostgreSQL runs here"
        app = create_app(settings)
        names = args.scenario or NAMES
        print(HEADER)
        async with app.router.lifespan_context(app):
            for name in names:
                ops = args.ops if name in BASELINE else max(4, args.ops // 10)
                calls, cpu, pg_cpu, steps = await measure(
                    app, scenarios[name], ops, args.reps, args.profile, name, postmaster
                )
                print(_line(name, calls, cpu, pg_cpu, steps), flush=True)
        if args.baseline:
            await _baseline(
                settings, scenarios, [n for n in names if n in BASELINE], args, postmaster
            )


async def _soak_page(seed: SeedContext) -> str:
    """The soak's exchange in small (bench/soak/seed.py: three partners, 20 cases each with the
    soak's ten referrals of history), so that the soak's GraphQL page (20 cases, 10 referrals
    each) is measured at the size the soak reads it; returns the first partner's token."""
    plan = await soak_seed.seed(
        seed, "http://127.0.0.1:9/hook", partners=3, cases=20, history_referrals=10
    )
    first = plan.partners[0]
    session = seed.database.session(transactional=False)
    try:
        client = await ClientService(session).authenticate(first.client_id, first.client_secret)
    finally:
        await session.close()
    return seed.token(client)


HEADER = (
    f"{'scenario':<10} {'Python calls':>13} {'CPU ms min':>11} {'CPU ms median':>14} "
    f"{'PG CPU ms median':>17} {'longest turn ms median / max':>29}"
)


def _line(
    name: str, calls: float, cpu: list[float], pg_cpu: list[float], steps: list[float]
) -> str:
    longest = f"{statistics.median(steps):.3f} / {max(steps):.3f}"
    return (
        f"{name:<10} {calls:>13.0f} {min(cpu):>11.3f} {statistics.median(cpu):>14.3f} "
        f"{statistics.median(pg_cpu):>17.3f} {longest:>29}"
    )


BASELINE = ("org-me", "case-read", "inbox")


async def _baseline(
    settings: Settings,
    scenarios: dict[str, list[Call]],
    names: list[str],
    args: argparse.Namespace,
    postmaster: psutil.Process,
) -> None:
    """The same calls into bench/baseline.py's bare Starlette + asyncpg app, in this process:
    the app's CPU over the baseline's is the framework's share without a server or a socket."""
    import os

    from bench import baseline

    os.environ["AFTERCARE_DATABASE_URL"] = str(settings.database_url)
    os.environ["AFTERCARE_KEYS_DIR"] = str(settings.resolved_keys_dir)
    app = baseline.create_app()
    async with app.router.lifespan_context(app):
        for name in names:
            calls, cpu, pg_cpu, steps = await measure(
                app,  # type: ignore[arg-type]
                scenarios[name],
                args.ops,
                args.reps,
                None,
                name,
                postmaster,
            )
            print(_line(name + " (baseline)", calls, cpu, pg_cpu, steps), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description="The app's Python calls and CPU time per request, in process",
    )
    parser.add_argument("--scenario", action="append", choices=NAMES, help="repeatable")
    parser.add_argument("--ops", type=int, default=400, help="requests per repetition (REST)")
    parser.add_argument("--reps", type=int, default=6, help="repetitions for the CPU time")
    parser.add_argument("--profile", type=Path, help="write <name>.prof files here")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also call bench/baseline.py's bare app in process (org-me, case-read, inbox)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
