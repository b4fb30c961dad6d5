"""Key retirement reaches every running process: two real `aftercare serve` processes share a key
directory and a database; a key retired by the CLI stops verifying on both within 5 s, although
both had already verified (and memoised) a token it signed, and neither is sent a JWKS request."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.domain.keys import generate_key
from tests.factories import Factory

ROOT = Path(__file__).resolve().parents[1]
ME = "/v1/organizations/me"
ISSUER = "http://aftercare.test"
BOUND_SECONDS = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_serving(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def server_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    keys_dir = tmp_path / "keys"
    generate_key(keys_dir)  # before the servers start, so they do not race to create one
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        {
            "AFTERCARE_DATABASE_URL": database_url,
            "AFTERCARE_DATA_DIR": str(tmp_path),
            "AFTERCARE_KEYS_DIR": str(keys_dir),
            "AFTERCARE_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AFTERCARE_ISSUER": ISSUER,
            "AFTERCARE_LOG_LEVEL": "WARNING",
            "AFTERCARE_KEEPALIVE_MAX_REQUESTS": "3",  # (test_serve_renews_connections)
        }
    )
    return env


@pytest.fixture
def servers(server_env: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    procs: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    logs: list[Path] = []
    try:
        for i in range(2):
            port = _free_port()
            log = tmp_path / f"server{i}.log"
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
                        [sys.executable, "-m", "app", "serve", "--port", str(port)],
                        cwd=ROOT,
                        env=server_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            bases.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        for proc, base, log in zip(procs, bases, logs, strict=True):
            _wait_until_serving(proc, base, log)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, object]:
    for name, value in env.items():
        if name.startswith("AFTERCARE_"):
            monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.stderr
    out: dict[str, object] = orjson.loads(result.stdout)
    return out


async def test_retired_kid_stops_verifying_on_every_process_within_5s(
    factory: Factory,
    servers: list[str],
    server_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    partner = await factory.partner()
    first, second = servers
    async with httpx.AsyncClient(timeout=10) as http:
        minted = await http.post(
            first + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
        assert minted.status_code == 200, minted.text
        old = {"Authorization": f"Bearer {minted.json()['access_token']}"}
        for base in servers:  # verified (and memoised) by both processes
            assert (await http.get(base + ME, headers=old)).status_code == 200

        old_kid = _cli(server_env, monkeypatch, "keys", "list")["active_kid"]
        _cli(server_env, monkeypatch, "keys", "rotate")
        retired = _cli(server_env, monkeypatch, "keys", "retire", "--kid", str(old_kid))
        assert retired == {"retired_kids": [old_kid]}
        began = time.monotonic()

        refused: set[str] = set()
        while time.monotonic() - began < BOUND_SECONDS + 1 and len(refused) < len(servers):
            for base in servers:
                if base in refused:
                    continue
                response = await http.get(base + ME, headers=old)
                if response.status_code == 401:
                    assert response.headers["www-authenticate"].startswith(
                        'Bearer error="invalid_token"'
                    )
                    refused.add(base)
                else:
                    assert response.status_code == 200, response.text
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - began
        assert refused == set(servers), f"still accepted after {elapsed:.1f}s"
        assert elapsed < BOUND_SECONDS

        # Both sign with the new key now, and accept each other's tokens.
        fresh = await http.post(
            second + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
        headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
        for base in servers:
            assert (await http.get(base + ME, headers=headers)).status_code == 200


async def test_serve_renews_connections(servers: list[str]) -> None:
    """`aftercare serve` closes a connection after AFTERCARE_KEEPALIVE_MAX_REQUESTS requests
    (docs/operations.md "Running several processes"); the client goes on on a new one."""
    async with httpx.AsyncClient(base_url=servers[0], timeout=10) as http:
        answers = [await http.get("/healthz") for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert [a.headers.get("connection") for a in answers] == [None, None, "close", None]
