"""What the database itself refuses, whatever writes to it (migration 0019): a placement ended
without an exit reason (or given one while still active), a follow-up recorded without an
outcome (or given one before it is recorded). The API always writes each pair together; a
database that holds such a row already is not migrated until it is corrected."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.db.database import Database, asyncpg_dsn
from app.db.migrations import downgrade, upgrade
from tests.factories import Partner
from tests.helpers import iso, open_case

NOW = datetime.now(UTC)


async def test_each_pair_is_written_together_or_not_at_all(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    case = await open_case(client, lead, external_ref="CHK-1")
    url = f"/v1/cases/{case['id']}"
    placement = await client.post(
        f"{url}/placements",
        json={
            "org_id": str(lead.org.id),
            "setting": "ngo_shelter",
            "started_at": iso(NOW - timedelta(days=2)),
        },
        headers=lead.headers,
    )
    assert placement.status_code == 201, placement.text
    follow_up = await client.post(
        f"{url}/follow-ups",
        json={"due_on": (NOW - timedelta(days=1)).date().isoformat()},
        headers=lead.headers,
    )
    assert follow_up.status_code == 201, follow_up.text
    placement_id, follow_up_id = placement.json()["id"], follow_up.json()["id"]
    refused = [
        ("UPDATE placements SET ended_at = now() WHERE id = $1", placement_id),
        ("UPDATE placements SET exit_reason = 'other' WHERE id = $1", placement_id),
        ("UPDATE follow_ups SET recorded_at = now() WHERE id = $1", follow_up_id),
        ("UPDATE follow_ups SET outcome = 'stable' WHERE id = $1", follow_up_id),
    ]
    async with database.pool.acquire() as conn:
        for statement, row_id in refused:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(statement, row_id)
    ended = await client.post(
        f"{url}/placements/{placement_id}/end",
        json={"ended_at": iso(NOW - timedelta(hours=2)), "exit_reason": "independent_living"},
        headers=lead.headers,
    )
    assert ended.status_code == 200, ended.text
    recorded = await client.post(
        f"{url}/follow-ups/{follow_up_id}/record",
        json={"contacted_at": iso(NOW - timedelta(hours=1)), "outcome": "stable"},
        headers=lead.headers,
    )
    assert recorded.status_code == 200, recorded.text
    async with database.pool.acquire() as conn:
        for statement in (
            "UPDATE placements SET exit_reason = NULL WHERE id = $1",
            "UPDATE follow_ups SET outcome = NULL WHERE id = $1",
        ):
            row_id = placement_id if "placements" in statement else follow_up_id
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(statement, row_id)


async def test_a_row_that_breaks_the_rule_stops_the_migration_with_nothing_changed(
    client: httpx.AsyncClient, database: Database, database_url: str, lead: Partner
) -> None:
    case = await open_case(client, lead, external_ref="CHK-2")
    follow_up = await client.post(
        f"/v1/cases/{case['id']}/follow-ups",
        json={"due_on": (NOW - timedelta(days=1)).date().isoformat()},
        headers=lead.headers,
    )
    assert follow_up.status_code == 201, follow_up.text
    await database.close()  # (the migrations take their own connections)
    await asyncio.to_thread(downgrade, database_url, "0018")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE follow_ups SET recorded_at = now() WHERE id = $1", follow_up.json()["id"]
        )
        with pytest.raises(RuntimeError, match="1 row\\(s\\) of follow_ups"):
            await asyncio.to_thread(upgrade, database_url)
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0018"
        ours = "FROM pg_constraint WHERE conname LIKE 'ck_%_with_%'"
        constraints = f"SELECT count(*) {ours}"
        assert await conn.fetchval(constraints) == 0
        await conn.execute("UPDATE follow_ups SET outcome = 'stable'")
        await asyncio.to_thread(upgrade, database_url, "0019")
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0019"
        assert await conn.fetchval(f"SELECT bool_and(convalidated) {ours}") is True
        assert await conn.fetchval(constraints) == 2
    finally:
        await conn.close()
