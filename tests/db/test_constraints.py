"""What the database itself refuses, whatever writes to it (migration 0019): a placement ended
without an exit reason (or given one while still active), a follow-up recorded without an
outcome (or given one before it is recorded). The API always writes each pair together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.db.database import Database
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
