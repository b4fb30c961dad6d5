"""The bench's write scenario: the baseline runs the statements the app runs, and writes what the
app writes (bench/README.md, ``update-post``)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.database import Database
from bench.baseline import UPDATE_POST_STATEMENTS
from bench.baseline import create_app as create_baseline
from bench.scenarios import UPDATE_BODY
from tests.factories import Factory, add_member
from tests.helpers import StatementCounter, consent, open_case

CASES = "/v1/cases"


async def _effects(database: Database, update_id: str) -> list[tuple[Any, ...]]:
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT e.org_id, e.type, e.data - 'update_id' AS data, count(d.id) AS deliveries
            FROM events e LEFT JOIN webhook_deliveries d ON d.event_id = e.id
            WHERE e.subject_id = $1 AND e.data ->> 'update_id' = $1::text
            GROUP BY e.org_id, e.type, e.data ORDER BY e.org_id
            """,
            uuid.UUID(update_id),
        )
    return [tuple(r.values()) for r in rows]


async def test_update_post_baseline_runs_the_apps_statements_and_writes_the_same(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    database_url: str,
    keys_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead = await factory.partner()
    members = [await factory.partner() for _ in range(2)]
    case = await open_case(client, lead)
    for member in members:
        await add_member(
            database, uuid.UUID(case["id"]), member.org.id, ["demographics", "medical"]
        )
        await consent(client, lead, case["id"], member, ["medical"])
        hook = await client.post(
            "/v1/webhooks",
            json={"url": "https://93.184.215.14/aftercare", "event_types": ["*"]},
            headers=member.headers,
        )
        assert hook.status_code == 201, hook.text
    path = f"{CASES}/{case['id']}/updates"

    counter = StatementCounter()
    database.statement_hook = counter
    try:
        by_app = await client.post(path, json=UPDATE_BODY, headers=lead.headers)
    finally:
        database.statement_hook = None
    assert by_app.status_code == 201, by_app.text
    assert counter.statements == [" ".join(s.split()) for s in UPDATE_POST_STATEMENTS]

    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_KEYS_DIR", str(keys_dir))
    monkeypatch.delenv("AFTERCARE_KEK", raising=False)
    baseline = create_baseline()
    baseline.state.database = database  # the test's pool (no lifespan under ASGITransport)
    transport = httpx.ASGITransport(app=baseline)
    async with httpx.AsyncClient(transport=transport, base_url="http://baseline") as bare:
        by_baseline = await bare.post(path, json=UPDATE_BODY, headers=lead.headers)
    assert by_baseline.status_code == 201, by_baseline.text

    ours, theirs = by_app.json(), by_baseline.json()
    volatile = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in ours.items() if k not in volatile} == {
        k: v for k, v in theirs.items() if k not in volatile
    }
    assert by_baseline.headers["location"] == f"{path}/{theirs['id']}"
    assert by_baseline.headers["etag"] == by_app.headers["etag"] == '"1"'
    # The app reads the baseline's update (its sealed summary and details) as it was answered.
    read = await client.get(by_baseline.headers["location"], headers=lead.headers)
    assert read.status_code == 200, read.text
    assert read.json() == theirs
    # The same events to the same members, each with its delivery.
    effects = await _effects(database, ours["id"])
    assert len(effects) == len(members) and all(e[3] == 1 for e in effects)
    assert await _effects(database, theirs["id"]) == effects
