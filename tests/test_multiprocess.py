"""Several processes on one PostgreSQL: `aftercare serve --workers 2` (two server processes on
one port, one process group) and two `aftercare worker` processes, driven at once with httpx.

- a token revoked through /oauth/revoke is refused by both server processes at once, although
  both had verified (and memoised) it;
- one Idempotency-Key sent to both at once creates one case;
- webhook pings made through both reach the receiver once each across the two workers;
- /metrics answers for every process (the workers write into the servers' directory);
- SIGTERM stops everything with exit 0, and `aftercare audit verify` finds every chain intact.

Which server process answered is read from the kernel, not from the app: the connection the
response came on belongs to exactly one of them (psutil), so no test-only header is needed.
Marked ``multiprocess`` (it starts processes; still part of ``make test``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import orjson
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.db.database import Database
from app.domain.keys import generate_key
from bench.receiver import Receiver
from tests.factories import Factory, case_body
from tests.test_multiprocess_keys import _free_port, _wait_until_serving
from tests.worker.conftest import rows

pytestmark = pytest.mark.multiprocess
ROOT = Path(__file__).resolve().parents[1]
ISSUER = "http://aftercare.test"
ME = "/v1/organizations/me"
PINGS = 20


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    keys_dir = tmp_path / "keys"
    generate_key(keys_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        {
            "AFTERCARE_DATABASE_URL": database_url,
            "AFTERCARE_DATA_DIR": str(tmp_path),
            "AFTERCARE_KEYS_DIR": str(keys_dir),
            "AFTERCARE_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AFTERCARE_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AFTERCARE_ISSUER": ISSUER,
            "AFTERCARE_LOG_LEVEL": "WARNING",
            # a pinned client (Cluster.pin) keeps its connection, and so its server process
            "AFTERCARE_KEEPALIVE_MAX_REQUESTS": "1000000",
            "AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "AFTERCARE_WEBHOOK_TIMEOUT_SECONDS": "10",  # a loaded machine must not time one out
            "AFTERCARE_WEBHOOK_LEASE_SECONDS": "30",
            "AFTERCARE_WEBHOOK_RETRY_SCHEDULE": "1,1",
            # the servers' metrics directory, given to the workers too
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
    )
    return env


def _start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
            [sys.executable, "-m", "app", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so cleanup reaches its children
        )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


class Cluster:
    def __init__(
        self, base: str, serve: subprocess.Popen[bytes], workers: list[subprocess.Popen[bytes]]
    ) -> None:
        self.base = base
        self.serve = serve
        self.workers = workers

    def server_processes(self) -> list[psutil.Process]:
        """The serving children of `serve` (not uvicorn's parent, nor its resource tracker)."""
        port = int(self.base.rsplit(":", 1)[1])
        found = []
        for child in psutil.Process(self.serve.pid).children(recursive=True):
            if any(c.laddr and c.laddr.port == port for c in child.net_connections("tcp")):
                found.append(child)
        return found

    def served_by(self, response: httpx.Response) -> int:
        """The pid of the server process holding the connection ``response`` came on."""
        stream = response.extensions["network_stream"]
        _, local_port = stream.get_extra_info("client_addr")
        for proc in self.server_processes():
            for conn in proc.net_connections("tcp"):
                if conn.raddr and conn.raddr.port == local_port:
                    pid: int = proc.pid
                    return pid
        raise AssertionError("no server process holds this connection")

    async def pin(self) -> dict[int, httpx.AsyncClient]:
        """One keep-alive client per server process: connect many at once until each process
        has accepted one (for up to 30 s: on a loaded machine a process can be up before its
        event loop accepts anything, and then the other one accepts every connection)."""
        pinned: dict[int, httpx.AsyncClient] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            clients = [
                httpx.AsyncClient(
                    base_url=self.base, timeout=10, limits=httpx.Limits(max_connections=1)
                )
                for _ in range(6)
            ]
            answers = await asyncio.gather(*(c.get("/healthz") for c in clients))
            for client, answer in zip(clients, answers, strict=True):
                pid = self.served_by(answer)
                if pid not in pinned:
                    pinned[pid] = client
                else:
                    await client.aclose()
            if len(pinned) == 2:
                return pinned
            await asyncio.sleep(0.2)
        raise AssertionError("one server process accepted every connection")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def cluster(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Cluster]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    serve = _start(env, log, "serve", "--port", str(port), "--workers", "2", "--no-worker")
    workers = [
        _start(env, tmp_path / f"worker{i}.log", "worker", "--concurrency", "8") for i in range(2)
    ]
    try:
        await asyncio.to_thread(_wait_until_serving, serve, base, log)
        running = Cluster(base, serve, workers)
        deadline = time.monotonic() + 30
        while len(running.server_processes()) < 2:  # both children listening
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            await asyncio.sleep(0.2)
        yield running
    finally:
        for proc in [serve, *workers]:
            _stop(proc)


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    minted = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert minted.status_code == 200, minted.text
    return {"Authorization": f"Bearer {minted.json()['access_token']}"}


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_two_servers_and_two_workers_on_one_database(
    factory: Factory,
    database: Database,
    cluster: Cluster,
    receiver: Receiver,
    env: dict[str, str],
) -> None:
    partner = await factory.partner()
    auth = (partner.client.client_id, partner.secret)
    pinned = await cluster.pin()
    pids = sorted(pinned)
    try:
        # -- revocation: seen by every process. Each remembers the token as in order (the token
        # memo) until PostgreSQL's notification of the revocation reaches it: at once in the
        # revoking process, within milliseconds in the other (polled for up to a second).
        headers = await _token(pinned[pids[0]], *auth)
        for pid in pids:  # verified, and memoised, by both
            answer = await pinned[pid].get(ME, headers=headers)
            assert answer.status_code == 200, answer.text
            assert cluster.served_by(answer) == pid
        revoked = await pinned[pids[1]].post(
            "/oauth/revoke", data={"token": headers["Authorization"][7:]}, auth=auth
        )
        assert revoked.status_code == 200, revoked.text
        assert (await pinned[pids[1]].get(ME, headers=headers)).status_code == 401
        for _ in range(50):
            answers = await asyncio.gather(*(pinned[pid].get(ME, headers=headers) for pid in pids))
            if [a.status_code for a in answers] == [401, 401]:
                break
            await asyncio.sleep(0.02)
        assert [a.status_code for a in answers] == [401, 401]
        assert sorted(cluster.served_by(a) for a in answers) == pids

        # -- one Idempotency-Key sent to both processes at once: one case
        headers = await _token(pinned[pids[0]], *auth)
        key = {**headers, "Idempotency-Key": str(uuid4())}
        body = case_body()
        created: list[httpx.Response] = []
        for _ in range(3):
            created += await asyncio.gather(
                *(pinned[pid].post("/v1/cases", json=body, headers=key) for pid in pids)
            )
        assert {cluster.served_by(a) for a in created} == set(pids)
        first = [
            a
            for a in created
            if a.status_code == 201 and a.headers.get("idempotent-replayed") != "true"
        ]
        assert len(first) == 1, [(a.status_code, a.text) for a in created]
        for other in created:
            if other is first[0]:
                continue
            if other.status_code == 201:
                assert other.headers["idempotent-replayed"] == "true"
                assert other.json()["id"] == first[0].json()["id"]
            else:
                assert other.status_code == 409, other.text
                assert "idempotency_in_flight" in other.text
        cases = await rows(database, "SELECT count(*) AS n FROM cases")
        assert cases == [{"n": 1}]

        # -- webhooks: pings through both processes, each delivered once across both workers
        hook = await pinned[pids[0]].post(
            "/v1/webhooks", json={"url": receiver.url(), "event_types": ["*"]}, headers=headers
        )
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["id"]
        pings: list[httpx.Response] = []
        for _ in range(PINGS // 2):
            pings += await asyncio.gather(
                *(pinned[pid].post(f"/v1/webhooks/{hook_id}/test", headers=headers) for pid in pids)
            )
        assert [p.status_code for p in pings] == [202] * PINGS
        assert {cluster.served_by(p) for p in pings} == set(pids)
    finally:
        for client in pinned.values():
            await client.aclose()

    assert await receiver.wait_for(PINGS, timeout=30), len(receiver.requests)
    deadline = time.monotonic() + 10
    while True:
        states = await rows(
            database, "SELECT status, attempts FROM webhook_deliveries ORDER BY created_at"
        )
        if all(s["status"] == "succeeded" for s in states) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert states == [{"status": "succeeded", "attempts": 1}] * PINGS
    await asyncio.sleep(0.5)  # anything delivered twice would have arrived by now
    ids = [r.webhook_id for r in receiver.requests]
    events = await rows(database, "SELECT id FROM events WHERE type = 'webhook.test'")
    assert sorted(ids) == sorted(str(e["id"]) for e in events)
    assert len(set(ids)) == PINGS

    # -- /metrics answers for all: both servers' requests, the workers' attempts
    async with httpx.AsyncClient(base_url=cluster.base, timeout=10) as http:
        await asyncio.sleep(1.2)  # each server process writes its pool gauges every second
        metrics = _samples((await http.get("/metrics")).text)
    delivered = [
        v
        for n, labels, v in metrics
        if n == "aftercare_webhook_attempts_total" and labels["outcome"] == "delivered"
    ]
    assert delivered == [PINGS]
    pings_counted = [
        v
        for n, labels, v in metrics
        if n == "aftercare_http_requests_total"
        and labels["route"] == "/v1/webhooks/{webhook_id}/test"
    ]
    assert pings_counted == [PINGS]
    pool_pids = {labels["pid"] for n, labels, _ in metrics if n == "aftercare_db_pool_connections"}
    assert pool_pids == {str(pid) for pid in pids}

    # -- SIGTERM: everything stops cleanly; the audit chains are intact
    assert _stop(cluster.serve) == 0
    assert [_stop(worker) for worker in cluster.workers] == [0, 0]
    verify = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "audit",
        "verify",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await verify.communicate()
    assert verify.returncode == 0, err.decode()
    assert orjson.loads(out)["ok"] is True
