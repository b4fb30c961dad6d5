"""Events benchmark (``python -m bench.events``, part of ``make bench``).

Three measurements, each against real processes on 127.0.0.1:

1. **Worker throughput**: ``--events`` events (one webhook subscription, a receiver answering
   204 at once) are written before one ``aftercare worker`` process starts; deliveries per second
   from the first request the receiver gets until every delivery is recorded as succeeded.
2. **Commit → receipt latency**: the worker idle-waits on ``LISTEN``; events are committed one at
   a time (every ``--spacing`` seconds) and each one's time from ``COMMIT`` returning to the
   receiver getting its request is taken (p50, p99).
3. **Feed long-poll wake-up**: a partner holds ``GET /v1/events?wait=30`` open on the app
   (uvicorn, one process); an event for it is committed; the time from ``COMMIT`` returning to
   the answer arriving (p50, p99).

The receiver (``python -m bench.receiver``) runs in its own process. The PostgreSQL is
``bench/.data/pgdata`` (embedded) unless ``AFTERCARE_DATABASE_URL`` names a server; a fresh
database ``aftercare_bench_events`` is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psutil

from app.db.database import Database
from app.domain.clients import ClientService
from app.domain.crypto import KeyWrapper
from app.domain.events import EventType, Outbox, SubjectType
from app.domain.keys import KeyRing
from app.domain.organizations import OrganizationService
from app.domain.tokens import TokenConfig, TokenService
from app.domain.vocabulary import OrganizationKind
from app.domain.webhook_signing import generate_secret
from app.domain.webhooks import seal_secret
from app.settings import Settings
from bench.run import (
    ROOT,
    Server,
    migrated_database,
    postgres_for_run,
    server_env,
    write_kek,
)

DATABASE = "aftercare_bench_events"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def emit(db: Database, org_id: UUID, count: int) -> list[tuple[str, float]]:
    """``count`` events to ``org_id`` in one transaction; (event id, when COMMIT returned)."""
    session = db.session(transactional=True)
    try:
        outbox = Outbox(session, actor_org_id=None)
        for _ in range(count):
            await outbox.to_orgs(
                EventType.WEBHOOK_TEST,
                [org_id],
                subject=(SubjectType.WEBHOOK, uuid4()),
                data={"status": "test"},
            )
        await session.commit()
        committed = time.time()
    finally:
        await session.close()
    async with db.pool.acquire() as conn:
        ids = await conn.fetch(
            "SELECT id FROM events WHERE org_id = $1 ORDER BY seq DESC LIMIT $2", org_id, count
        )
    return [(str(r["id"]), committed) for r in ids]


async def succeeded(db: Database) -> int:
    async with db.pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
        )
    return int(value)


class Receiver:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", "--out", str(self.out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.port = int(line.split()[1])

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> dict[str, list[float]]:
        """Stops it; every webhook-id it got with its arrival times."""
        process, self.process = self.process, None
        if process is None:
            return {}
        process.terminate()
        process.wait(timeout=30)
        arrivals: dict[str, list[float]] = {}
        for line in self.out.read_text().splitlines():
            event_id, at = line.split("\t")
            arrivals.setdefault(event_id, []).append(float(at))
        return arrivals


def start_worker(env: dict[str, str], concurrency: int) -> subprocess.Popen[bytes]:
    profile = os.environ.get("BENCH_PROFILE_WORKER")  # a file for cProfile's statistics
    python = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    return subprocess.Popen(
        [*python, "-m", "app", "worker", "--concurrency", str(concurrency)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        server_url, _ = await postgres_for_run(stack)
        database_url = await migrated_database(stack, server_url, DATABASE)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aftercare-events-")))
        keys_dir = tmp / "keys"
        keys_dir.mkdir()
        settings = Settings(
            env="development", database_url=database_url, data_dir=tmp, keys_dir=keys_dir
        )
        key_wrapper: KeyWrapper = write_kek(keys_dir)
        keyring = KeyRing(keys_dir, create=True)
        env = {
            **server_env(settings),
            "AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "AFTERCARE_LOG_LEVEL": "WARNING",
        }
        db = Database(database_url, min_size=0, max_size=4)
        await db.connect()
        stack.push_async_callback(db.close)

        # Two partners: one subscribed to webhooks, one reading the feed.
        session = db.session(transactional=True)
        subscriber = await OrganizationService(session).create(
            name="Bench Receiver", kind=OrganizationKind.NGO_SHELTER, country="TH"
        )
        reader = await OrganizationService(session).create(
            name="Bench Feed Reader", kind=OrganizationKind.NGO_SHELTER, country="TH"
        )
        created = await ClientService(session).create(
            org_id=reader.id, name="bench", scopes=["events:read"]
        )
        await session.commit()
        await session.close()
        token_config = TokenConfig(
            issuer=settings.issuer, audience=settings.audience, ttl_seconds=3600
        )
        token = (
            TokenService(None, keyring, token_config)  # type: ignore[arg-type]
            .issue(created.client, "events:read")
            .access_token
        )

        receiver = Receiver(tmp / "received.tsv")
        receiver.start()
        stack.callback(receiver.stop)
        hook_id = uuid4()
        async with db.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO webhooks (id, org_id, url, event_types, secret_enc) "
                "VALUES ($1, $2, $3, '{*}', $4)",
                hook_id,
                subscriber.id,
                receiver.url(),
                seal_secret(key_wrapper, hook_id, generate_secret()),
            )

        # 1. Throughput: a backlog, one worker process.
        total = args.events
        for start in range(0, total, 500):
            await emit(db, subscriber.id, min(500, total - start))
        async with db.pool.acquire() as conn:
            await conn.execute("ANALYZE")
        worker = start_worker(env, args.concurrency)
        cpu = psutil.Process(worker.pid)
        deadline = time.monotonic() + 300
        began: tuple[int, float] | None = None  # (delivered, worker CPU seconds) at the start
        while (count := await succeeded(db)) < total and time.monotonic() < deadline:
            if began is None and count > 0:
                began = (count, sum(cpu.cpu_times()[:4]))
            await asyncio.sleep(0.02)
        finished = time.time()
        done = await succeeded(db)
        cpu_seconds = sum(cpu.cpu_times()[:4]) - (began[1] if began else 0.0)
        cpu_deliveries = done - (began[0] if began else 0)

        # 2. Latency: the worker now idles on LISTEN; one event at a time.
        commits: dict[str, float] = {}
        for _ in range(args.latency_events):
            await asyncio.sleep(args.spacing)
            for event_id, committed in await emit(db, subscriber.id, 1):
                commits[event_id] = committed
        deadline = time.monotonic() + 30
        while await succeeded(db) < total + args.latency_events and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        exit_code = stop_worker(worker)
        arrivals = receiver.stop()

        backlog = [t for event_id, ts in arrivals.items() if event_id not in commits for t in ts]
        first = min(backlog)
        results["throughput"] = {
            "events": total,
            "delivered": done,
            "seconds": round(finished - first, 3),
            "per_second": round(done / (finished - first)),
            "concurrency": args.concurrency,
            # Load-independent: the worker's CPU time per delivery (user + system), and the rate
            # one dedicated core would allow at that cost.
            "cpu_ms_per_delivery": round(cpu_seconds * 1000 / max(1, cpu_deliveries), 3),
            "per_cpu_second": round(cpu_deliveries / cpu_seconds) if cpu_seconds else None,
            "duplicates": sum(len(ts) - 1 for ts in arrivals.values()),
            "worker_exit_code": exit_code,
        }
        latencies = [
            (arrivals[event_id][0] - committed) * 1000
            for event_id, committed in commits.items()
            if event_id in arrivals
        ]
        results["commit_to_receipt_ms"] = {
            "events": len(commits),
            "received": len(latencies),
            "p50": round(statistics.median(latencies), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
        }

        # 3. Feed long-poll wake-up on the app.
        app = Server("events-app", "app.main:create_app", env)
        stack.callback(app.stop)
        app.start()
        await app.wait_ready("/readyz")
        wakeups: list[float] = []
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=app.url(""), timeout=40) as client:
            first_page = await client.get("/v1/events", headers=headers)
            cursor = first_page.json()["next_cursor"]
            for _ in range(args.feed_events):
                poll = asyncio.create_task(
                    client.get("/v1/events", params={"after": cursor, "wait": 30}, headers=headers)
                )
                await asyncio.sleep(args.spacing)  # the poll is waiting by now
                [(_, committed)] = await emit(db, reader.id, 1)
                response = await poll
                arrived = time.time()
                page = response.json()
                assert response.status_code == 200 and page["items"], response.text
                cursor = page["next_cursor"]
                wakeups.append((arrived - committed) * 1000)
        results["feed_wakeup_ms"] = {
            "polls": len(wakeups),
            "p50": round(statistics.median(wakeups), 1),
            "p99": round(percentile(wakeups, 0.99), 1),
            "max": round(max(wakeups), 1),
        }
    return results


def report(results: dict[str, Any]) -> str:
    t = results["throughput"]
    lat = results["commit_to_receipt_ms"]
    feed = results["feed_wakeup_ms"]
    return "\n".join(
        [
            f"worker throughput: {t['per_second']} deliveries/s "
            f"({t['delivered']}/{t['events']} in {t['seconds']} s, one process, "
            f"--concurrency {t['concurrency']}, {t['duplicates']} duplicates, "
            f"exit {t['worker_exit_code']})  target >= 1000/s",
            f"worker CPU: {t['cpu_ms_per_delivery']} ms per delivery "
            f"(= {t['per_cpu_second']} deliveries per CPU-second)",
            f"commit -> receipt: p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms "
            f"({lat['received']}/{lat['events']} events)  target p50 <= 50, p99 <= 500",
            f"feed long-poll wake-up: p50 {feed['p50']} ms, p99 {feed['p99']} ms, "
            f"max {feed['max']} ms ({feed['polls']} polls)  target p99 <= 100",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--events", type=int, default=5000, help="backlog for throughput")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--feed-events", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.02, help="seconds between events")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    print(report(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
