"""A repeated case read appends its audit row in the statement that reads the case
(app.domain.facts.AccessMemo): one round trip, and the audit log says what it said before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.db.database import Database
from app.domain.audit import verify_chains
from app.domain.facts import AccessMemo
from tests.factories import Factory, Partner, add_member
from tests.helpers import StatementCounter, assert_problem, consent, iso, open_case

CASES = "/v1/cases"


async def reads(database: Database, org_id: uuid.UUID, case_id: str) -> list[list[str]]:
    """The categories of the organisation's ``case.read`` audit rows of the case, oldest first."""
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT categories FROM audit_log WHERE org_id = $1 AND action = 'case.read'"
            " AND $2 = ANY(case_ids) ORDER BY occurred_at, chain, seq",
            org_id,
            uuid.UUID(case_id),
        )
    return [list(r["categories"]) for r in rows]


async def chains_verify(database: Database) -> None:
    session = database.session(transactional=False)
    try:
        result = await verify_chains(session)
    finally:
        await session.close()
    assert result.ok, result.first_break


def memo(app: FastAPI) -> AccessMemo:
    found: AccessMemo = app.state.ctx.access_memo
    return found


async def test_a_repeated_read_is_one_statement_and_audited_alike(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    case = await open_case(client, lead)
    url = f"{CASES}/{case['id']}"
    first = await client.get(url, headers=lead.headers)
    counter = StatementCounter()
    database.statement_hook = counter
    second = await client.get(url, headers=lead.headers)
    database.statement_hook = None
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    # token check; the case, its policy facts and its audit row in one statement
    assert counter.count == 2, counter.statements
    assert "INSERT INTO audit_log" in counter.statements[1]
    audited = await reads(database, lead.org.id, case["id"])
    assert audited == [sorted(first.json()["visible_categories"])] * 2
    await chains_verify(database)


async def test_changed_facts_are_decided_again_before_the_row_is_written(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> None:
    """A consent revoked after the decision was remembered: the read's statement sees other
    facts and appends nothing; the row written is the one for what the policy says now."""
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical", "identity"])
    granted = await consent(client, lead, case["id"], member, ["medical", "identity"])
    url = f"{CASES}/{case['id']}"
    for _ in range(2):
        body = (await client.get(url, headers=member.headers)).json()
        assert body["visible_categories"] == ["demographics", "identity", "medical"]
    revoked = await client.post(
        f"{url}/consents/{granted['id']}/revoke",
        json={"reason": "survivor withdrew"},
        headers=lead.headers,
    )
    assert revoked.status_code == 200
    counter = StatementCounter()
    database.statement_hook = counter
    body = (await client.get(url, headers=member.headers)).json()
    database.statement_hook = None
    assert body["visible_categories"] == ["demographics"]
    assert "given_name" not in body["survivor"]
    # token; the read whose append did not happen; the append of the new decision
    assert counter.count == 3, counter.statements
    assert await reads(database, member.org.id, case["id"]) == [
        ["demographics", "identity", "medical"],
        ["demographics", "identity", "medical"],
        ["demographics"],
    ]
    # ... and that decision is the one remembered now.
    counter.reset()
    database.statement_hook = counter
    assert (await client.get(url, headers=member.headers)).status_code == 200
    database.statement_hook = None
    assert counter.count == 2, counter.statements
    assert (await reads(database, member.org.id, case["id"]))[-1] == ["demographics"]
    await chains_verify(database)


async def test_a_member_who_left_gets_404_and_no_audit_row(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database, app: FastAPI
) -> None:
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    url = f"{CASES}/{case['id']}"
    assert (await client.get(url, headers=member.headers)).status_code == 200
    assert len(memo(app)) == 1
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE case_members SET left_at = now() WHERE case_id = $1 AND org_id = $2",
            uuid.UUID(case["id"]),
            member.org.id,
        )
    gone = await client.get(url, headers=member.headers)
    missing = await client.get(f"{CASES}/{uuid.uuid4()}", headers=member.headers)
    assert_problem(gone, 404, "not_found")
    assert gone.json() == missing.json()
    assert await reads(database, member.org.id, case["id"]) == [["demographics"]]
    assert len(memo(app)) == 0
    await chains_verify(database)


async def test_a_consent_ending_ends_the_remembered_decision(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> None:
    """The facts stay the same, but the time passes a consent's expiry: the remembered
    decision is not used from then on."""
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    ends = datetime.now(UTC) + timedelta(seconds=1.5)
    await consent(client, lead, case["id"], member, ["identity"], expires_at=iso(ends))
    url = f"{CASES}/{case['id']}"
    before = (await client.get(url, headers=member.headers)).json()
    assert before["visible_categories"] == ["demographics", "identity"]
    await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.05)
    after = (await client.get(url, headers=member.headers)).json()
    assert after["visible_categories"] == ["demographics"]
    assert await reads(database, member.org.id, case["id"]) == [
        ["demographics", "identity"],
        ["demographics"],
    ]


async def test_each_token_scope_set_has_its_own_decision(
    client: httpx.AsyncClient, lead: Partner, factory: Factory, database: Database
) -> None:
    case = await open_case(client, lead)
    url = f"{CASES}/{case['id']}"
    narrow = {"Authorization": f"Bearer {factory.token(lead.client, 'cases:read')}"}
    wide: dict[str, Any] = (await client.get(url, headers=lead.headers)).json()
    for _ in range(2):
        body = (await client.get(url, headers=narrow)).json()
        assert body["visible_categories"] == ["demographics", "identity", "exploitation", "general"]
    audited = await reads(database, lead.org.id, case["id"])
    assert audited[0] == sorted(wide["visible_categories"])
    assert audited[1] == audited[2] == ["demographics", "exploitation", "general", "identity"]


async def test_off_every_read_decides_then_appends(
    client: httpx.AsyncClient, lead: Partner, database: Database, app: FastAPI
) -> None:
    app.state.ctx.access_memo = AccessMemo(0)
    case = await open_case(client, lead)
    url = f"{CASES}/{case['id']}"
    counter = StatementCounter()
    for _ in range(2):
        counter.reset()
        database.statement_hook = counter
        assert (await client.get(url, headers=lead.headers)).status_code == 200
        database.statement_hook = None
        assert counter.count == 3, counter.statements
