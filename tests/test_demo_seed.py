"""`aftercare demo seed`: a bulk fictional data set the API reads like its own."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.db.database import Database
from tests.helpers import StatementCounter


@pytest.fixture
def seed_env(database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """The CLI on the test database with the KEK of the app under test."""
    values = {
        "AFTERCARE_DATABASE_URL": database_url,
        "AFTERCARE_DATA_DIR": str(tmp_path / "data"),
        "AFTERCARE_KEYS_DIR": str(keys_dir),
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield tmp_path / "data"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


async def _bearer(client: httpx.AsyncClient, entry: dict[str, Any]) -> dict[str, str]:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(entry["client_id"], entry["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_seeded_cases_read_through_the_api(
    seed_env: Path, client: httpx.AsyncClient, database: Database
) -> None:
    code, out, err = await asyncio.to_thread(
        run, "demo", "seed", "--cases", "200", "--referrals-per-case", "3", "--batch-size", "64"
    )
    assert code == 0, err
    summary = orjson.loads(out)
    assert summary["partners"] == 20 and summary["cases"] == 200 and summary["referrals"] == 600
    assert summary["events"] >= 600 and summary["care_team_memberships"] > 0
    assert "cases" in err and "analyze" in err  # the progress bar, on stderr
    async with database.pool.acquire() as conn:
        statuses = {r[0] for r in await conn.fetch("SELECT DISTINCT status FROM referrals")}
        assert statuses == {
            "pending", "accepted", "in_progress", "completed", "declined", "withdrawn",
            "expired", "failed",
        }  # fmt: skip
        assert await conn.fetchval("SELECT count(*) FROM case_keys") == 200
        assert await conn.fetchval("SELECT count(DISTINCT testimony_status) FROM legal_records") > 1
        # The busiest lead, and a partner with pending referrals in its inbox.
        lead = await conn.fetchval(
            "SELECT lead_org_id FROM cases GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        receiver = await conn.fetchval(
            "SELECT to_org_id FROM referrals WHERE status = 'pending' "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
    partners = {
        e["org_id"]: e
        for e in orjson.loads((seed_env / "demo-credentials.json").read_bytes()).values()
    }
    assert len(partners) == 20

    # The lead reads its cases, identity decrypted with each case's own data key.
    headers = await _bearer(client, partners[str(lead)])
    listed = await client.get("/v1/cases", params={"limit": 20}, headers=headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert items and all(i["role"] == "lead" or i["role"] == "care_team" for i in items)
    led = [i for i in items if i["role"] == "lead"]
    assert led and all(i["survivor"]["given_name"] for i in led)
    one = await client.get(f"/v1/cases/{led[0]['id']}", headers=headers)
    assert one.status_code == 200, one.text
    assert one.json()["survivor"]["family_name"].startswith("Demo-")
    assert one.json()["external_ref"].startswith("DEMO-")

    # The receiver's inbox shows the seeded referrals, pending ones with their preview; the
    # same statements for the page whatever its size.
    headers = await _bearer(client, partners[str(receiver)])
    counter = StatementCounter()
    database.statement_hook = counter
    inbox = await client.get(
        "/v1/referrals", params={"direction": "incoming", "limit": 50}, headers=headers
    )
    database.statement_hook = None
    assert inbox.status_code == 200, inbox.text
    # token, the page, one audit row for the previews and one for the other referrals shown
    assert counter.count == 4, counter.statements
    referrals = inbox.json()["items"]
    assert referrals and any(r["status"] == "pending" for r in referrals)
    assert sum("FROM referrals r" in s for s in counter.statements) == 1
    # The change feed shows the seeded events once every transaction older than the seed's has
    # ended (its visibility horizon); on a shared server another one may still run for a while.
    for _ in range(150):
        feed = await client.get("/v1/events", params={"limit": 10}, headers=headers)
        assert feed.status_code == 200, feed.text
        if feed.json()["items"]:
            break
        await asyncio.sleep(0.2)
    assert {e["type"] for e in feed.json()["items"]} <= {
        "referral.created", "referral.accepted", "referral.declined", "referral.started",
        "referral.completed", "referral.failed", "referral.withdrawn", "referral.expired",
    }  # fmt: skip
    assert feed.json()["items"]

    # A second run refuses, names why and writes nothing.
    code, out, err = await asyncio.to_thread(run, "demo", "seed", "--cases", "5")
    assert code == 1 and out == ""
    assert "already holds 200 cases" in err
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases") == 200
