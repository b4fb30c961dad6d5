"""Migration 0013: audit rows written with one chain per organisation verify as chain 0 after it.

The test database starts at revision 0010 (not the migrated template). Rows are appended with
the statement the app ran then (one head per organisation), the upgrade adds the chain, and the
old rows go on verifying, the chain continuing where it was on chain 0 and starting afresh on
others. The downgrade refuses while rows outside chain 0 exist.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError

from app.db.database import Database
from app.db.migrations import downgrade, upgrade
from app.db.repositories.audit import GENESIS
from app.domain.audit import AuditTrail, canonical_entry, verify_chains
from tests.conftest import with_database
from tests.helpers import chain_writer

# app/db/repositories/audit.py _APPEND as it was at revision 0010.
OLD_APPEND = """
    WITH head AS (
        INSERT INTO audit_heads AS h (org_id, seq, hash)
        VALUES ($1, 1, sha256($2::bytea || int8send(1) || $3::bytea))
        ON CONFLICT (org_id) DO UPDATE
            SET seq = h.seq + 1, hash = sha256(h.hash || int8send(h.seq + 1) || $3::bytea)
        RETURNING seq, hash
    )
    INSERT INTO audit_log (org_id, seq, hash, occurred_at, client_id, jti, request_id, action,
                           case_ids, categories)
    SELECT $1, head.seq, head.hash, $4, $5, $6, $7, $8, $9, $10 FROM head
"""


@pytest.fixture
async def database_url(server_url: str, admin: asyncpg.Connection) -> AsyncIterator[str]:
    name = f"act_{os.getpid()}_m0013_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(upgrade, url, "0010")
    yield url
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _old_append(conn: asyncpg.Connection, org_id: uuid.UUID, action: str) -> None:
    occurred_at = datetime.now(UTC)
    case_ids, categories = [uuid.uuid4()], ["general"]
    entry = canonical_entry(
        org_id=org_id,
        occurred_at=occurred_at,
        client_id="old-client",
        jti=None,
        request_id="req-old-0001",
        action=action,
        case_ids=case_ids,
        categories=categories,
    )
    await conn.execute(
        OLD_APPEND,
        org_id,
        GENESIS,
        entry,
        occurred_at,
        "old-client",
        None,
        "req-old-0001",
        action,
        case_ids,
        categories,
    )


async def _verify(db: Database) -> tuple[int, int, object]:
    session = db.session(transactional=True)
    try:
        result = await verify_chains(session)
    finally:
        await session.close()
    return result.chains, result.rows, result.first_break


async def _append(db: Database, org_id: uuid.UUID) -> None:
    session = db.session(transactional=False)
    try:
        await AuditTrail(session).record_hub(org_id, "case.read", [], ["general"])
    finally:
        await session.close()


async def test_rows_before_0013_are_chain_0_and_verify(database_url: str) -> None:
    orgs = [uuid.uuid4(), uuid.uuid4()]
    conn = await asyncpg.connect(Database(database_url).dsn)
    try:
        for org in orgs:
            for action in ("case.create", "case.read", "case.update"):
                await _old_append(conn, org, action)
    finally:
        await conn.close()

    await asyncio.to_thread(upgrade, database_url, "head")

    zero, _ = await chain_writer(database_url, chain=0)
    other, chain = await chain_writer(database_url)
    try:
        async with zero.pool.acquire() as c:
            chains = await c.fetch("SELECT org_id, chain, seq FROM audit_log ORDER BY 1, 2, 3")
        assert {(r["chain"], r["seq"]) for r in chains} == {(0, 1), (0, 2), (0, 3)}
        assert await _verify(zero) == (2, 6, None)
        # New rows continue chain 0 where the old ones stopped, and start another chain.
        await _append(zero, orgs[0])
        await _append(other, orgs[0])
        async with zero.pool.acquire() as c:
            heads = {
                (r["chain"], r["seq"])
                for r in await c.fetch(
                    "SELECT chain, seq FROM audit_heads WHERE org_id = $1", orgs[0]
                )
            }
        assert heads == {(0, 4), (chain, 1)}
        assert await _verify(zero) == (3, 8, None)
    finally:
        await zero.close()
        await other.close()

    # Rows outside chain 0 cannot be folded back into one chain per organisation.
    with pytest.raises((CommandError, DBAPIError)) as refused:
        await asyncio.to_thread(downgrade, database_url, "0010")
    assert "outside chain 0" in str(refused.value)
