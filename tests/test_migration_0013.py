"""Migration 0013: audit rows written with one chain per organisation verify as chain 0 after it.

The test database starts at revision 0010 (not the migrated template). Rows are appended with
the statement the app ran then (one head per organisation), the upgrade adds the chain, and the
old rows go on verifying, the chain continuing where it was on chain 0 and starting afresh on
others. The downgrade folds the chains back into one per organisation that the old code verifies.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from app.db.database import Database
from app.db.migrations import downgrade, upgrade
from app.db.repositories.audit import GENESIS
from app.domain.audit import AuditTrail, canonical_entry, chain_hash, verify_chains
from tests.conftest import with_database
from tests.helpers import chain_writer, holding_audit_head

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
        # New rows continue chain 0 where the old ones stopped, and start another chain (one
        # is created only while the existing ones are held).
        async with holding_audit_head(zero, orgs[0]):
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

    # The downgrade folds each organisation's chains into one, by time, re-hashed from genesis.
    await asyncio.to_thread(downgrade, database_url, "0010")
    conn = await asyncpg.connect(Database(database_url).dsn)
    try:
        for org in orgs:
            rows = await conn.fetch("SELECT * FROM audit_log WHERE org_id = $1 ORDER BY seq", org)
            previous = GENESIS
            for number, row in enumerate(rows, start=1):
                assert row["seq"] == number
                previous = chain_hash(previous, number, _entry(row))
                assert bytes(row["hash"]) == previous
            head = await conn.fetchrow("SELECT seq, hash FROM audit_heads WHERE org_id = $1", org)
            assert (head["seq"], bytes(head["hash"])) == (len(rows), previous)
        counts = await conn.fetch(
            "SELECT org_id, count(*) AS n FROM audit_log GROUP BY org_id ORDER BY org_id"
        )
        assert sorted(r["n"] for r in counts) == [3, 5]
        merged = await conn.fetch(
            "SELECT action FROM audit_log WHERE org_id = $1 ORDER BY seq", orgs[0]
        )
        assert [r["action"] for r in merged][:3] == ["case.create", "case.read", "case.update"]
        # And the old append extends the merged chain.
        await _old_append(conn, orgs[0], "case.read")
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, database_url, "head")
    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    try:
        assert await _verify(db) == (2, 9, None)
    finally:
        await db.close()


def _entry(row: asyncpg.Record) -> bytes:
    return canonical_entry(
        org_id=row["org_id"],
        occurred_at=row["occurred_at"],
        client_id=row["client_id"],
        jti=row["jti"],
        request_id=row["request_id"],
        action=row["action"],
        case_ids=row["case_ids"],
        categories=row["categories"],
    )
