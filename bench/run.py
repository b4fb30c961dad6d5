"""Benchmark runner: the real app against the bare baseline, same SQL, same run (``make bench``).

Steps: start the embedded PostgreSQL under ``bench/.data/`` (or use ``AFTERCARE_DATABASE_URL``),
create a fresh ``aftercare_bench`` database, migrate it, seed each scenario's data (with a fixed
test KEK and a signing key in a temporary directory), ``ANALYZE``, mint a token, start the app and
``bench/baseline.py`` under uvicorn (one worker each, 127.0.0.1, free ports), check both answer
the same body (the same bytes where the scenario asks), show the plans of the statements the
scenario names, then load them in interleaved rounds (app, baseline, baseline, app, ...: each
round a warm-up then a measured run; a deep page and its first page share the rounds) and report
the median requests/s of each and their ratio, one line per scenario, plus deep/first ratios.
Everything started is stopped at the end, also on error or Ctrl-C.

Load comes from ``wrk`` (installed with apt-get when missing and running as root), else from a
small asyncio HTTP/1.1 keep-alive generator in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import psutil

from app.db.database import Database, asyncpg_dsn
from app.db.embedded import EmbeddedPostgres
from app.db.migrations import upgrade_async
from app.domain.crypto import KEK_FILE, KeyWrapper, load_index_secret, load_kek
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig
from app.settings import Settings
from bench.scenarios import SCENARIOS, PlanCheck, Prepared, Scenario, SeedContext

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
RESULTS = ROOT / "bench" / "results"
BENCH_DATABASE = "aftercare_bench"
HOST = "127.0.0.1"
# A fixed, public test key-encryption key for the bench's fictional survivor data, so a run never
# depends on (or creates) a KEK elsewhere on the machine. Never a key for real data.
BENCH_KEK = hashlib.sha256(b"aftercare bench test KEK (public, fictional data only)").digest()


# -- load generation ----------------------------------------------------------------------------
@dataclass
class LoadResult:
    requests_per_s: float
    requests: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    non_2xx: int = 0
    socket_errors: int = 0


class LoadGenerator:
    name = "abstract"

    async def run(
        self,
        url: str,
        headers: dict[str, str],
        *,
        connections: int,
        duration: float,
        method: str = "GET",
        body: bytes | None = None,
    ) -> LoadResult:
        raise NotImplementedError


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Wrk(LoadGenerator):
    name = "wrk"

    def __init__(self, executable: str, threads: int, timeout: float) -> None:
        self.executable = executable
        self.threads = threads
        self.timeout = timeout

    async def run(
        self,
        url: str,
        headers: dict[str, str],
        *,
        connections: int,
        duration: float,
        method: str = "GET",
        body: bytes | None = None,
    ) -> LoadResult:
        with contextlib.ExitStack() as stack:
            command = self.command(url, headers, connections=connections, duration=duration)
            if method != "GET" or body is not None:
                script = stack.enter_context(
                    tempfile.NamedTemporaryFile("w", prefix="bench-wrk-", suffix=".lua")
                )
                script.write(wrk_script(method, body))
                script.flush()
                command[1:1] = ["--script", script.name]
            return await self._run(command)

    def command(
        self, url: str, headers: dict[str, str], *, connections: int, duration: float
    ) -> list[str]:
        command = [
            self.executable,
            f"--threads={min(self.threads, connections)}",
            f"--connections={connections}",
            f"--duration={max(1, round(duration))}s",
            f"--timeout={max(1, round(self.timeout))}s",
            "--latency",
        ]
        for name, value in headers.items():
            command += ["--header", f"{name}: {value}"]
        return [*command, url]

    async def _run(self, command: list[str]) -> LoadResult:
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            out, _ = await proc.communicate()
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM: do not leave wrk running
            proc.kill()
            raise
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
        return self.parse(text)

    @staticmethod
    def parse(text: str) -> LoadResult:
        rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
        total = re.search(r"^\s*(\d+) requests in", text, re.M)
        if not rps or not total:
            raise RuntimeError(f"cannot read wrk output:\n{text}")
        percentiles = dict(re.findall(r"^\s*(50|99)%\s+(\S+)", text, re.M))
        non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
        errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
        )
        return LoadResult(
            requests_per_s=float(rps.group(1)),
            requests=int(total.group(1)),
            p50_ms=_ms(percentiles["50"]) if "50" in percentiles else None,
            p99_ms=_ms(percentiles["99"]) if "99" in percentiles else None,
            non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
            socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        )


def lua_string(data: bytes) -> str:
    """``data`` as a Lua string literal (every byte escaped as ``\\ddd``)."""
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def wrk_script(method: str, body: bytes | None) -> str:
    """The wrk script that makes every request a ``method`` with ``body`` (headers stay on the
    command line)."""
    lines = [f"wrk.method = {lua_string(method.encode())}"]
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    return "\n".join(lines) + "\n"


def http_request(url: str, headers: dict[str, str], method: str, body: bytes | None) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes (with ``Content-Length`` when there is a body)."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or HOST, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class PythonLoad(LoadGenerator):
    """HTTP/1.1 keep-alive requests over asyncio streams; slower than wrk and shares the CPU."""

    name = "python-asyncio"

    async def run(
        self,
        url: str,
        headers: dict[str, str],
        *,
        connections: int,
        duration: float,
        method: str = "GET",
        body: bytes | None = None,
    ) -> LoadResult:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or HOST, parts.port or 80
        request = http_request(url, headers, method, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration
        latencies: list[float] = []
        counts = {"non_2xx": 0, "errors": 0}

        async def worker() -> None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                counts["errors"] += 1
                return
            try:
                while loop.time() < deadline:
                    started = time.perf_counter()
                    writer.write(request)
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    await reader.readexactly(length)
                    latencies.append((time.perf_counter() - started) * 1000)
                    if not 200 <= status < 400:
                        counts["non_2xx"] += 1
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                counts["errors"] += 1
            finally:
                writer.close()

        started = loop.time()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = loop.time() - started
        latencies.sort()

        def pct(q: float) -> float | None:
            return (
                latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
            )

        return LoadResult(
            requests_per_s=len(latencies) / elapsed,
            requests=len(latencies),
            p50_ms=pct(0.50),
            p99_ms=pct(0.99),
            non_2xx=counts["non_2xx"],
            socket_errors=counts["errors"],
        )


def _install_wrk() -> str | None:
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print("wrk not found: installing it with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> int:
        done = subprocess.run(
            ["apt-get", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return done.returncode

    if apt_get("install", "-y", "-qq", "wrk") != 0:
        apt_get("update", "-qq")  # a fresh machine may have no package lists yet
        apt_get("install", "-y", "-qq", "wrk")
    return shutil.which("wrk")


def pick_load_generator(choice: str, threads: int, timeout: float) -> LoadGenerator:
    if choice in ("auto", "wrk"):
        executable = shutil.which("wrk") or _install_wrk()
        if executable:
            return Wrk(executable, threads, timeout)
        if choice == "wrk":
            raise SystemExit("wrk is not installed and could not be installed")
        print("wrk unavailable: falling back to the Python load generator", flush=True)
    return PythonLoad()


# -- database -------------------------------------------------------------------------------------
def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


async def recreate_database(server_url: str, name: str, *, drop_only: bool = False) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def alter_database(url: str, action: str) -> None:
    """``ALTER DATABASE <the bench database> <action>`` (taking effect for new connections)."""
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(f'ALTER DATABASE "{name}" {action}')
    finally:
        await conn.close()


# -- servers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    label: str
    target: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    workers: int = 1  # uvicorn --workers: server processes sharing the port

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", self.target, "--factory",
            "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
            "--log-level", "warning", "--no-access-log", "--no-proxy-headers",
        ]  # fmt: skip

    @property
    def log_path(self) -> Path:
        return DATA / "logs" / f"{self.label}.log"

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown, lifespan closes the pool
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited during start-up:\n{self.log_tail()}")
            status, _, _ = await fetch(self.url(path), {})
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} not ready after {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.2)


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


async def fetch(
    url: str, headers: dict[str, str], method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    def get() -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, _lower(response.headers.items()), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, _lower(exc.headers.items()), exc.read()
        except OSError:
            return 0, {}, b""

    return await asyncio.to_thread(get)


# -- checking and measuring ----------------------------------------------------------------------
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def normalise(value: Any) -> Any:
    """JSON for comparison: timestamps as instants (``Z`` and ``+00:00`` are the same time)."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
    return value


def without_volatile(value: Any, volatile: Sequence[str]) -> Any:
    """The body with its volatile top-level fields (ids, timestamps of a created resource)
    replaced by a marker; each must be present."""
    if not volatile:
        return value
    if not isinstance(value, dict) or any(key not in value for key in volatile):
        raise RuntimeError(f"the answer lacks one of {list(volatile)}: {value!r}")
    return {k: "<volatile>" if k in volatile else v for k, v in value.items()}


async def verify(
    scenario: Scenario,
    prepared: Prepared,
    app: Server,
    baseline: Server,
    *,
    database_url: str | None = None,
) -> None:
    answers = {}
    bodies = {}
    created: dict[str, tuple[Any, dict[str, str]]] = {}
    for server in (app, baseline):
        status, headers, body = await fetch(
            server.url(prepared.path), prepared.headers, prepared.method, prepared.body
        )
        if status != prepared.status:
            raise RuntimeError(f"{scenario.name}: {server.label} answered {status}: {body[:500]!r}")
        # Same ETag (or none from both), the same Location (but for the created id) and the
        # same JSON (but for the volatile fields).
        data = orjson.loads(body)
        location = headers.get("location")
        if location is not None and isinstance(data, dict) and "id" in data:
            location = location.replace(str(data["id"]), "{id}")
        answers[server.label] = (
            headers.get("etag"),
            location,
            normalise(without_volatile(data, scenario.volatile)),
        )
        bodies[server.label] = body
        created[server.label] = (data, headers)
    if answers[app.label] != answers[baseline.label]:
        raise RuntimeError(
            f"{scenario.name}: the app and the baseline disagree:\n"
            f"  app:      {answers[app.label]}\n  baseline: {answers[baseline.label]}"
        )
    if prepared.effects is not None:
        await verify_effects(scenario, prepared, created, database_url)
    # The app reads back what either server created (at its Location) exactly as that server
    # answered it: what the baseline wrote (sealed free text included) is what the app writes.
    read_headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-type"}
    for label, (data, headers) in created.items():
        location = headers.get("location")
        if location is None or prepared.status != 201:
            continue
        status, _, body = await fetch(app.url(location), read_headers)
        if status != 200 or normalise(orjson.loads(body)) != normalise(data):
            raise RuntimeError(
                f"{scenario.name}: the app reads back the {label}'s {location} as {status} "
                f"{body[:500]!r}, not as created: {data!r}"
            )
    if any(prepared.status == 201 and h.get("location") for _, h in created.values()):
        print("  the app reads back what each server created, as it was answered", flush=True)
    if scenario.same_bytes and bodies[app.label] != bodies[baseline.label]:
        at = next(
            (i for i, (a, b) in enumerate(zip(*bodies.values(), strict=False)) if a != b),
            min(len(b) for b in bodies.values()),
        )
        raise RuntimeError(
            f"{scenario.name}: the same JSON but not the same bytes, from byte {at}:\n"
            f"  app:      {bodies[app.label][max(0, at - 80) : at + 80]!r}\n"
            f"  baseline: {bodies[baseline.label][max(0, at - 80) : at + 80]!r}"
        )


async def verify_effects(
    scenario: Scenario,
    prepared: Prepared,
    created: dict[str, tuple[Any, dict[str, str]]],
    database_url: str | None,
) -> None:
    """For a create: what each server's write caused (``prepared.effects`` with the created id
    and the request id) is the same, and is not nothing."""
    if database_url is None:
        raise RuntimeError(f"{scenario.name}: checking the effects needs the database")
    assert prepared.effects is not None
    database = Database(database_url, min_size=0, max_size=1)
    await database.connect()
    effects = {}
    try:
        async with database.pool.acquire() as conn:
            for label, (data, headers) in created.items():
                row = await conn.fetchrow(
                    prepared.effects, UUID(str(data["id"])), headers.get("x-request-id")
                )
                effects[label] = tuple(row.values()) if row is not None else None
    finally:
        await database.close()
    first, *others = effects.values()
    if any(other != first for other in others) or not first or None in first:
        raise RuntimeError(
            f"{scenario.name}: the writes' effects differ (or are missing):\n"
            + "\n".join(f"  {label}: {value}" for label, value in effects.items())
        )
    print(f"  same effects from both: {first}", flush=True)


def sql_literal(value: Any) -> str:
    """A parameter as an SQL literal for ``EXECUTE`` (our own seeded values, never input)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def explain(database_url: str, check: PlanCheck, executions: int = 10) -> dict[str, Any]:
    """The plan PostgreSQL uses for ``check`` as a pooled connection of either server would:
    the statement prepared (parameter types inferred, as asyncpg's are) and executed
    ``executions`` times with the scenario's parameters, so the plan cache has had its chance to
    switch to a generic plan, then ``EXPLAIN (ANALYZE, BUFFERS)`` of one more execution."""
    database = Database(database_url, min_size=0, max_size=1)
    await database.connect()
    try:
        async with database.pool.acquire() as conn:
            await conn.execute(f"PREPARE bench_plan AS {check.sql}")
            try:
                execute = f"EXECUTE bench_plan({', '.join(map(sql_literal, check.args))})"
                for _ in range(executions):
                    await conn.execute(execute)
                plan = [
                    r[0]
                    for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {execute}")
                ]
                cache = await conn.fetchrow(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE name = 'bench_plan'"
                )
            finally:
                await conn.execute("DEALLOCATE bench_plan")
    finally:
        await database.close()
    text = "\n".join(plan) + " "
    indexes = (check.index,) if isinstance(check.index, str) else check.index or ()
    return {
        "label": check.label,
        "executions": executions + 1,
        "generic_plans": cache["generic_plans"] if cache else None,
        "custom_plans": cache["custom_plans"] if cache else None,
        "expected_index": ", ".join(indexes) or None,
        "uses_expected_index": all(f"using {index} " in text for index in indexes),
        "sorts": "Sort" in text,
        "plan": plan,
    }


def print_plan(result: dict[str, Any]) -> None:
    index = result["expected_index"]
    verdict = (
        ""
        if index is None
        else f", uses {index}"
        if result["uses_expected_index"]
        else f", WARNING: does not use {index}"
    )
    print(
        f"  plan of {result['label']} after {result['executions']} executions of the prepared "
        f"statement (custom plans {result['custom_plans']}, generic {result['generic_plans']})"
        f"{verdict}{', WARNING: sorts' if result['sorts'] else ''}:",
        flush=True,
    )
    for line in result["plan"]:
        print(f"    {line}", flush=True)


@dataclass
class Measurement:
    scenario: str
    path: str
    description: str
    rounds: dict[str, list[LoadResult]]
    deep_of: str | None = None
    plans: list[dict[str, Any]] = field(default_factory=list)

    def median(self, label: str) -> float:
        return statistics.median(r.requests_per_s for r in self.rounds[label])

    def median_ms(self, label: str, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.rounds[label] if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    @property
    def ratio(self) -> float:
        return self.median("app") / self.median("baseline")


def round_order(rounds: int, targets: int = 2) -> Iterator[tuple[int, int]]:
    """(round, target index) pairs: 0 1, 1 0, 0 1 ... (0 1 2 3, 3 2 1 0, ... for four targets)
    so no target always goes first."""
    for r in range(rounds):
        order = range(targets)
        for i in order if r % 2 == 0 else reversed(order):
            yield r, i


def group_scenarios(scenarios: Sequence[Scenario]) -> list[list[Scenario]]:
    """Scenarios measured together, in interleaved rounds: a deep page with its first page when
    both run (so machine drift between them does not show as a deep/first difference)."""
    groups: list[list[Scenario]] = []
    by_name: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        group = by_name.get(scenario.deep_of or "")
        if group is None:
            group = []
            groups.append(group)
        group.append(scenario)
        by_name[scenario.name] = group
    return groups


async def measure(
    group: Sequence[tuple[Scenario, Prepared]],
    servers: Sequence[Server],
    load: LoadGenerator,
    args: argparse.Namespace,
) -> list[Measurement]:
    """Interleaved rounds over every (scenario, server) of the group; one measurement each."""
    targets = [(scenario, prepared, server) for scenario, prepared in group for server in servers]
    results: dict[tuple[str, str], list[LoadResult]] = {
        (scenario.name, server.label): [] for scenario, _, server in targets
    }
    width = max(len(scenario.name) for scenario, _ in group)
    for r, i in round_order(args.rounds, len(targets)):
        scenario, prepared, server = targets[i]
        url = server.url(prepared.path)
        for duration in (args.warmup, args.duration):  # the warm-up's result is dropped
            if duration <= 0:
                continue
            result = await load.run(
                url,
                prepared.headers,
                connections=args.connections,
                duration=duration,
                method=prepared.method,
                body=prepared.body,
            )
        name = f"{scenario.name:<{width}}  " if len(group) > 1 else ""
        print(
            f"  round {r + 1}/{args.rounds}  {name}{server.label:<8} "
            f"{result.requests_per_s:>9.0f} req/s"
            f"  p50 {_fmt_ms(result.p50_ms)}  p99 {_fmt_ms(result.p99_ms)}",
            flush=True,
        )
        if result.non_2xx or result.socket_errors:
            raise RuntimeError(
                f"{scenario.name}: {server.label} had {result.non_2xx} non-2xx responses and "
                f"{result.socket_errors} socket errors; see {server.log_path}"
            )
        results[scenario.name, server.label].append(result)
    return [
        Measurement(
            scenario.name,
            scenario.path,
            scenario.description,
            {server.label: results[scenario.name, server.label] for server in servers},
            deep_of=scenario.deep_of,
        )
        for scenario, _ in group
    ]


def deep_pairs(measurements: Sequence[Measurement]) -> list[tuple[Measurement, Measurement]]:
    """(deep page, first page) for each scenario measured with the one it is the deep page of."""
    by_name = {m.scenario: m for m in measurements}
    return [(m, by_name[m.deep_of]) for m in measurements if m.deep_of in by_name]


def _fmt_ms(value: float | None) -> str:
    return f"{value:6.2f} ms" if value is not None else "     - ms"


def report(measurements: list[Measurement], meta: dict[str, Any]) -> str:
    """A Markdown table (pasted into bench/README.md as it is)."""
    header = (
        "scenario", "endpoint", "app req/s", "baseline req/s", "app p50", "baseline p50",
        "app/baseline",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    for m in measurements:
        p50 = [m.median_ms(label, "p50_ms") for label in ("app", "baseline")]
        rows.append(
            (
                m.scenario,
                m.path,
                f"{m.median('app'):.0f}",
                f"{m.median('baseline'):.0f}",
                *(f"{v:.1f} ms" if v is not None else "-" for v in p50),
                f"{m.ratio:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = 2  # the first two columns are text; the numbers are right-aligned

    def cells(row: Sequence[str]) -> str:
        padded = [
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [("-" * (w + 2)) if i < left else ("-" * (w + 1) + ":") for i, w in enumerate(widths)]
    name_width = max(len(m.scenario) for m in measurements) if measurements else 0
    pairs = deep_pairs(measurements)
    pair_width = max((len(f"{d.scenario}/{f.scenario}") for d, f in pairs), default=0)
    return "\n".join(
        [
            "",
            f"Load: {meta['load_generator']}, {meta['connections']} connections, "
            f"{meta['rounds']} interleaved rounds of {meta['duration']:g} s per server (each "
            f"after {meta['warmup']:g} s of warm-up); {meta['cpus']} CPUs; medians of the rounds"
            + (
                f"; the app in {meta['app_processes']} processes."
                if meta.get("app_processes", 1) > 1
                else "."
            ),
            "",
            cells(rows[0]),
            "|" + "|".join(rule) + "|",
            *(cells(row) for row in rows[1:]),
            "",
            *(
                f"ratio {m.scenario:<{name_width}}  app/baseline = {m.ratio:.2f}  "
                f"({m.median('app'):.0f} / {m.median('baseline'):.0f} req/s)"
                for m in measurements
            ),
            *(
                f"ratio {f'{deep.scenario}/{first.scenario}':<{pair_width}}  deep/first: "
                + "  ".join(
                    f"{label} = {deep.median(label) / first.median(label):.2f} "
                    f"({deep.median(label):.0f} / {first.median(label):.0f} req/s)"
                    for label in ("app", "baseline")
                )
                for deep, first in pairs
            ),
        ]
    )


# -- the run --------------------------------------------------------------------------------------
@contextlib.contextmanager
def exclusive_run() -> Iterator[None]:
    """One run at a time: a second would drop the first one's database mid-measurement."""
    DATA.mkdir(parents=True, exist_ok=True)
    with (DATA / "run.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError("another bench run is in progress (bench/.data/run.lock)") from None
        yield


async def postgres_for_run(
    stack: contextlib.AsyncExitStack,
) -> tuple[str, EmbeddedPostgres | None]:
    """Take the run's lock (:func:`exclusive_run`), then the PostgreSQL server of this run:
    ``AFTERCARE_DATABASE_URL``, else the embedded one under ``bench/.data`` (stopped when
    ``stack`` closes). Returns the server's URL and the embedded server, if it is one."""
    stack.enter_context(exclusive_run())
    server_url = os.environ.get("AFTERCARE_DATABASE_URL")
    if server_url:
        print("PostgreSQL: AFTERCARE_DATABASE_URL", flush=True)
        return server_url, None
    embedded = EmbeddedPostgres(DATA / "pgdata")
    print(f"PostgreSQL: embedded, {embedded.pgdata}", flush=True)
    stack.callback(embedded.stop)
    return await asyncio.to_thread(embedded.start), embedded


async def migrated_database(stack: contextlib.AsyncExitStack, server_url: str, name: str) -> str:
    """A fresh database ``name`` on the server, migrated to head, dropped when ``stack``
    closes; its URL."""
    database_url = await recreate_database(server_url, name)
    stack.push_async_callback(recreate_database, server_url, name, drop_only=True)
    await upgrade_async(database_url)
    return database_url


def cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    """User + system CPU of ``processes`` and their living descendants (one that exits
    meanwhile is missed: measure processes that outlive the measurement, such as a server and
    its pooled backends)."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            for each in (process, *process.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = each.cpu_times()
                    total += times.user + times.system
    return total


async def postmaster_of(database_url: str) -> psutil.Process | None:
    """The PostgreSQL server's main process, found through a backend's parent (for a server on
    this machine: the embedded one, or a local one through ``AFTERCARE_DATABASE_URL``); None for
    a server elsewhere."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        pid: int = await conn.fetchval("SELECT pg_backend_pid()")
        try:
            parent = psutil.Process(pid).parent()
            return parent if parent is not None and "postgres" in parent.name() else None
        except psutil.Error:
            return None
    finally:
        await conn.close()


def write_kek(keys_dir: Path, kek: bytes = BENCH_KEK) -> KeyWrapper:
    """Put the KEK where the app looks for it (``<keys_dir>/kek``, as ``AFTERCARE_KEK`` is unset
    for both servers); the baseline reads the same file. A blind-index secret is generated next
    to it (``<keys_dir>/blind_index_key``). Returns the seeding's key wrapper."""
    path = keys_dir / KEK_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(kek).decode() + "\n")
    return KeyWrapper(
        load_kek(None, keys_dir, create=False),
        index_secret=load_index_secret(None, keys_dir, create=True),
    )


def server_env(settings: Settings) -> dict[str, str]:
    """The environment both servers get: ours, minus any AFTERCARE_* the caller had set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    assert settings.database_url is not None
    env.update(
        {
            "AFTERCARE_ENV": settings.env,
            "AFTERCARE_DATABASE_URL": settings.database_url,
            "AFTERCARE_DATA_DIR": str(settings.data_dir),
            "AFTERCARE_KEYS_DIR": str(settings.resolved_keys_dir),
            "AFTERCARE_ISSUER": settings.issuer,
            "AFTERCARE_AUDIENCE": settings.audience,
            "AFTERCARE_ACCESS_TOKEN_TTL_SECONDS": str(settings.access_token_ttl_seconds),
            "AFTERCARE_DB_POOL_MIN_SIZE": str(settings.db_pool_min_size),
            "AFTERCARE_DB_POOL_MAX_SIZE": str(settings.db_pool_max_size),
            "AFTERCARE_AUDIT_CHAINS": str(settings.audit_chains),
            "AFTERCARE_LOG_LEVEL": settings.log_level,
            # One bench client sends far more than a partner's 600/minute: the limiter still
            # runs (its cost is measured) but never refuses.
            "AFTERCARE_RATE_LIMIT": "1000000000/minute",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def app_server(
    settings: Settings,
    stack: contextlib.ExitStack | contextlib.AsyncExitStack,
    *,
    processes: int = 1,
    label: str = "app",
    env: dict[str, str] | None = None,
) -> Server:
    """The app under uvicorn: ``app.main:create_app`` in one process, or ``processes`` server
    processes on one port built by ``app.main:app_from_env`` with a fresh prometheus_client
    multiprocess directory, as `aftercare serve --workers N` runs them (docs/operations.md,
    "Running several processes"); no in-process worker either way."""
    env = dict(env if env is not None else server_env(settings))
    if processes == 1:
        return Server(label, "app.main:create_app", env)
    metrics = stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-bench-metrics-"))
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics
    return Server(label, "app.main:app_from_env", env, workers=processes)


async def prepare(
    stack: contextlib.AsyncExitStack, args: argparse.Namespace, scenarios: Sequence[Scenario]
) -> tuple[str, Settings, dict[str, Prepared]]:
    """PostgreSQL (embedded or ``AFTERCARE_DATABASE_URL``) with a fresh, migrated bench database,
    the keys, and each scenario seeded (then ``ANALYZE``): the database URL, the servers'
    settings and what each scenario prepared. Everything is undone by ``stack``."""
    server_url, _ = await postgres_for_run(stack)
    database_url = await migrated_database(stack, server_url, BENCH_DATABASE)

    keys_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-keys-")))
    settings = Settings(
        env="development",
        database_url=database_url,
        data_dir=DATA / "app",
        keys_dir=keys_dir,
        access_token_ttl_seconds=86_400,
        log_level=args.app_log_level,
    )
    keyring = KeyRing(settings.resolved_keys_dir, create=True)
    key_wrapper = write_kek(settings.resolved_keys_dir)
    token_config = TokenConfig(
        issuer=settings.issuer,
        audience=settings.audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    # Seeding commits thousands of small transactions: without waiting for each one's WAL
    # flush it takes seconds instead of half a minute on a slow disk. Only the seeding
    # connections have it; the servers connect after the reset (synchronous_commit on).
    await alter_database(database_url, "SET synchronous_commit = off")
    seed_db = Database(database_url, min_size=0, max_size=2)
    await seed_db.connect()
    try:
        ctx = SeedContext(seed_db, keyring, token_config, key_wrapper)
        prepared = {}
        for s in scenarios:
            began = time.monotonic()
            prepared[s.name] = await s.setup(ctx)
            print(f"seeded {s.name} in {time.monotonic() - began:.1f}s", flush=True)
        # Fresh statistics for the planner, as autovacuum would gather shortly after a load.
        async with seed_db.pool.acquire() as conn:
            await conn.execute("ANALYZE")
    finally:
        await seed_db.close()
        await alter_database(database_url, "RESET synchronous_commit")
    return database_url, settings, prepared


async def run(args: argparse.Namespace) -> tuple[list[Measurement], str]:
    names = args.scenario or ["all"]
    scenarios = (
        list(SCENARIOS.values())
        if "all" in names
        else [SCENARIOS[name] for name in dict.fromkeys(names)]
    )
    async with contextlib.AsyncExitStack() as stack:
        database_url, settings, prepared = await prepare(stack, args, scenarios)
        env = server_env(settings)
        app = app_server(settings, stack, processes=args.app_processes)
        baseline = Server("baseline", "bench.baseline:create_app", env)
        for server in (app, baseline):
            stack.callback(server.stop)
            server.start()
        await app.wait_ready("/readyz")
        await baseline.wait_ready("/healthz")
        for server in (app, baseline):
            assert server.process is not None
            print(f"{server.label}: pid {server.process.pid}, {server.url('')}", flush=True)

        load = pick_load_generator(args.load_generator, args.threads, args.timeout)
        measurements: list[Measurement] = []
        for group in group_scenarios(scenarios):
            plans = {}
            for scenario in group:
                print(f"\n{scenario.name}: {scenario.path}: {scenario.description}", flush=True)
                await verify(
                    scenario, prepared[scenario.name], app, baseline, database_url=database_url
                )
                same = "byte for byte" if scenario.same_bytes else "as JSON"
                print(f"  same status, ETag and body ({same}) from both", flush=True)
                plans[scenario.name] = [
                    await explain(database_url, c) for c in prepared[scenario.name].plans
                ]
                for plan in plans[scenario.name]:
                    print_plan(plan)
            if len(group) > 1:
                print(f"\n{' and '.join(s.name for s in group)}: measured together", flush=True)
            for measurement in await measure(
                [(s, prepared[s.name]) for s in group], (app, baseline), load, args
            ):
                measurement.plans = plans[measurement.scenario]
                measurements.append(measurement)
        return measurements, load.name


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="run only this scenario (repeatable; default: all, in the order listed)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per target")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="wrk's per-request timeout in seconds (default 10; a request slower than this "
        "counts as a socket error, which fails the run)",
    )
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", help="default: auto"
    )
    parser.add_argument(
        "--app-log-level",
        default="WARNING",
        help="AFTERCARE_LOG_LEVEL for the app (default WARNING: no access-log line per request; "
        "INFO measures the production default, logs go to bench/.data/logs/app.log)",
    )
    parser.add_argument(
        "--app-processes",
        type=int,
        default=None,
        help="server processes of the app (uvicorn --workers N with app.main:app_from_env, as "
        "`aftercare serve --workers N`; default 1; with --scale, the count compared with 1, "
        "default 2)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead: one partner's audited case reads (case-read) with 1 and --app-processes "
        "app processes, each with 1 audit chain and the default chains, sampling PostgreSQL's "
        "lock waits (bench/scale.py, `make bench-scale`; results in bench/results/scale.json)",
    )
    parser.add_argument(
        "--chains",
        type=int,
        action="append",
        help="with --scale: the AFTERCARE_AUDIT_CHAINS settings compared (repeatable; default: "
        "1 and the default)",
    )
    parser.add_argument(
        "--sample-ms",
        type=float,
        default=10.0,
        help="with --scale: how often pg_stat_activity is sampled (default 10 ms)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the results as JSON (default: bench/results/latest.json, with "
        "--scale bench/results/scale.json)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be positive")
    if args.app_processes is None:
        args.app_processes = 2 if args.scale else 1
    if args.app_processes < 1 or args.sample_ms <= 0:
        parser.error("--app-processes and --sample-ms must be positive")
    if args.scale and (args.app_processes < 2 or args.scenario not in (None, ["case-read"])):
        parser.error("--scale measures case-read with 1 and --app-processes (at least 2)")
    if args.chains and (not args.scale or not all(1 <= c <= 256 for c in args.chains)):
        parser.error("--chains goes with --scale, each 1 to 256")
    if args.output is None:
        args.output = RESULTS / ("scale.json" if args.scale else "latest.json")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (CI timeout, kill) unwinds like Ctrl-C, so the servers and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    if args.scale:
        from bench.scale import main as scale_main  # it builds on this module

        return scale_main(args)
    started = time.monotonic()
    try:
        measurements, load_generator = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_generator": load_generator,
        "connections": args.connections,
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "app_processes": args.app_processes,
        "cpus": os.cpu_count(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(report(measurements, meta))
    print(f"\n(took {meta['elapsed_s']}s)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(
        orjson.dumps(
            {
                "meta": meta,
                "scenarios": [
                    {
                        **asdict(m),
                        "median_rps": {k: m.median(k) for k in m.rounds},
                        "ratio_app_to_baseline": m.ratio,
                    }
                    for m in measurements
                ],
                "deep_to_first": [
                    {
                        "deep": deep.scenario,
                        "first": first.scenario,
                        **{
                            label: deep.median(label) / first.median(label)
                            for label in ("app", "baseline")
                        },
                    }
                    for deep, first in deep_pairs(measurements)
                ],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
